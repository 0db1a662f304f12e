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
        let path = inventoryOption.inventory
        let operation = options.operation(inventory)
        guard let plan = try await operation.planRollback(in: context) else {
            printError("Error: no upgrade recorded in \(StateDirectory(inventory: inventory).path(UpgradeRecord.fileName)); nothing to roll back")
            throw ExitCode(1)
        }
        guard !plan.isEmpty else {
            print("every host runs what it ran before the upgrade\(plan.etcdPrevious.map { " (etcd \($0))" } ?? ""): nothing to roll back")
            return
        }
        if plan.etcdRefused, let previous = plan.etcdPrevious, let clusterVersion = plan.etcdClusterVersion {
            printError("""
                Error: the etcd cluster version is \(clusterVersion.major).\(clusterVersion.minor) (every member runs \(clusterVersion.major).\(clusterVersion.minor)); \
                etcd cannot move its data back to \(previous.major).\(previous.minor), so the binaries cannot simply be swapped back.
                Restore the rollback point taken before the upgrade instead (writes since then are lost):
                  1. set etcd.version: \(previous) in \(path)
                  2. \(restoreCommand(path, plan.record))
                """)
            throw ExitCode(1)
        }
        let what = plan.moves
        guard try options.confirm("upgrade rollback", "Return \(what.joined(separator: "; "))") else { return }
        let record: UpgradeRecord
        do { record = try await operation.rollback(plan, in: context) } catch let stop as UpgradeStopped {
            switch stop.part {
            case .etcdRollback: printError("Error: \(stop)\nre-run `capstan upgrade rollback -i \(path)` once fixed, or \(restoreCommand(path, plan.record))")
            default: printError("Error: \(stop)\nre-run `capstan upgrade rollback -i \(path) --yes` once fixed (hosts already back are left alone)")
            }
            throw ExitCode(1)
        }
        let versions = Set((record.previousKubernetes ?? [:]).values).sorted().map { "v" + $0 }
        print("rolled back: \(what.joined(separator: "; ")); the inventory should say \(versions.isEmpty ? "" : "spec.kubernetesVersion: \(versions.joined(separator: "/"))")\(plan.etcdPrevious.map { " etcd.version: \($0)" } ?? "") in \(path)")
    }

    func restoreCommand(_ path: String, _ record: UpgradeRecord) -> String {
        guard let point = record.rollbackPoint else { return "`capstan backup restore -i \(path) --from NAME` (no rollback point was recorded; pick one from `capstan backup list`)" }
        return "capstan backup restore -i \(path) --from \(point.backup)"
    }
}
