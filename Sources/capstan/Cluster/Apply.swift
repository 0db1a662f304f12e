import ArgumentParser
import Foundation
import Inventory
import PKI
import Workflows

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apply", abstract: "Converge the cluster: PKI, etcd, control plane, workers, add-ons.")

    @OptionGroup var inventoryOption: InventoryOption
    @OptionGroup var outputOption: OutputOption
    @Flag(name: .long, help: "Go ahead although etcd members are unhealthy or unreachable (never without quorum).")
    var force = false
    @Option(name: .customLong("skip-phase"), help: "Skip a phase by name (repeatable).")
    var skipPhase: [String] = []
    @Flag(name: .customLong("dry-run"), help: "Read the hosts and show what would change; change nothing.")
    var dryRun = false
    @Option(name: .long, help: "Replace this etcd member: remove it, move its data aside, add it again as a learner (repeatable).")
    var replace: [String] = []
    @Option(name: .customLong("health-timeout"), help: "Seconds to wait for etcd health after each start or restart.")
    var healthTimeout: Double = 60

    func run() async throws {
        let (inventory, _) = try inventoryOption.load()
        let output = LiveContext.output(outputOption.output)
        guard inventory.isSelfManaged else {
            let provider = inventory.controlPlane.managed?.provider.displayName ?? "the provider"
            output.emit(WorkflowEvent(time: Date(), kind: .message, message:
                "\(inventory.name) is a managed cluster: etcd and the control plane belong to \(provider); there is no etcd or control-plane work to apply."))
            return
        }
        let started = Date()
        let settings: EtcdWorkflowSettings
        do {
            settings = try EtcdWorkflowSettings(
                inventory: inventory, artifacts: try LiveContext.artifactStore(for: inventory),
                replace: Set(replace), healthTimeoutSeconds: healthTimeout)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        let (context, connector) = LiveContext.make(
            inventory: inventory, mode: dryRun ? .plan : .apply,
            options: WorkflowOptions(force: force, skipPhases: Set(skipPhase)), output: output, now: { Date() })
        let workflow = Workflow(name: "apply", phases: ApplyPhases.build(inventory: inventory, etcd: settings))
        let report: RunReport
        do {
            report = try await PhaseRunner().run(workflow, in: context)
        } catch {
            await context.closeAll()
            await connector.closeAll()
            printError("\(error)")
            throw ExitCode(1)
        }
        await context.closeAll()
        await connector.closeAll()
        output.emit(WorkflowEvent(time: Date(), kind: .message, message: ApplyPhases.summary(report, dryRun: dryRun, seconds: Date().timeIntervalSince(started))))
        if dryRun && outputOption.output == .text {
            for action in report.actions {
                print("[\(action.host)] \(action.description)")
                if let diff = action.diff { print(diff.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")) }
            }
        }
    }
}

/// The phases of `apply`, in order: a pure function of the inventory, so each further part of the
/// cluster (control plane, workers, backup schedule) is one more line here.
enum ApplyPhases {
    static func build(inventory: Inventory, etcd: EtcdWorkflowSettings) -> [Phase] {
        var phases: [Phase] = []
        phases.append(pki(inventory))
        phases += EtcdWorkflow.phases(etcd)
        phases += EtcdBackupSchedule.phases(inventory: inventory)
        return phases
    }

    /// Load-or-create the PKI in the state directory (local; no host is touched).
    static func pki(_ inventory: Inventory) -> Phase {
        Phase("pki", concerning: [], next: "fix the state directory or the PKI settings; no host was changed") { ctx in
            let manager = PKIManager(inventory: inventory, state: StateDirectory(inventory: inventory))
            switch ctx.mode {
            case .plan:
                let plan = try manager.plan(now: ctx.now())
                for ca in plan.authoritiesToCreate { await ctx.emit(.planned, "create CA \(ca)") }
                for r in plan.reissues { await ctx.emit(.planned, "issue \(r.certificate.name)\(r.certificate.host.map { " for \($0)" } ?? "")") }
            case .apply:
                let result = try await manager.apply(now: ctx.now())
                let summary = "\(result.createdAuthorities.count) CA(s) created, \(result.issued.count) certificate(s) issued"
                await ctx.emit(.message, "PKI in \(manager.state.root): \(summary)")
                if !result.needsSigning.isEmpty {
                    await ctx.emit(.message, "\(result.needsSigning.count) certificate(s) wait for the external CA to sign their CSRs (see `capstan certs`)")
                }
            }
        }
    }

    static func summary(_ report: RunReport, dryRun: Bool, seconds: Double) -> String {
        let hosts = Set(report.actions.map(\.host)).sorted()
        let changes = report.actions.count
        let verb = dryRun ? "would make" : "made"
        let skipped = report.skipped.isEmpty ? "" : "; skipped: \(report.skipped.joined(separator: ", "))"
        return String(format: "apply%@: %@ %d change(s)%@ in %.1fs%@", dryRun ? " (dry run)" : "", verb, changes,
                      hosts.isEmpty ? " (nothing to do)" : " on \(hosts.joined(separator: ", "))", seconds, skipped)
    }

    /// The etcd part of a live plan: reads the hosts (facts, member list, files) and returns the actions
    /// `apply` would take, with their diffs; changes nothing. For `capstan plan`.
    static func etcdLivePlan(inventory: Inventory, now: @escaping @Sendable () -> Date) async throws -> [PlannedAction] {
        let settings = try EtcdWorkflowSettings(inventory: inventory, artifacts: try LiveContext.artifactStore(for: inventory))
        let (context, connector) = LiveContext.make(inventory: inventory, mode: .plan, options: WorkflowOptions(), output: CollectingOutput(), now: now)
        defer { Task { await context.closeAll(); await connector.closeAll() } }
        let report = try await PhaseRunner().run(Workflow(name: "plan", phases: EtcdWorkflow.phases(settings)), in: context)
        return report.actions
    }
}
