import ArgumentParser
import Foundation
import Hosts
import Inventory
import PKI
import Workflows

struct UpgradeRollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rollback", abstract: "Return etcd/control plane to the previous binaries.")
    @OptionGroup var inventoryOption: InventoryOption
    @OptionGroup var outputOption: OutputOption
    @Flag(name: .long, help: "Do not ask before starting.") var yes = false
    @Option(name: .customLong("health-timeout"), help: "Seconds to wait for etcd health after each restart.") var healthTimeout: Double = 60

    func run() async throws {
        let (inventory, _) = try inventoryOption.load()
        let output = LiveContext.output(outputOption.output)
        let (context, connector) = LiveContext.make(inventory: inventory, mode: .apply, options: WorkflowOptions(), output: output, now: { Date() })
        do {
            try await body(inventory, context)
        } catch {
            await context.closeAll(); await connector.closeAll()
            throw error
        }
        await context.closeAll(); await connector.closeAll()
    }

    func body(_ inventory: Inventory, _ context: WorkflowContext) async throws {
        let state = StateDirectory(inventory: inventory)
        let path = inventoryOption.inventory
        guard var record = try UpgradeRecord.load(from: state) else {
            printError("Error: no upgrade recorded in \(state.path(UpgradeRecord.fileName)); nothing to roll back")
            throw ExitCode(1)
        }
        guard let previous = record.previousEtcd.values.compactMap({ SemanticVersion(parsing: $0) }).min() else {
            printError("Error: \(UpgradeRecord.fileName) names no previous etcd version; restore from the rollback point instead: \(restoreCommand(path, record))")
            throw ExitCode(1)
        }
        let survey = try await UpgradeSurvey.read(inventory, in: context)
        let running = EtcdVersionGate.running(hosts: survey.etcdHosts, cluster: survey.cluster)
        let moved = survey.spec.memberNames.filter { running[$0].map { $0 != previous } ?? false }
        guard !moved.isEmpty else {
            print("every etcd member runs \(previous) already: nothing to roll back")
            return
        }
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
        if !yes {
            guard isatty(STDIN_FILENO) == 1 else { printError("Error: not a terminal; pass --yes to roll back"); throw ExitCode(1) }
            print("Return \(moved.joined(separator: ", ")) to etcd \(previous)? [y/N] ", terminator: "")
            guard readLine()?.lowercased() == "y" else { throw ExitCode(1) }
        }
        var back = inventory
        back.etcd.version = previous
        let settings = try EtcdWorkflowSettings(inventory: back, artifacts: try LiveContext.artifactStore(for: inventory),
                                                healthTimeoutSeconds: healthTimeout, allowVersionChange: true)
        print("returning \(moved.joined(separator: ", ")) to etcd \(previous), one member at a time")
        do {
            _ = try await PhaseRunner().run(Workflow(name: "rollback", phases: EtcdWorkflow.phases(settings)), in: context)
        } catch {
            printError("Error: the rollback stopped: \(error)\nre-run `capstan upgrade rollback -i \(path)` once fixed, or \(restoreCommand(path, record))")
            throw ExitCode(1)
        }
        record.status = .rolledBack
        record.updatedAt = Date()
        try record.save(to: state)
        print("rolled back: etcd \(previous) on \(moved.joined(separator: ", ")); set etcd.version: \(previous) in \(path)")
    }

    func restoreCommand(_ path: String, _ record: UpgradeRecord) -> String {
        guard let point = record.rollbackPoint else { return "`capstan backup restore -i \(path) --from NAME` (no rollback point was recorded; pick one from `capstan backup list`)" }
        return "capstan backup restore -i \(path) --from \(point.backup)"
    }
}
