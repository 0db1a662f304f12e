import Foundation
import Inventory
import Testing
import TestSupport
@testable import Workflows

/// `ClusterPhases` is the one list of apply's phases: the plan's per-host names and `--skip-phase` come from it.
@Suite("ClusterPhases: apply's phases per host, by the names --skip-phase takes", .tags(.unit))
struct ClusterPhasesTests {
    func layout(_ name: String) throws -> (Inventory, ClusterPhases.Layout) {
        let path = StrictStandin.repository.appendingPathComponent("inventories/\(name).yaml").path
        let inventory = try InventoryLoader.loadOrThrow(path: path, checkFiles: false).0
        let phases = try ClusterPhases(inventory: inventory, artifacts: ArtifactStore(for: inventory),
                                       backupStore: { throw WorkflowError.internalInvariant("no store in this test") }).all()
        // Every phase apply runs is named from the one list of phase names.
        #expect(phases.allSatisfy { PhaseName(rawValue: $0.name) != nil }, "\(phases.map(\.name))")
        // The inventory's spec.concurrency.phases takes exactly the phases that work on hosts in parallel.
        for phase in phases {
            let parallel = if case .parallel = phase.execution { true } else { false }
            #expect(PhaseName(rawValue: phase.name)?.worksOnHostsInParallel == parallel, "\(phase.name): \(phase.execution)")
        }
        return (inventory, ClusterPhases.layout(phases, hosts: inventory.hosts.map(\.name)))
    }

    @Test("stacked: control-plane hosts run etcd, the backup timer and the control plane; workers only node phases; the PKI is local")
    func stacked() throws {
        let (_, layout) = try layout("bare-metal-ha")
        #expect(layout.names == ClusterPhases.selfManagedNames, "the help's list is the list apply runs")
        #expect(layout.local == ["pki"])
        let cp1 = try #require(layout.perHost["cp1"])
        #expect(cp1.first == ClusterIdentityGuard.phaseName)
        for name in EtcdWorkflow.phaseNames + ["backup-schedule", "control-plane", "node-runtime", "pod-network", "node-kubelet", "cluster-objects"] {
            #expect(cp1.contains(name), "cp1 lacks \(name): \(cp1)")
        }
        let worker = try #require(layout.perHost["worker1"])
        #expect(!worker.contains { $0.hasPrefix("etcd-") } && !worker.contains("control-plane") && !worker.contains("backup-schedule"))
        #expect(worker.contains("node-kubelet") && worker.contains("node-runtime") && worker.contains("pod-network"))
        // Every name shown is one the runner accepts in --skip-phase, and in apply's order.
        for (_, names) in layout.perHost {
            #expect(names.allSatisfy(layout.names.contains))
            #expect(names == layout.names.filter(names.contains))
        }
    }

    @Test("external etcd: etcd hosts run only etcd work and the backup timer; control-plane hosts no etcd phase")
    func external() throws {
        let (_, layout) = try layout("external-etcd")
        let etcd1 = try #require(layout.perHost["etcd1"])
        #expect(etcd1.contains("etcd-install") && etcd1.contains("backup-schedule") && !etcd1.contains("node-kubelet") && !etcd1.contains("control-plane"))
        let cp1 = try #require(layout.perHost["cp1"])
        #expect(cp1.contains("control-plane") && !cp1.contains("etcd-install"))
    }

    @Test("managed workers: no PKI, etcd or control plane; they join with the provider's credentials")
    func managed() throws {
        let (inventory, layout) = try layout("managed-workers")
        #expect(layout.local.isEmpty)
        for host in inventory.hosts {
            let names = try #require(layout.perHost[host.name])
            #expect(names.contains(ManagedJoin.phaseName) && names.contains("node-runtime"))
            #expect(!names.contains { $0.hasPrefix("etcd-") || $0 == "pki" || $0 == "control-plane" || $0 == "node-kubelet" })
        }
    }
}
