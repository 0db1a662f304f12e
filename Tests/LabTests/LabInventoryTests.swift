import Foundation
import Testing
import TestSupport
@testable import Lab

@Suite("Lab inventory and naming", .tags(.lab))
struct LabInventoryTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the inventory `lab up` writes for the default 3-host lab is inventories/lab.yaml, byte for byte")
    func defaultInventoryMatchesExample() throws {
        let example = try String(contentsOf: Self.repositoryRoot.appendingPathComponent("inventories/lab.yaml"), encoding: .utf8)
        let generated = LabInventory.text(layout: LabLayout(name: "default", subnetIndex: 0), hostCount: 3)
        #expect(generated == example)
    }

    @Test("roles: first three hosts (one when fewer) run control plane and etcd, the rest are workers, and there is always a worker")
    func rolesSpread() {
        #expect(LabInventory.roles(host: 1, of: 1) == ["control-plane", "etcd", "worker"])
        #expect(LabInventory.roles(host: 1, of: 2) == ["control-plane", "etcd"])
        #expect(LabInventory.roles(host: 2, of: 2) == ["worker"])
        #expect(LabInventory.roles(host: 3, of: 3) == ["control-plane", "etcd", "worker"])
        #expect((1...5).map { LabInventory.roles(host: $0, of: 5) } == [
            ["control-plane", "etcd"], ["control-plane", "etcd"], ["control-plane", "etcd"], ["worker"], ["worker"],
        ])
    }

    @Test("a named lab gets its own subnet, paths and cluster name in its inventory")
    func namedLabInventory() {
        let text = LabInventory.text(layout: LabLayout(name: "ci", subnetIndex: 4), hostCount: 5)
        #expect(text.contains("name: lab-ci\n"))
        #expect(text.contains("endpoint: 10.213.4.11:6443"))
        #expect(text.contains("address: 10.213.4.15\n"))
        #expect(text.contains("identityFile: /var/lib/capstan/lab/ci/id_ed25519\n"))
        #expect(!text.contains("/lab/default"))
    }

    @Test("Debian package versions map to upstream release versions")
    func upstreamVersions() {
        #expect(LabArtifacts.upstreamVersion(debianVersion: "3.4.23-4+b4") == "3.4.23")
        #expect(LabArtifacts.upstreamVersion(debianVersion: "1.6.20~ds1-1+deb12u3") == "1.6.20")
        #expect(LabArtifacts.upstreamVersion(debianVersion: "1.1.5+ds1-1+deb12u1") == "1.1.5")
        #expect(LabArtifacts.upstreamVersion(debianVersion: "1:2.0-1") == "2.0")
    }

    @Test("lab names are checked, and every interface name they produce fits the kernel's 15 bytes")
    func names() throws {
        #expect(throws: LabError.self) { try LabLayout.validate(name: "") }
        #expect(throws: LabError.self) { try LabLayout.validate(name: "Has Space") }
        #expect(throws: LabError.self) { try LabLayout.validate(name: "twelve-chars") }
        #expect(throws: LabError.self) { try LabLayout.validate(name: "-x") }
        try LabLayout.validate(name: "eleven-char")
        let layout = LabLayout(name: "eleven-char", subnetIndex: 254)
        #expect(layout.machineInterface.utf8.count <= 15)
        #expect(layout.bridgePort("h50").utf8.count <= 15)
        #expect(!layout.hostNamespace("h1").hasPrefix(LabLayout(name: "eleven", subnetIndex: 1).labNamespace + "."))
    }

    @Test("the base image recipe hash is stable and names the cached tarball")
    func baseImageHash() throws {
        let a = try BaseImage.current()
        let b = try BaseImage.current()
        #expect(a.recipeHash == b.recipeHash)
        #expect(a.recipeHash.count == 16)
        #expect(a.tarball == "/var/cache/capstan/lab/base-\(a.recipeHash).tar.zst")
    }
}
