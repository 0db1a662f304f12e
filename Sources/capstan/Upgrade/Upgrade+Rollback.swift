import ArgumentParser
import Foundation
import Hosts
import Inventory
import PKI
import Workflows

struct UpgradeRollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rollback", abstract: "Return workers, control plane and etcd to the binaries they ran before the upgrade.", discussion: HelpExamples.discussion("upgrade rollback"))
    @OptionGroup var inventoryOption: InventoryOption
    @OptionGroup var outputOption: OutputOption
    @OptionGroup var options: UpgradeRunOptions

    func run() async throws {
        let (inventory, _) = try inventoryOption.load()
        if !inventory.isSelfManaged {
            // Refused before anything is read: exit 2, like every refusal before a change.
            printError("Error: " + WorkflowError.refused(what: "roll back \(inventory.name)", found: "it is managed: the provider owns etcd and the control plane, and a managed upgrade only moves kubelets up to the provider's version",
                                        next: "a kubelet never goes down in place: to run an older one on a node, `capstan reset --host NODE`, set spec.kubernetesVersion, then `capstan node add NODE`").description)
            throw ExitCode(ExitStatus.refused)
        }
        _ = try options.requireKubeconfig(inventory)
        let output = LiveContext.output(outputOption.output)
        try await exitOnFailure {
            try await LiveContext.run(inventory: inventory, mode: .apply, output: output, checkIdentity: true) { context in
                try await body(inventory, context)
            }
        }
    }

    func body(_ inventory: Inventory, _ context: WorkflowContext) async throws {
        let state = StateDirectory(inventory: inventory)
        let path = inventoryOption.inventory
        guard var record = try UpgradeRecord.load(from: state) else {
            printError("Error: no upgrade recorded in \(state.path(UpgradeRecord.fileName)); nothing to roll back")
            throw ExitCode(1)
        }
        let survey = try await UpgradeSurvey.read(inventory, in: context)
        // Reverse order of the upgrade: workers (never newer than the API servers), control plane, etcd.
        let kubernetesSteps = KubernetesUpgradeSchedule.rollback(running: survey.running, previous: record.previousKubernetes ?? [:],
                                                                 maxUnavailable: inventory.upgrade.maxUnavailable)
        let previous = record.previousEtcd.values.compactMap { SemanticVersion(parsing: $0) }.min()
        let running = EtcdVersionGate.running(hosts: survey.etcdHosts, cluster: survey.cluster)
        let moved = previous.map { p in survey.spec.memberNames.filter { running[$0].map { $0 != p } ?? false } } ?? []
        guard !kubernetesSteps.isEmpty || !moved.isEmpty else {
            print("every host runs what it ran before the upgrade\(previous.map { " (etcd \($0))" } ?? ""): nothing to roll back")
            return
        }
        if let previous, !moved.isEmpty {
            // etcd sets the cluster version to the lowest minor its members run; data written at a newer
            // cluster version cannot be read by older members (3.5 → 3.4 is not supported by etcd).
            let clusterVersion = EtcdRollback.clusterVersion(running: survey.spec.memberNames.compactMap { running[$0] })
            if let clusterVersion, (clusterVersion.major, clusterVersion.minor) > (previous.major, previous.minor) {
                printError("""
                    Error: the etcd cluster version is \(clusterVersion.major).\(clusterVersion.minor) (every member runs \(clusterVersion.major).\(clusterVersion.minor)); \
                    etcd cannot move its data back to \(previous.major).\(previous.minor), so the binaries cannot simply be swapped back.
                    Restore the rollback point taken before the upgrade instead (writes since then are lost):
                      1. set etcd.version: \(previous) in \(path)
                      2. \(restoreCommand(path, record))
                    """)
                throw ExitCode(1)
            }
        }
        var what = kubernetesSteps.map { "\($0.hosts.joined(separator: ", ")) to Kubernetes v\($0.to)" }
        if let previous, !moved.isEmpty { what.append("\(moved.joined(separator: ", ")) to etcd \(previous)") }
        guard try options.confirm("upgrade rollback", "Return \(what.joined(separator: "; "))") else { return }
        if !kubernetesSteps.isEmpty {
            var runner = KubernetesStepRunner(inventory: inventory, settings: options.settings(inventory))
            for step in kubernetesSteps {
                print("rollback \(step.stage.rawValue) \(step.hosts.joined(separator: ", ")): \(step.from) → \(step.to)")
                do {
                    try await runner.run(step, in: context)
                } catch {
                    printError("Error: the rollback stopped at \(step.hosts.joined(separator: ", ")): \(error)\nre-run `capstan upgrade rollback -i \(path) --yes` once fixed (hosts already back are left alone)")
                    throw ExitCode(1)
                }
            }
        }
        if let previous, !moved.isEmpty {
            var back = inventory
            back.etcd.version = previous
            let settings = try EtcdWorkflowSettings(inventory: back, artifacts: try ArtifactStore(for: inventory),
                                                    healthTimeoutSeconds: options.healthTimeout, allowVersionChange: true)
            print("returning \(moved.joined(separator: ", ")) to etcd \(previous), one member at a time")
            do {
                _ = try await PhaseRunner().run(Workflow(name: "rollback", phases: EtcdWorkflow.phases(settings)), in: context)
            } catch {
                printError("Error: the rollback stopped: \(error)\nre-run `capstan upgrade rollback -i \(path)` once fixed, or \(restoreCommand(path, record))")
                throw ExitCode(1)
            }
        }
        record.status = .rolledBack
        record.kubernetesPending = nil
        record.updatedAt = Date()
        try record.save(to: state)
        let versions = Set((record.previousKubernetes ?? [:]).values).sorted().map { "v" + $0 }
        print("rolled back: \(what.joined(separator: "; ")); the inventory should say \(versions.isEmpty ? "" : "spec.kubernetesVersion: \(versions.joined(separator: "/"))")\(previous.map { " etcd.version: \($0)" } ?? "") in \(path)")
    }

    func restoreCommand(_ path: String, _ record: UpgradeRecord) -> String {
        guard let point = record.rollbackPoint else { return "`capstan backup restore -i \(path) --from NAME` (no rollback point was recorded; pick one from `capstan backup list`)" }
        return "capstan backup restore -i \(path) --from \(point.backup)"
    }
}
