import ArgumentParser
import Foundation
import Hosts
import Inventory
import PKI
import Workflows

struct UpgradeApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apply", abstract: "Upgrade etcd, control plane and workers one member at a time.", discussion: HelpExamples.discussion("upgrade apply", "A managed cluster: only its workers, never past the provider's API server version; kubectl cordons and drains them from this machine with --kubeconfig."))
    @OptionGroup var target: UpgradeTargetOptions
    @OptionGroup var outputOption: OutputOption
    @OptionGroup var options: UpgradeRunOptions

    func run() async throws {
        let (inventory, _) = try target.inventoryOption.load()
        _ = try options.requireKubeconfig(inventory)
        let output = LiveContext.output(outputOption.output)
        try await exitOnFailure {
            // --dry-run runs the same steps in plan mode: every change is recorded and shown, none is made.
            try await LiveContext.run(inventory: inventory, mode: options.dryRun ? .plan : .apply, output: output, checkIdentity: true) { context in
                try await body(inventory, context)
            }
        }
    }

    func body(_ inventory: Inventory, _ context: WorkflowContext) async throws {
        if !inventory.isSelfManaged { return try await managedBody(inventory, context) }
        let (k, e) = try target.targets(inventory)
        let assessment = try await UpgradeAssessment.make(inventory, kubernetes: k, etcd: e, in: context)
        if outputOption.output == .text { assessment.printText() }
        guard !assessment.blocked, let plan = assessment.plan else {
            if outputOption.output == .json { try printUpgradeJSON(assessment.json) }
            printError("Error: the upgrade is blocked (see the checks and the refusal above); nothing was changed")
            throw ExitCode(1)
        }
        let operation = options.operation(inventory)
        let schedule = try operation.schedule(plan, kubernetes: k, etcd: e)
        if schedule.isEmpty {
            try await operation.closeRecord(schedule, in: context)
            print("nothing to upgrade: every host runs the target versions")
            return
        }
        if !options.dryRun { try Confirmation.require("upgrade apply", "Start the upgrade (\(schedule.count) step(s))", yes: options.yes) }
        let rollbackPoint = self.takeRollbackPoint
        let record = try await stopping(inventory, k) {
            try await operation.run(schedule, assessment: assessment, rollbackPoint: rollbackPoint, in: context)
        }
        if try await printedDryRun(context) { return }
        var done: [String] = []
        if let etcdTarget = schedule.etcdTarget, !schedule.etcdSteps.isEmpty { done.append("etcd \(etcdTarget) on \(record.upgraded.joined(separator: ", "))") }
        if !schedule.kubernetesSteps.isEmpty { done.append("Kubernetes \(k.tag) on \((record.kubernetesUpgraded ?? []).joined(separator: ", "))") }
        print("upgrade complete: \(done.joined(separator: "; ")); set spec.kubernetesVersion: \(k.tag)\(schedule.etcdTarget.map { " and etcd.version: \($0)" } ?? "") in \(target.inventoryOption.inventory) if it does not already say so (`capstan apply` converges to the inventory's versions)")
    }

    /// Runs `body`; an upgrade that stopped part-way is shown with what was done, how to resume and how to
    /// roll back (exit 1).
    func stopping(_ inventory: Inventory, _ k: SemanticVersion, _ body: () async throws -> UpgradeRecord) async throws -> UpgradeRecord {
        do { return try await body() } catch let stop as UpgradeStopped {
            let path = target.inventoryOption.inventory
            let record = stop.record
            let resume = "capstan upgrade apply -i \(path) --to \(k.tag)\(target.etcd.map { " --etcd \($0)" } ?? "")"
            let done = stop.done.isEmpty ? "none" : stop.done.joined(separator: ", ")
            switch stop.part {
            case .etcd:
                printError("""
                    Error: \(stop)
                    upgraded so far: \(done)
                    to resume: fix the cause, then run `\(resume) --yes` (continues with the next member)
                    to roll back: `capstan upgrade rollback -i \(path)` (rollback point: backup \(record.rollbackPoint?.backup ?? "none"))
                    """)
            default:
                let drainHint = (stop.cause as? WorkflowError)?.incompleteDrain != nil && !options.forceDrain ? " (add --force-drain to go past PodDisruptionBudgets)" : ""
                printError("""
                    Error: \(stop)
                    upgraded so far: \(done)
                    to resume: fix the cause, then run `\(resume)\(inventory.isSelfManaged ? "" : " --kubeconfig FILE") --yes`\(drainHint) (continues with \(stop.step.joined(separator: ", ")))
                    """ + (inventory.isSelfManaged ? """

                    to roll back: `capstan upgrade rollback -i \(path) --yes` (returns the hosts to \(Set((record.previousKubernetes ?? [:]).values).sorted().joined(separator: ", ")); rollback point: backup \(record.rollbackPoint?.backup ?? "none"))
                    """ : ""))
            }
            throw ExitCode(1)
        }
    }

    /// A dry run ends by listing every change it recorded; true when it did.
    func printedDryRun(_ context: WorkflowContext) async throws -> Bool {
        guard options.dryRun else { return false }
        let actions = await context.actions
        print("upgrade apply (dry run): would make \(actions.count) change(s); nothing was changed (run without --dry-run to upgrade):")
        ApplyPhases.printActions(actions)
        return true
    }

    /// `backup now` then `backup verify` through the backup engine; the verified backup is the rollback point.
    @Sendable func takeRollbackPoint() async throws -> UpgradeRecord.RollbackPoint {
        let setup = try BackupSetup(target.inventoryOption)
        let settings = try BackupSettings.from(policy: setup.policy, cluster: setup.inventory.name,
                                               capstanVersion: CapstanVersion.current, stateRoot: setup.state.root)
        let store = try await setup.store()
        let engine = EtcdBackup(store: store, access: EtcdClientAccess(), settings: settings)
        let outcome = try await LiveContext.run(inventory: setup.inventory, mode: .apply, output: CollectingOutput()) { context in
            try await engine.now(members: setup.memberAddresses(), in: context, now: Date())
        }
        guard let manifest = outcome.manifest else { throw ValidationErrorText("backup now stored no backup") }
        let report = try await BackupVerifier(store: store, key: try setup.key(), identities: try setup.identities(nil)).verify(manifest.name, now: Date())
        print("rollback point: backup \(manifest.name) (etcd \(manifest.etcdVersion), revision \(report.status.revision)) verified in \(store.location)")
        return UpgradeRecord.RollbackPoint(backup: manifest.name, revision: report.status.revision, etcdVersion: manifest.etcdVersion, verifiedAt: Date())
    }
}
