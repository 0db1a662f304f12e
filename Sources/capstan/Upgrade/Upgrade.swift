import ArgumentParser
import Foundation
import Inventory
import PKI
import Workflows

struct UpgradeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Planned, skew-checked upgrades with a rollback point.",
        subcommands: [UpgradePlanCommand.self, UpgradeApplyCommand.self, UpgradeRollbackCommand.self]
    )
}

/// `--to` / `--etcd` and the inventory they apply to.
struct UpgradeTargetOptions: ParsableArguments {
    @OptionGroup var inventoryOption: InventoryOption
    @Option(name: .long, help: "Target Kubernetes version, e.g. v1.31.4.") var to: String
    @Option(name: .long, help: "Target etcd version (default: the inventory's etcd.version, else the one the target pairs with).") var etcd: String?

    func targets(_ inventory: Inventory) throws -> (kubernetes: SemanticVersion, etcd: SemanticVersion?) {
        guard let k = SemanticVersion(parsing: to) else { throw ValidationError("--to \(to) is not a version like v1.31.4") }
        if let etcd {
            guard let e = SemanticVersion(parsing: etcd) else { throw ValidationError("--etcd \(etcd) is not a version like 3.5.1") }
            return (k, e)
        }
        return (k, inventory.etcd.version ?? SupportedVersions.etcd(for: k))
    }
}

/// How `upgrade plan` and `upgrade apply` show a self-managed cluster's assessment.
extension UpgradeAssessment {
    struct JSON: Encodable {
        var ok: Bool
        var refusal: String?
        var next: String?
        var kubernetesHops: [String]
        var etcdTarget: String?
        var etcdLeader: String?
        var checks: [UpgradeChecks.Result]
        var steps: [UpgradeStep]
        var notes: [String]
        var verdict: String?
    }

    var json: JSON {
        JSON(ok: !blocked, refusal: refusal?.reason, next: refusal?.next, kubernetesHops: plan?.kubernetesHops.map(\.tag) ?? [],
             etcdTarget: plan?.etcdTarget?.description, etcdLeader: survey.leader, checks: checks, steps: plan?.steps ?? [], notes: plan?.notes ?? [])
    }

    /// The last line of `upgrade plan`: what stops the upgrade, or that it is ready and the command
    /// that runs it.
    func verdict(_ target: UpgradeTargetOptions) -> String {
        let failing = checks.filter { !$0.ok }.map(\.name)
        let arguments = "-i \(target.inventoryOption.inventory) --to \(target.to)\(target.etcd.map { " --etcd \($0)" } ?? "")"
        if let refusal { return "verdict: refused: \(refusal.reason)" }
        if !failing.isEmpty {
            return "verdict: blocked by \(failing.count) failing check\(failing.count == 1 ? "" : "s") (\(failing.joined(separator: ", "))); fix \(failing.count == 1 ? "it" : "them"), then run `capstan upgrade plan \(arguments)` again"
        }
        guard let plan, !plan.steps.isEmpty else { return "verdict: nothing to upgrade" }
        return "verdict: ready, \(plan.steps.count) step\(plan.steps.count == 1 ? "" : "s"); next: `capstan upgrade apply \(arguments)` (asks first; --dry-run shows the steps)"
    }

    func printText() {
        for host in inventory.hosts {
            guard let v = survey.surveys[host.name]?.versions else { print("[\(host.name)] unreachable"); continue }
            var parts = [v.etcd.map { "etcd \($0)" } ?? "no etcd"]
            parts += KubeComponent.allCases.compactMap { c in v.components[c].map { "\(c.rawValue) \($0.tag)" } }
            print("[\(host.name)] " + parts.joined(separator: ", "))
        }
        for c in checks { print("check \(c.ok ? "ok  " : "FAIL") \(c.name): \(c.detail)") }
        if let refusal { print(refusal.description); return }
        guard let plan else { return }
        for note in plan.notes { print("note: \(note)") }
        if plan.steps.isEmpty { print("nothing to upgrade: every host runs the target versions"); return }
        for (i, step) in plan.steps.enumerated() {
            print("\(i + 1). [\(step.hosts.joined(separator: ", "))] \(step.stage.rawValue) \(step.from) → \(step.to)")
            for action in step.actions { print("     - \(action)") }
        }
    }
}

func printUpgradeJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

struct UpgradePlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan", abstract: "Compute and check the upgrade path.", discussion: HelpExamples.discussion("upgrade plan"))
    @OptionGroup var target: UpgradeTargetOptions
    @OptionGroup var outputOption: OutputOption

    func run() async throws {
        let (inventory, _) = try target.inventoryOption.load()
        if !inventory.isSelfManaged { return try await planManaged(inventory) }
        let (k, e) = try target.targets(inventory)
        let assessment = try await exitOnFailure(prefix: "Error: ") {
            try await LiveContext.run(inventory: inventory, mode: .plan, output: CollectingOutput()) { context in
                try await UpgradeAssessment.make(inventory, kubernetes: k, etcd: e, in: context)
            }
        }
        if outputOption.output == .json {
            var json = assessment.json
            json.verdict = assessment.verdict(target)
            try printUpgradeJSON(json)
        } else {
            assessment.printText()
            print(assessment.verdict(target))
        }
        if assessment.blocked { throw ExitCode(1) }
    }
}
