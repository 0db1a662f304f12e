import ArgumentParser
import Foundation
import Hosts
import Inventory
import PKI
import Workflows

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apply", abstract: "Converge the cluster: PKI, etcd, control plane, workers, then the cluster objects (bootstrap RBAC, cluster DNS, add-ons).", discussion: HelpExamples.discussion("apply"))

    @OptionGroup var inventoryOption: InventoryOption
    @OptionGroup var outputOption: OutputOption
    @Flag(name: .long, help: "Go ahead although etcd members are unhealthy or unreachable (never without quorum).")
    var force = false
    @Option(name: .customLong("skip-phase"), help: ArgumentHelp(
        "Skip a phase by name (repeatable): the names `capstan plan -i FILE` lists for the inventory, in apply's order (certs-renew last with --renew-before; an unknown name is refused with the list). \(ClusterIdentityGuard.phaseName) cannot be skipped, nor a phase whose data later phases read (etcd-facts, kubernetes-artifacts) without them.",
        valueName: "phase"))
    var skipPhase: [String] = []
    @Flag(name: .customLong("dry-run"), help: "Read the hosts and show what would change; change nothing.")
    var dryRun = false
    @Option(name: .long, help: "Replace this etcd member: remove it, move its data aside, add it again as a learner (repeatable).")
    var replace: [String] = []
    @Option(name: .customLong("health-timeout"), help: "Seconds to wait for etcd and API server health after each start or restart.")
    var healthTimeout: Double = 60
    @Option(name: .long, help: "Converge only these parts (comma-separated or repeated): pki, etcd, backup, kubernetes, network (the pod network). Default: all.")
    var only: [String] = []
    @Option(name: .customLong("renew-before"), help: "Re-issue leaves expiring within this span (e.g. 30d) and roll them out host by host, health-gated, after the rest is converged.")
    var renewBefore: String?

    func validate() throws {
        _ = try parts()
        if skipPhase.contains(ClusterIdentityGuard.phaseName) {
            throw ValidationError("--skip-phase: \(ClusterIdentityGuard.phaseName) cannot be skipped: it keeps apply from changing another cluster's hosts")
        }
        if let renewBefore, TimeSpan(parsing: renewBefore) == nil {
            throw ValidationError("--renew-before: \(renewBefore) is not a time span (e.g. 30d, 12h)")
        }
    }

    /// The parts named by `--only`; empty means all.
    func parts() throws -> Set<ApplyPart> {
        var parts = Set<ApplyPart>()
        for word in only.flatMap({ $0.split(separator: ",") }) {
            guard let part = ApplyPart(rawValue: word.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--only: unknown part '\(word)' (parts: \(ApplyPart.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            parts.insert(part)
        }
        return parts
    }

    func run() async throws {
        let (inventory, _) = try inventoryOption.load()
        let output = LiveContext.output(outputOption.output)
        let started = Date()
        let phases: [Phase]
        let kubernetes = KubernetesInstallSettings(healthGate: HealthGate(timeoutSeconds: healthTimeout))
        if inventory.isSelfManaged {
            let settings: EtcdWorkflowSettings
            do {
                settings = try EtcdWorkflowSettings(
                    inventory: inventory, artifacts: try ArtifactStore(for: inventory),
                    replace: Set(replace), healthTimeoutSeconds: healthTimeout)
            } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
            let parts = try parts()
            phases = try LiveContext.phases(inventory, kubernetes: kubernetes).selfManaged(etcd: settings, renewBefore: renewBefore.flatMap(TimeSpan.init(parsing:)))
                .filter { parts.isEmpty || $0.name == ClusterIdentityGuard.phaseName || parts.contains($0.part) }
        } else {
            let provider = inventory.controlPlane.managed?.provider.displayName ?? "the provider"
            if renewBefore != nil {
                printError("apply --renew-before: \(inventory.name) is a managed cluster; \(provider) renews the control-plane certificates and the kubelets rotate their own")
                throw ExitCode(1)
            }
            output.emit(WorkflowEvent(time: Date(), kind: .message, message:
                "\(inventory.name) is a managed cluster: etcd and the control plane belong to \(provider); apply joins the worker hosts."))
            phases = try LiveContext.phases(inventory, kubernetes: kubernetes).managed()
        }
        let report = try await exitOnFailure {
            try await LiveContext.run(inventory: inventory, mode: dryRun ? .plan : .apply,
                                      options: WorkflowOptions(force: force, skipPhases: Set(skipPhase)), output: output) { context in
                try await PhaseRunner().run(Workflow(name: "apply", phases: phases), in: context)
            }
        }
        output.emit(WorkflowEvent(time: Date(), kind: .message, message: ApplyPhases.summary(report, dryRun: dryRun, seconds: Date().timeIntervalSince(started)),
                                  transfer: report.transfer.summary == nil ? nil : report.transfer))
        if dryRun && outputOption.output == .text { ApplyPhases.printActions(report.actions) }
    }
}

typealias ApplyPart = ClusterPhases.Part

/// How `apply` and the commands built on its phases report: the summary line, the dry run's actions, and
/// the live part of `capstan plan`.
enum ApplyPhases {
    /// `--dry-run` in text: every recorded action, with its diff indented below it.
    static func printActions(_ actions: [PlannedAction]) {
        for action in actions {
            print("[\(action.host)] \(action.description)")
            if let diff = action.diff { print(diff.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")) }
        }
    }

    static func summary(_ report: RunReport, dryRun: Bool, seconds: Double, command: String = "apply") -> String {
        let hosts = Set(report.actions.map(\.host)).sorted()
        let changes = report.actions.count
        let verb = dryRun ? "would make" : "made"
        let skipped = report.skipped.isEmpty ? "" : "; skipped: \(report.skipped.joined(separator: ", "))"
        let transfer = report.transfer.summary.map { "; \($0)" } ?? ""
        return String(format: "%@%@: %@ %d change(s)%@ in %.1fs%@%@", command, dryRun ? " (dry run)" : "", verb, changes,
                      hosts.isEmpty ? " (nothing to do)" : " on \(hosts.joined(separator: ", "))", seconds, skipped, transfer)
    }

    /// The live part of `capstan plan`: every host is reached first (an unreachable host is reported,
    /// not fatal); when all answer, the etcd and Kubernetes phases run in plan mode and their actions,
    /// with diffs, come back. Changes nothing.
    /// `progress` wraps the collecting sink (a live line on a terminal); events reach the plan either way.
    static func livePlan(inventory: Inventory, now: @escaping @Sendable () -> Date,
                         progress: (CollectingOutput) -> any OutputSink = { $0 }) async -> LivePlan {
        let collected = CollectingOutput()
        // The body catches its own errors (they become `plan.error`), so `run` never throws here.
        return (try? await LiveContext.run(inventory: inventory, mode: .plan, output: progress(collected), now: now) { context in
            await livePlan(inventory: inventory, collected: collected, in: context)
        }) ?? LivePlan()
    }

    private static func livePlan(inventory: Inventory, collected: CollectingOutput, in context: WorkflowContext) async -> LivePlan {
        var plan = LivePlan()
        let names = inventory.hosts.map(\.name)
        let outcomes = await FanOut.run(names, limit: FanOut.defaultLimit, name: { $0 }) { host in
            _ = try await context.reader(host)
        }
        for outcome in outcomes {
            if let error = outcome.error { plan.unreachable.append(.init(host: outcome.host, reason: "\(error)")) }
        }
        plan.unreachable.sort { $0.host < $1.host }
        if plan.unreachable.isEmpty {
            do {
                // The same phases as apply; the PKI's part of the plan is shown from the state directory.
                let phases = try LiveContext.phases(inventory).all().filter { $0.name != PKIPhase.name }
                let report = try await PhaseRunner().run(Workflow(name: "plan", phases: phases), in: context)
                plan.actions = report.actions
            } catch WorkflowError.identityMismatch(let text) {
                plan.refusal = text
            } catch {
                plan.error = "\(error)"
            }
            plan.notes = collected.events.filter { $0.kind == .warning || $0.kind == .note }
                .map { ($0.host.map { "[\($0)] " } ?? "") + $0.message }
        }
        return plan
    }
}

/// The hosts' part of `capstan plan`.
struct LivePlan: Encodable {
    struct Unreachable: Encodable { var host: String; var reason: String }
    /// Hosts that did not answer; the live part is computed only when every host answers.
    var unreachable: [Unreachable] = []
    var actions: [PlannedAction] = []
    /// Warnings from the hosts and the artifact source.
    var notes: [String] = []
    /// Why the live part failed although the hosts answered (artifact source, PKI state, etcd health).
    var error: String?
    /// The hosts belong to another cluster than the state directory: what `apply` would refuse, shown first.
    var refusal: String?

    var computed: Bool { unreachable.isEmpty && error == nil && refusal == nil }

    func text() -> String {
        var lines: [String] = []
        if !unreachable.isEmpty {
            lines.append("Hosts: \(unreachable.count) host(s) did not answer; the live plan needs every host (the offline plan above stands):")
            for u in unreachable { lines.append("  \(u.host): unreachable: \(u.reason)") }
            return lines.joined(separator: "\n")
        }
        if refusal != nil { return "Hosts: no live plan: apply would refuse (see the top)" }
        if let error { return "Hosts: cannot compute the live plan: \(error)" }
        lines.append(actions.isEmpty ? "Hosts: up to date (no action planned)" : "Hosts: \(actions.count) planned action(s):")
        for action in actions {
            lines.append("  [\(action.host)] \(action.description)")
            if let diff = action.diff { lines += diff.split(separator: "\n", omittingEmptySubsequences: false).map { "      " + $0 } }
        }
        for note in notes { lines.append("  note: \(note)") }
        return lines.joined(separator: "\n")
    }
}
