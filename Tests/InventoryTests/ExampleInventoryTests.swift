import Foundation
import Testing
import TestSupport
@testable import Inventory

@Suite("Example inventories", .tags(.unit))
struct ExampleInventoryTests {
    /// Warnings each example is known to produce; anything else fails the test.
    static let expectedWarnings: [String: [String]] = [:]

    @Test("every file in inventories/ validates without errors and only with its known warnings", arguments: TestPaths.yamlFiles(in: TestPaths.inventories))
    func validates(name: String) throws {
        let result = InventoryLoader.load(path: TestPaths.inventories.appendingPathComponent(name).path, checkFiles: false)
        #expect(result.errors.isEmpty, "\(result.errors.map(\.description))")
        let expected = Self.expectedWarnings[name] ?? []
        #expect(result.warnings.count == expected.count, "\(result.warnings.map(\.description))")
        for prefix in expected {
            #expect(result.warnings.contains { $0.message.hasPrefix(prefix) }, "missing warning \(prefix)")
        }
        let inv = try #require(result.inventory)
        #expect(!inv.hosts.isEmpty)
    }

    @Test("inventories/ holds the lab, bare-metal HA, external etcd and managed examples")
    func requiredExamplesExist() {
        let files = Set(TestPaths.yamlFiles(in: TestPaths.inventories))
        #expect(files.isSuperset(of: ["lab.yaml", "bare-metal-ha.yaml", "external-etcd.yaml", "managed-workers.yaml"]))
    }

    @Test("the bare-metal HA example has 3 control-plane+etcd hosts, at least 3 workers and a bastion")
    func bareMetalShape() throws {
        let inv = try #require(InventoryLoader.load(path: TestPaths.inventories.appendingPathComponent("bare-metal-ha.yaml").path, checkFiles: false).inventory)
        #expect(inv.controlPlaneHosts.count == 3)
        #expect(inv.controlPlaneHosts.allSatisfy { $0.has(.etcd) })
        #expect(inv.workerHosts.count >= 3)
        #expect(inv.ssh.bastion?.address == "bastion.example.com")
        #expect(inv.etcd.backup?.destination == .sftp(host: "backup.example.com", port: 22, user: "etcd-backup", path: "/srv/backups/prod-eu1"))
    }

    @Test("the external-etcd example has dedicated etcd hosts; the managed example only workers")
    func topologies() throws {
        let ext = try #require(InventoryLoader.load(path: TestPaths.inventories.appendingPathComponent("external-etcd.yaml").path, checkFiles: false).inventory)
        #expect(ext.etcd.topology == .external)
        #expect(ext.etcdHosts.count == 3 && ext.etcdHosts.allSatisfy { !$0.has(.controlPlane) })
        let managed = try #require(InventoryLoader.load(path: TestPaths.inventories.appendingPathComponent("managed-workers.yaml").path, checkFiles: false).inventory)
        #expect(managed.controlPlane.mode == .managed)
        #expect(managed.controlPlane.managed?.provider == .eks)
        #expect(managed.hosts.allSatisfy { $0.roles == [.worker] })
    }
}
