import Foundation
import Testing
import Inventory
@testable import Planner

private let inventories = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("inventories")

private func example(_ name: String) throws -> Inventory {
    let result = InventoryLoader.load(path: inventories.appendingPathComponent("\(name).yaml").path, checkFiles: false)
    return try #require(result.inventory, "\(result.diagnostics)")
}

@Suite("Responsibility split")
struct ResponsibilitySplitTests {
    @Test("a self-managed cluster: Capstan owns every area")
    func selfManaged() throws {
        let split = ResponsibilitySplit(try example("bare-metal-ha"))
        #expect(split.entries.map(\.area) == Area.allCases)
        #expect(split.entries.allSatisfy { $0.owner == .capstan })
        #expect(split.entry(for: .backups)?.reason.contains("00/6") == true)
        #expect(split.entry(for: .etcd)?.reason.contains("3 member(s) on cp1, cp2, cp3") == true)
    }

    @Test("a managed cluster: the provider owns PKI, etcd, control plane and backups, with the reason")
    func managed() throws {
        let split = ResponsibilitySplit(try example("managed-workers"))
        #expect(split.owner(of: .pki) == .provider)
        #expect(split.owner(of: .etcd) == .provider)
        #expect(split.owner(of: .controlPlane) == .provider)
        #expect(split.owner(of: .backups) == .provider)
        #expect(split.owner(of: .workers) == .capstan)
        #expect(split.owner(of: .upgrades) == .shared)
        #expect(split.owner(of: .addons) == .shared)
        for area in [Area.pki, .etcd, .controlPlane, .backups] {
            #expect(split.entry(for: area)?.reason.contains("Amazon EKS") == true, "reason for \(area) names the provider")
        }
    }

    @Test("without a backup policy, backups are on demand only")
    func noBackupPolicy() throws {
        var inv = try example("bare-metal-ha")
        inv.etcd.backup = nil
        #expect(ResponsibilitySplit(inv).entry(for: .backups)?.reason.contains("on demand only") == true)
    }
}

@Suite("Phase selection")
struct PhaseSelectionTests {
    @Test("stacked control-plane hosts run etcd, backups and the control plane; workers only node phases")
    func stacked() throws {
        let sel = PhaseSelection(try example("bare-metal-ha"))
        #expect(sel.phases(of: "cp1") == [.artifacts, .pki, .etcd, .backupSchedule, .controlPlane, .containerRuntime, .podNetwork, .kubelet, .kubeProxy])
        #expect(sel.phases(of: "worker1") == [.artifacts, .pki, .containerRuntime, .podNetwork, .kubelet, .kubeProxy])
        #expect(sel.hosts.count == 7)
    }

    @Test("external etcd hosts run only etcd work; control-plane hosts no etcd")
    func external() throws {
        let sel = PhaseSelection(try example("external-etcd"))
        #expect(sel.phases(of: "etcd1") == [.artifacts, .pki, .etcd, .backupSchedule])
        #expect(!sel.phases(of: "cp1").contains(.etcd))
        #expect(sel.phases(of: "cp1").contains(.controlPlane))
    }

    @Test("managed workers join with the provider's credentials and get no PKI, etcd or kube-proxy phase")
    func managed() throws {
        let inv = try example("managed-workers")
        let sel = PhaseSelection(inv)
        for h in inv.hosts {
            #expect(sel.phases(of: h.name) == [.artifacts, .join, .containerRuntime, .podNetwork, .kubelet])
        }
        #expect(sel.clusterPhases == ["add-ons (capstan addons apply --kubeconfig FILE)"])
    }

    @Test("the lab: every host is control-plane and etcd; h3 also a worker")
    func lab() throws {
        let sel = PhaseSelection(try example("lab"))
        #expect(sel.hosts.map(\.host) == ["h1", "h2", "h3"])
        #expect(sel.hosts.allSatisfy { $0.phases.contains(.etcd) && $0.phases.contains(.backupSchedule) })
        #expect(sel.hosts[2].roles == ["control-plane", "etcd", "worker"])
    }
}
