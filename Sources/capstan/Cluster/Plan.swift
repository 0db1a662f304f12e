import ArgumentParser
import Foundation
import Inventory
import Planner

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what would change, host by host (reads hosts, changes nothing).",
        discussion: "This release computes the plan from the inventory alone: the phases each host would run and who owns each area (Capstan or the provider). Reading host facts comes later."
    )

    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption
    @OptionGroup var files: FileCheckOption

    func run() async throws {
        let (inv, _) = try inventory.load(checkFiles: !files.noFileChecks)
        let split = ResponsibilitySplit(inv)
        let phases = PhaseSelection(inv)
        switch output.output {
        case .json: print(try PlanDocument(inv, split, phases).json())
        case .text: print(PlanText.render(inv, split, phases))
        }
    }
}

/// The `--output json` shape of `capstan plan`.
struct PlanDocument: Encodable {
    struct Area: Encodable { var area: String; var owner: String; var reason: String }
    struct Host: Encodable { var name: String; var address: String; var roles: [String]; var phases: [String] }
    var cluster: String
    var mode: String
    var provider: String?
    var kubernetesVersion: String
    var etcdVersion: String?
    var offline: Bool
    var responsibilities: [Area]
    var hosts: [Host]
    var clusterPhases: [String]

    init(_ inv: Inventory, _ split: ResponsibilitySplit, _ phases: PhaseSelection) {
        cluster = inv.name
        mode = inv.controlPlane.mode.rawValue
        provider = inv.controlPlane.managed?.provider.rawValue
        kubernetesVersion = inv.kubernetesVersion.tag
        etcdVersion = inv.isSelfManaged ? inv.etcd.version?.description : nil
        offline = true
        responsibilities = split.entries.map { Area(area: $0.area.rawValue, owner: $0.owner.rawValue, reason: $0.reason) }
        hosts = phases.hosts.map { Host(name: $0.host, address: $0.address, roles: $0.roles, phases: $0.phases.map(\.rawValue)) }
        clusterPhases = phases.clusterPhases
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

enum PlanText {
    static func render(_ inv: Inventory, _ split: ResponsibilitySplit, _ phases: PhaseSelection) -> String {
        var lines: [String] = []
        let mode = inv.isSelfManaged
            ? "self-managed"
            : "managed by \(inv.controlPlane.managed?.provider.displayName ?? ManagedProvider.other.displayName)"
        lines.append("Cluster \(inv.name): Kubernetes \(inv.kubernetesVersion.tag), \(mode)"
            + (inv.isSelfManaged ? ", etcd \(inv.etcd.version?.description ?? "?") (\(inv.etcd.topology.rawValue))" : ""))
        lines.append("Offline plan: from the inventory only; hosts are not contacted yet.")
        lines.append("")
        lines.append("Responsibilities:")
        let areaWidth = Area.allCases.map(\.rawValue.count).max() ?? 0
        for e in split.entries {
            let area = e.area.rawValue.padding(toLength: areaWidth + 2, withPad: " ", startingAt: 0)
            let owner = e.owner.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
            lines.append("  \(area)\(owner)\(e.reason)")
        }
        lines.append("")
        lines.append("Phases per host:")
        let nameWidth = phases.hosts.map { $0.host.count + $0.address.count + 3 }.max() ?? 0
        for h in phases.hosts {
            let label = "\(h.host) (\(h.address))".padding(toLength: nameWidth + 2, withPad: " ", startingAt: 0)
            lines.append("  \(label)[\(h.roles.joined(separator: ", "))]  \(h.phases.map(\.rawValue).joined(separator: " → "))")
        }
        lines.append("")
        lines.append("Once per cluster: \(phases.clusterPhases.joined(separator: ", "))")
        return lines.joined(separator: "\n")
    }
}
