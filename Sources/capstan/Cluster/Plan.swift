import ArgumentParser
import Foundation
import Inventory
import PKI
import Planner
import Workflows

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what would change, host by host (reads hosts, changes nothing).",
        discussion: HelpExamples.discussion("plan", """
        First the offline part, from the inventory and the local state directory: the phases each host would run, who \
        owns each area (Capstan or the provider) and, for a self-managed cluster, which certificates would be created \
        or re-issued and why. Then the live part: Capstan reads every host (facts, etcd members, files, units) and \
        lists the actions `apply` would take, with diffs, for etcd and the Kubernetes phases. A host that does not \
        answer is named with the reason and the live part is left out. `--offline` skips the hosts.
        Exit status: 0 the plan is complete; 1 a host did not answer (the offline part is still printed), the PKI \
        state cannot be read, or the live plan failed (artifact source, etcd health); 2 the hosts belong to another \
        cluster than the state directory. With --detailed-exitcode, as Terraform users expect: 0 nothing to do, \
        2 changes planned (live actions, or with --offline the PKI to create or re-issue), 1 any error above \
        (a refusal then exits 1 too).
        """)
    )

    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption
    @OptionGroup var files: FileCheckOption
    @Flag(name: .long, help: "Plan from the inventory and state directory only; do not contact the hosts.")
    var offline = false
    @Flag(name: .customLong("detailed-exitcode"), help: "Exit 0 when nothing would change, 2 when something would, 1 on any error.")
    var detailedExitcode = false

    func run() async throws {
        let (inv, _) = try inventory.load(checkFiles: !files.noFileChecks)
        let split = ResponsibilitySplit(inv)
        let phases = ClusterPhases.layout(try LiveContext.phases(inv).all(), hosts: inv.hosts.map(\.name))
        let pki = inv.isSelfManaged ? PKIPlanSection(inv, now: Date()) : nil
        // On a terminal, a live line on stderr while the hosts are read (erased before the plan prints).
        var line: ProgressLine?
        let live = offline ? nil : await ApplyPhases.livePlan(inventory: inv, now: { Date() }) { collected in
            guard isatty(STDERR_FILENO) == 1, output.output == .text else { return collected }
            let progress = ProgressLine(label: "plan: reading \(inv.hosts.count) host\(inv.hosts.count == 1 ? "" : "s")",
                                        write: { FileHandle.standardError.write(Data($0.utf8)) }, next: collected)
            line = progress
            return progress
        }
        line?.finish()
        switch output.output {
        case .json:
            var document = PlanDocument(inv, split, phases, pki: pki, live: live)
            document.podNetwork = PodNetworkPlanSection(inv)
            print(try document.json())
        case .text:
            if let refusal = live?.refusal { print("REFUSED: apply, and every command that changes hosts, would refuse to act: \(refusal)\n") }
            var text = PlanText.render(inv, split, phases, live: live != nil)
            text += "\n\n" + PodNetworkPlanSection(inv).text(inv)
            if let pki { text += "\n\n" + pki.text() }
            if let live { text += "\n\n" + live.text() }
            print(text)
        }
        if let error = pki?.error {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        if let refusal = live?.refusal {
            printError(output.output == .json ? "error: refusing to act: \(refusal)" : "error: refused: the hosts belong to another cluster than the state directory (see the top of the plan)")
            throw ExitCode(detailedExitcode ? 1 : ExitStatus.refused)
        }
        if let error = live?.error {
            printError("error: live plan: \(error)")
            throw ExitCode(1)
        }
        if let live, !live.unreachable.isEmpty {
            printError("error: \(live.unreachable.map(\.host).joined(separator: ", ")) did not answer, so the plan has no live part (the reasons are above); fix SSH to \(live.unreachable.count == 1 ? "it" : "them") or use --offline")
            throw ExitCode(1)
        }
        if detailedExitcode {
            let changes = live.map { !$0.actions.isEmpty } ?? !(pki?.upToDate ?? true)
            if changes { throw ExitCode(2) }
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
    /// Each host with apply's phases that concern it, by the names `--skip-phase` takes.
    var hosts: [Host]
    /// Phases that touch only this machine's state directory (the PKI).
    var localPhases: [String]
    var clusterPhases: [String]
    /// Self-managed clusters only.
    var pki: PKIPlanSection?
    /// What the hosts said; nil with `--offline`.
    var live: LivePlan?
    /// Each node's pod subnet, recorded or to allocate.
    var podNetwork: PodNetworkPlanSection?
    /// `spec.extraArgs`: each flag, with the default it replaces.
    var componentFlags: [ComponentFlags.Override]
    /// `spec.componentConfig`: each value, with Capstan's value it replaces.
    var componentConfig: [ComponentConfig.Override]
    /// `spec.etcd.extraArgs`: each flag, with the default it replaces.
    var etcdFlags: [EtcdFlagOverride]

    struct EtcdFlagOverride: Encodable {
        var name: String
        var value: String
        var replacesDefault: String?

        static func list(_ inv: Inventory) -> [EtcdFlagOverride] {
            inv.etcd.extraArgs.map { EtcdFlagOverride(name: $0.name, value: $0.value, replacesDefault: EtcdClusterSpec.defaultFlags[$0.name].map(String.init)) }
        }
    }

    init(_ inv: Inventory, _ split: ResponsibilitySplit, _ phases: ClusterPhases.Layout, pki: PKIPlanSection?, live: LivePlan? = nil) {
        cluster = inv.name
        mode = inv.controlPlane.mode.rawValue
        provider = inv.controlPlane.managed?.provider.rawValue
        kubernetesVersion = inv.kubernetesVersion.tag
        etcdVersion = inv.isSelfManaged ? inv.etcd.version?.description : nil
        offline = !(live?.computed ?? false)
        self.live = live
        responsibilities = split.entries.map { Area(area: $0.area.rawValue, owner: $0.owner.rawValue, reason: $0.reason) }
        hosts = inv.hosts.map { Host(name: $0.name, address: $0.address, roles: PlanText.roles($0), phases: phases.perHost[$0.name] ?? []) }
        localPhases = phases.local
        clusterPhases = ClusterLevelWork.summary(inv)
        componentFlags = ComponentFlags.overrides(inv.extraArgs)
        componentConfig = (try? ComponentConfig.overrides(of: inv)) ?? []
        etcdFlags = inv.isSelfManaged ? EtcdFlagOverride.list(inv) : []
        self.pki = pki
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

enum PlanText {
    static func roles(_ host: HostSpec) -> [String] { Role.allCases.filter { host.has($0) }.map(\.rawValue) }

    /// `items` joined by `separator` on lines of at most `width` columns, continued under `indent`.
    static func wrapped(_ items: [String], separator: String, width: Int, indent: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for item in items {
            let next = line.isEmpty ? item : line + separator + item
            if !line.isEmpty, indent + next.count > width {
                lines.append(line + (separator.hasPrefix(" ") ? " " : "") + separator.trimmingCharacters(in: .whitespaces))
                line = item
            } else {
                line = next
            }
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    static func render(_ inv: Inventory, _ split: ResponsibilitySplit, _ phases: ClusterPhases.Layout, live: Bool = false) -> String {
        var lines: [String] = []
        let mode = inv.isSelfManaged
            ? "self-managed"
            : "managed by \(inv.controlPlane.managed?.provider.displayName ?? ManagedProvider.other.displayName)"
        lines.append("Cluster \(inv.name): Kubernetes \(inv.kubernetesVersion.tag), \(mode)"
            + (inv.isSelfManaged ? ", etcd \(inv.etcd.version?.description ?? "?") (\(inv.etcd.topology.rawValue))" : ""))
        lines.append(live ? "Plan: from the inventory, the state directory and the hosts (below)." : "Offline plan: from the inventory only; hosts are not contacted.")
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
        for h in inv.hosts {
            lines.append("  \(h.name) (\(h.address))  [\(roles(h).joined(separator: ", "))]")
            lines += wrapped(phases.perHost[h.name] ?? [], separator: " → ", width: 110, indent: 4).map { "    " + $0 }
        }
        if !phases.local.isEmpty { lines.append("  on this machine (the state directory): \(phases.local.joined(separator: ", "))") }
        lines.append("  (apply's phase names, in order: `apply --skip-phase NAME` takes them)")
        lines.append("")
        lines.append("Once per cluster: \(ClusterLevelWork.summary(inv).joined(separator: ", "))")
        let overrides = ComponentFlags.overrides(inv.extraArgs)
        let etcdFlags = inv.isSelfManaged ? PlanDocument.EtcdFlagOverride.list(inv) : []
        if !overrides.isEmpty || !etcdFlags.isEmpty {
            lines.append("")
            lines.append("Component flags from spec.extraArgs and spec.etcd.extraArgs:")
            let all = overrides.map { ($0.component.rawValue, $0.name, $0.value, $0.replacesDefault) }
                + etcdFlags.map { ("etcd", $0.name, $0.value, $0.replacesDefault) }
            for (component, name, value, replaced) in all {
                let effect = replaced.map { "replaces Capstan's default \($0)" } ?? "added"
                lines.append("  \(component) --\(name)=\(value)  (\(effect))")
            }
        }
        let configs = (try? ComponentConfig.overrides(of: inv)) ?? []
        if !configs.isEmpty {
            lines.append("")
            lines.append("Component configuration from spec.componentConfig:")
            for o in configs {
                let effect = o.replaces.map { "replaces Capstan's \($0)" } ?? "added"
                lines.append("  \(o.component.rawValue) \(o.field): \(o.value)  (\(effect))")
            }
        }
        return lines.joined(separator: "\n")
    }
}


/// The PKI part of `capstan plan`: `PKIManager.plan()` against the state directory, as text and JSON.
struct PKIPlanSection: Encodable {
    struct Change: Encodable, Equatable {
        /// `create`, `re-issue`, `needs-signing` (CA key offline) or `rewrite` (kubeconfig only).
        var action: String
        /// `ca`, `sa`, `apiserver@cp1`, `kubeconfig/admin.conf`.
        var name: String
        var reasons: [String]
    }

    var stateDirectory: String
    var upToDate: Bool
    var changes: [Change]
    /// Why the PKI could not be planned (unreadable or inconsistent state); nil when it could.
    var error: String?

    init(_ inv: Inventory, now: Date) {
        let state = StateDirectory(inventory: inv)
        stateDirectory = state.root
        do {
            let plan = try PKIManager(inventory: inv, state: state).plan(now: now)
            changes = Self.changes(plan)
            upToDate = plan.isUpToDate
        } catch {
            changes = []
            upToDate = false
            self.error = "cannot plan the PKI in \(state.root): \(error)"
        }
    }

    static func changes(_ plan: PKIPlan) -> [Change] {
        var out = plan.authoritiesToCreate.map { Change(action: "create", name: $0.rawValue, reasons: ["CA missing"]) }
        if plan.createsServiceAccountKey { out.append(Change(action: "create", name: "sa", reasons: ["service-account key missing"])) }
        for r in plan.reissues {
            let creates = r.reasons == [.missing]
            out.append(Change(action: creates ? "create" : "re-issue", name: r.certificate.id, reasons: r.reasons.map(\.description)))
        }
        for c in plan.needsSigning {
            out.append(Change(action: "needs-signing", name: c.id, reasons: ["the CA key is offline: sign \(c.csrPath) and place \(c.certPath)"]))
        }
        for k in plan.kubeconfigUpdates { out.append(Change(action: "rewrite", name: k.path, reasons: [k.reason])) }
        return out
    }

    func text() -> String {
        if let error { return "PKI: \(error)" }
        if upToDate { return "PKI: up to date (\(stateDirectory))" }
        let counts = Dictionary(grouping: changes, by: \.action).mapValues(\.count)
        let summary = ["create", "re-issue", "needs-signing", "rewrite"].compactMap { a in counts[a].map { "\($0) to \(a)" } }
        var lines = ["PKI (\(stateDirectory)): " + summary.joined(separator: ", ")]
        let width = changes.map(\.action.count).max() ?? 0
        for c in changes {
            lines.append("  \(c.action.padding(toLength: width + 2, withPad: " ", startingAt: 0))\(c.name): \(c.reasons.joined(separator: "; "))")
        }
        return lines.joined(separator: "\n")
    }
}
