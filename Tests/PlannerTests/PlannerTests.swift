import Foundation
import Testing
import TestSupport
import Inventory
@testable import Planner

private let inventories = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("inventories")

private func example(_ name: String) throws -> Inventory {
    let result = InventoryLoader.load(path: inventories.appendingPathComponent("\(name).yaml").path, checkFiles: false)
    return try #require(result.inventory, "\(result.diagnostics)")
}

@Suite("Responsibility split", .tags(.unit))
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

@Suite("Cluster-level work in the plan", .tags(.unit))
struct ClusterLevelWorkTests {
    @Test("self-managed: apply's cluster-objects phase with what the inventory asks for; managed: the provider's API")
    func summary() throws {
        #expect(ClusterLevelWork.summary(try example("bare-metal-ha")) == ["cluster-objects: bootstrap RBAC, CoreDNS (server-side apply, pruned when dropped)"])
        #expect(ClusterLevelWork.summary(try example("managed-workers")) == ["add-ons (capstan addons apply --kubeconfig FILE)"])
    }
}
