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
        // One name per phase: --skip-phase and spec.concurrency.phases select by name.
        #expect(Set(phases.map(\.name)).count == phases.count, "\(phases.map(\.name))")
        // `apply --only` selects by part: each phase says its own.
        let parts = Dictionary(phases.map { ($0.name, $0.part) }, uniquingKeysWith: { a, _ in a })
        for (name, part) in parts {
            let expected: Phase.Part = name == "pki" || name == "certs-renew" ? .pki : name.hasPrefix("etcd-") ? .etcd
                : name == "backup-schedule" ? .backup : name.hasPrefix("pod-") ? .network : .kubernetes
            #expect(part == expected, "\(name) belongs to \(part)")
        }
        return (inventory, ClusterPhases.layout(phases, hosts: inventory.hosts.map(\.name)))
    }

    @Test("stacked: control-plane hosts run etcd, the backup timer and the control plane; workers only node phases; the PKI is local")
    func stacked() throws {
        let (_, layout) = try layout("bare-metal-ha")
        #expect(layout.names == ["cluster-identity", "pki", "etcd-facts", "etcd-disk", "etcd-artifacts", "etcd-install",
                                 "etcd-membership", "etcd-rolling-restart", "etcd-start", "etcd-health", "backup-schedule", "kubernetes-version",
                                 "kubernetes-artifacts", "node-preflight", "node-kernel", "node-runtime", "pod-subnets", "pod-network",
                                 "node-images", "control-plane", "control-plane-vip", "node-balancer", "node-kubelet", "cluster-objects"])
        #expect(layout.local == ["pki"])
        let cp1 = try #require(layout.perHost["cp1"])
        #expect(cp1.first == ClusterIdentityGuard.phaseName)
        for name in layout.names.filter({ $0.hasPrefix("etcd-") }) + ["backup-schedule", "control-plane", "node-runtime", "pod-network", "node-kubelet", "cluster-objects"] {
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

/// `spec.concurrency.phases` names phases, so its names are checked against the phases built for the
/// inventory (`ClusterPhases.catalog`), at the place each setting is written.
@Suite("spec.concurrency.phases: checked against the inventory's phases", .tags(.unit))
struct ConcurrencyPhaseNameTests {
    static func inventory(_ phases: String) -> String {
        """
        apiVersion: capstan.dev/v1alpha1
        kind: Cluster
        metadata:
          name: test
        spec:
          kubernetesVersion: v1.32.2
          concurrency:
            phases:
        \(phases)
          hosts:
            - name: h1
              address: 10.0.0.1
              roles: [control-plane, etcd, worker]
        """
    }

    @Test("a misspelt phase, a phase of another kind of cluster and a setting for a phase that changes one host at a time are errors at their place; 1 for a phase that runs once is not")
    func problems() throws {
        let text = Self.inventory("""
                  node-runtim: 10
                  control-plane: 3
                  etcd-membership: 1
                  node-images: 5
                  managed-join: 2
            """)
        let parsed = InventoryLoader.load(text: text, path: "c.yaml", checkFiles: false)
        #expect(parsed.errors.isEmpty, "the parser takes any phase name: \(parsed.diagnostics)")
        let result = parsed.checkingPhaseNames()
        #expect(result.inventory == nil)
        let parallel = "etcd-disk, etcd-install, node-preflight, node-kernel, node-runtime, pod-network, node-images, control-plane-vip, node-balancer, node-kubelet, node-teardown"
        let lines = result.diagnostics.map(\.description)
        #expect(lines.count == 3, "\(lines)")
        #expect(lines.first == "c.yaml:9:7: error: spec.concurrency.phases: unknown key 'node-runtim'; did you mean 'node-runtime'?")
        #expect(lines.dropFirst().first == "c.yaml:10:22: error: spec.concurrency.phases.control-plane: the phase changes one host at a time so the API servers and etcd keep quorum; remove this setting (phases that work on hosts in parallel: \(parallel))")
        #expect(lines.last?.hasPrefix("c.yaml:13:7: error: spec.concurrency.phases: unknown key 'managed-join' (expected one of: cluster-identity, pki, etcd-facts,") == true, "\(lines)")
    }

    @Test("settings for phases this inventory has load as written, and the engine takes them by name")
    func accepted() throws {
        let result = InventoryLoader.load(text: Self.inventory("      node-runtime: 2\n      etcd-health: 1"), path: "c.yaml", checkFiles: false).checkingPhaseNames()
        let inventory = try #require(result.inventory, "\(result.diagnostics)")
        #expect(inventory.concurrency.phases == ["node-runtime": 2, "etcd-health": 1])
        #expect(inventory.concurrency.limit(for: "node-runtime") == 2 && inventory.concurrency.limit(for: "node-kubelet") == nil)
    }
}
