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
        let inventoryPath = target.inventoryOption.inventory
        let state = StateDirectory(inventory: inventory)

        let assessment = try await UpgradeAssessment.make(inventory, kubernetes: k, etcd: e, in: context)
        if outputOption.output == .text { assessment.printText() }
        guard !assessment.blocked, let plan = assessment.plan else {
            if outputOption.output == .json { try printUpgradeJSON(assessment.json) }
            printError("Error: the upgrade is blocked (see the checks and the refusal above); nothing was changed")
            throw ExitCode(1)
        }
        let etcdSteps = plan.steps.filter { $0.stage == .etcd }
        var record = try loadRecord(state)
        let resumable = record?.isResumable(targetKubernetes: k.description, targetEtcd: plan.etcdTarget?.description) ?? false
        let kubernetesSteps = KubernetesUpgradeSchedule.resume(
            planned: plan.steps.filter { $0.stage != .etcd }, pending: resumable ? record?.kubernetesPending ?? [] : [],
            controlPlane: Set(inventory.controlPlaneHosts.map(\.name)), to: k.description)
        if etcdSteps.isEmpty && kubernetesSteps.isEmpty {
            if var r = record, r.isResumable(targetKubernetes: k.description, targetEtcd: plan.etcdTarget?.description ?? e?.description) {
                r.status = .completed; r.updatedAt = Date(); try await save(r, state, context)
            }
            print("nothing to upgrade: every host runs the target versions")
            return
        }
        if !options.dryRun { try Confirmation.require("upgrade apply", "Start the upgrade (\(etcdSteps.count + kubernetesSteps.count) step(s))", yes: options.yes) }

        let etcdTarget = plan.etcdTarget
        let resuming = record?.isResumable(targetKubernetes: k.description, targetEtcd: etcdTarget?.description) ?? false
        if resuming, let r = record {
            print("resuming the upgrade started \(r.startedAt) (rollback point \(r.rollbackPoint?.backup ?? "none"))")
        } else {
            var previous: [String: String] = [:], sums: [String: String] = [:]
            for h in assessment.survey.running where assessment.survey.spec.memberNames.contains(h.host) {
                if let v = h.etcd { previous[h.host] = v.description }
            }
            for h in assessment.survey.etcdHosts { if let s = h.facts.fileChecksums[assessment.survey.spec.binDir + "/etcd"] { sums[h.host] = s } }
            var fresh = UpgradeRecord(targetKubernetes: k.description, targetEtcd: etcdTarget?.description, startedAt: Date(),
                                      previousEtcd: previous, previousEtcdSHA256: sums)
            fresh.previousKubernetes = Dictionary(assessment.survey.running.compactMap { h in
                KubernetesUpgradeSchedule.recorded(h).map { (h.host, $0.description) }
            }, uniquingKeysWith: { a, _ in a })
            fresh.rollbackPoint = try await context.changeState("take the rollback point: backup now, then verify it in the backup store") {
                try await takeRollbackPoint(inventoryPath: inventoryPath)
            }
            try await save(fresh, state, context)
            record = fresh
        }
        guard var record else { return }

        if let etcdTarget, !etcdSteps.isEmpty {
            var upgraded = inventory
            upgraded.etcd.version = etcdTarget
            let settings = try EtcdWorkflowSettings(inventory: upgraded, artifacts: try ArtifactStore(for: inventory),
                                                    healthTimeoutSeconds: options.healthTimeout, allowVersionChange: true)
            print("upgrading etcd to \(etcdTarget): \(etcdSteps.map { $0.hosts[0] }.joined(separator: " → "))")
            do {
                _ = try await PhaseRunner().run(Workflow(name: "upgrade", phases: EtcdWorkflow.phases(settings)), in: context)
            } catch {
                let after = try? await UpgradeSurvey.read(inventory, in: context)
                record.upgraded = upgradedMembers(after, target: etcdTarget)
                // The roll goes in plan order, so the first member not on the target is where it stopped.
                let stopped = etcdSteps.map { $0.hosts[0] }.first { !record.upgraded.contains($0) } ?? stoppedHost(error)
                record.status = .failed
                record.stoppedAt = stopped
                record.message = "\(error)"
                record.updatedAt = Date()
                try await save(record, state, context)
                printError("""
                    Error: the etcd upgrade stopped\(stopped.map { " at \($0)" } ?? ""): \(error)
                    upgraded so far: \(record.upgraded.isEmpty ? "none" : record.upgraded.joined(separator: ", "))
                    to resume: fix the cause, then run `capstan upgrade apply -i \(inventoryPath) --to \(k.tag)\(target.etcd.map { " --etcd \($0)" } ?? "") --yes` (continues with the next member)
                    to roll back: `capstan upgrade rollback -i \(inventoryPath)` (rollback point: backup \(record.rollbackPoint?.backup ?? "none"))
                    """)
                throw ExitCode(1)
            }
            let after = try await UpgradeSurvey.read(inventory, in: context)
            record.upgraded = upgradedMembers(after, target: etcdTarget)
            record.stoppedAt = nil
            record.message = nil
        }
        record.updatedAt = Date()
        if !kubernetesSteps.isEmpty {
            try await runKubernetes(kubernetesSteps, record: &record, inventory: inventory, state: state, context: context, target: k)
        }
        record.status = .completed
        record.updatedAt = Date()
        try await save(record, state, context)
        if try await printedDryRun(context) { return }
        var done: [String] = []
        if let etcdTarget, !etcdSteps.isEmpty { done.append("etcd \(etcdTarget) on \(record.upgraded.joined(separator: ", "))") }
        if !kubernetesSteps.isEmpty { done.append("Kubernetes \(k.tag) on \((record.kubernetesUpgraded ?? []).joined(separator: ", "))") }
        print("upgrade complete: \(done.joined(separator: "; ")); set spec.kubernetesVersion: \(k.tag)\(etcdTarget.map { " and etcd.version: \($0)" } ?? "") in \(inventoryPath) if it does not already say so (`capstan apply` converges to the inventory's versions)")
    }

    /// A dry run ends by listing every change it recorded; true when it did.
    func printedDryRun(_ context: WorkflowContext) async throws -> Bool {
        guard options.dryRun else { return false }
        let actions = await context.actions
        print("upgrade apply (dry run): would make \(actions.count) change(s); nothing was changed (run without --dry-run to upgrade):")
        ApplyPhases.printActions(actions)
        return true
    }

    /// The upgrade record is Capstan's own progress, written in apply mode only (a dry run leaves none).
    func save(_ record: UpgradeRecord, _ state: StateDirectory, _ context: WorkflowContext) async throws {
        try await context.bookkeeping { try record.save(to: state) }
    }

    func loadRecord(_ state: StateDirectory) throws -> UpgradeRecord? {
        do { return try UpgradeRecord.load(from: state) } catch {
            throw ValidationError("cannot read \(state.path(UpgradeRecord.fileName)): \(error); move it aside to start a new upgrade")
        }
    }

    /// `backup now` then `backup verify` through the backup engine; the verified backup is the rollback point.
    func takeRollbackPoint(inventoryPath: String) async throws -> UpgradeRecord.RollbackPoint {
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

    func upgradedMembers(_ survey: UpgradeSurvey?, target: SemanticVersion) -> [String] {
        guard let survey else { return [] }
        let running = EtcdVersionGate.running(hosts: survey.etcdHosts, cluster: survey.cluster)
        return survey.spec.memberNames.filter { running[$0] == target }
    }

    func stoppedHost(_ error: any Error) -> String? {
        switch error as? WorkflowError {
        case let .hostFailed(host, _, _, _)?: return host
        case let .drainIncomplete(node, _, _, _)?: return node
        case let .phaseFailed(_, failures, _)?: return failures.first?.host
        default: return nil
        }
    }
}
