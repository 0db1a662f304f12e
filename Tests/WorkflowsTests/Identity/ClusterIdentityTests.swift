import Foundation
import Hosts
import Inventory
import PKI
import Testing
import TestSupport
@testable import Workflows

/// Fake hosts (each a directory tree behind `RootedHost`) and real PKIs in temporary state directories.
private struct IdentityFixture {
    let base: String
    let inventory: Inventory
    var hostNames: [String] { inventory.hosts.map(\.name) }

    init() throws {
        base = try makeTemp()
        let hosts = [
            HostSpec(name: "cp1", address: "10.0.0.1", roles: [.controlPlane, .etcd]),
            HostSpec(name: "cp2", address: "10.0.0.2", roles: [.controlPlane, .etcd]),
            HostSpec(name: "w1", address: "10.0.1.1", roles: [.worker]),
        ]
        inventory = Inventory(name: "prod", kubernetesVersion: SemanticVersion(1, 31, 4),
                              controlPlane: ControlPlaneSpec(endpoint: "10.0.0.1:6443"), hosts: hosts,
                              sourcePath: base + "/inventory.yaml")
    }

    func state(_ name: String) -> StateDirectory { StateDirectory(root: base + "/states/" + name) }

    /// A state directory holding a complete PKI.
    func pki(_ name: String) async throws -> StateDirectory {
        let state = state(name)
        _ = try await PKIManager(inventory: inventory, state: state).apply(now: Date())
        return state
    }

    func context(_ mode: WorkflowMode) -> WorkflowContext {
        WorkflowContext(mode: mode, connector: LocalTreeConnector(base: base + "/hosts"), endpoints: hostNames.map(endpoint),
                        output: CollectingOutput(), now: fixedNow)
    }

    /// Places on every host the files `state` gives it, as `apply` would, and the record when given.
    func install(_ state: StateDirectory, record: ClusterRecord?) throws {
        let files = try ClusterFiles(inventory: inventory, state: state)
        for host in inventory.hosts {
            for file in try files.files(for: host) { try put(host.name, file.path, file.content) }
            if let record { try put(host.name, ClusterRecord.hostPath, try record.encoded()) }
        }
    }

    func put(_ host: String, _ path: String, _ data: Data) throws {
        let full = base + "/hosts/" + host + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: full))
    }

    func read(_ host: String, _ path: String) -> Data? { FileManager.default.contents(atPath: base + "/hosts/" + host + path) }

    /// Every file under the fake hosts with its bytes: compared before and after a refused run.
    func snapshot() -> [String: Data] {
        var out: [String: Data] = [:]
        let root = base + "/hosts"
        guard let walker = FileManager.default.enumerator(atPath: root) else { return out }
        for case let path as String in walker {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDir), !isDir.boolValue {
                out[path] = FileManager.default.contents(atPath: root + "/" + path)
            }
        }
        return out
    }

    func phase(_ state: StateDirectory, _ mode: WorkflowMode) async throws -> RunReport {
        try await PhaseRunner().run(Workflow(name: "apply", phases: [ClusterIdentityGuard.phase(inventory: inventory, state: state)]), in: context(mode))
    }
}

@Suite("Cluster identity: never act on another cluster's hosts", .tags(.unit))
struct ClusterIdentityTests {
    @Test("a new cluster: plan writes nothing; apply records a UID in the state and on every host; a re-run changes nothing")
    func newCluster() async throws {
        let f = try IdentityFixture()
        defer { try? FileManager.default.removeItem(atPath: f.base) }
        let state = try await f.pki("prod")
        let planned = try await f.phase(state, .plan)
        #expect(planned.actions.map(\.host).sorted() == ["cp1", "cp2", "state", "w1"])
        #expect(try state.clusterRecord() == nil)
        #expect(f.read("cp1", ClusterRecord.hostPath) == nil)

        _ = try await f.phase(state, .apply)
        let record = try #require(try state.clusterRecord())
        for host in f.hostNames { #expect(f.read(host, ClusterRecord.hostPath) == (try record.encoded())) }
        #expect(try await f.phase(state, .apply).actions.isEmpty)
    }

    @Test("an empty state directory in front of hosts that carry a cluster is refused before anything is written")
    func emptyStateRefused() async throws {
        let f = try IdentityFixture()
        defer { try? FileManager.default.removeItem(atPath: f.base) }
        let original = try await f.pki("prod")
        try f.install(original, record: ClusterRecord(cluster: "prod", uid: "11111111-2222-3333-4444-555555555555"))
        let before = f.snapshot()
        let copy = f.state("copy")
        for mode in [WorkflowMode.plan, .apply] {
            await #expect {
                _ = try await f.phase(copy, mode)
            } throws: { error in
                guard case WorkflowError.identityMismatch(let text) = error else { return false }
                return text.contains("uid 11111111-2222-3333-4444-555555555555") && text.contains("no PKI")
                    && text.contains("--state-dir") && text.contains("state import") && text.contains("cp1:") && text.contains("w1:")
            }
        }
        #expect(f.snapshot() == before)
        #expect(!FileManager.default.fileExists(atPath: copy.root))
    }

    @Test("another cluster's state directory is refused with both CA fingerprints")
    func otherStateRefused() async throws {
        let f = try IdentityFixture()
        defer { try? FileManager.default.removeItem(atPath: f.base) }
        let original = try await f.pki("prod")
        try f.install(original, record: ClusterRecord(cluster: "prod", uid: "aaaaaaaa-0000-0000-0000-000000000001"))
        let other = try await f.pki("other")
        try other.saveClusterRecord(ClusterRecord(cluster: "prod", uid: "bbbbbbbb-0000-0000-0000-000000000002"))
        let before = f.snapshot()
        let hostCA = try certificateFingerprints(pem: String(decoding: try #require(f.read("cp1", "/etc/kubernetes/pki/etcd/ca.crt")), as: UTF8.self))[0]
        let stateCA = try certificateFingerprints(pem: String(decoding: try #require(try other.read("pki/etcd/ca.crt")), as: UTF8.self))[0]
        await #expect {
            _ = try await f.phase(other, .apply)
        } throws: { error in
            guard case WorkflowError.identityMismatch(let text) = error else { return false }
            return text.contains(String(hostCA.prefix(23))) && text.contains(String(stateCA.prefix(23)))
                && text.contains("uid aaaaaaaa-0000-0000-0000-000000000001") && text.contains("bbbbbbbb-0000-0000-0000-000000000002")
        }
        #expect(f.snapshot() == before)
    }

    @Test("each CA planted on one host is refused, with no file changed", arguments: ["/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/front-proxy-ca.crt", "/etc/kubernetes/pki/etcd/ca.crt"])
    func plantedCA(path: String) async throws {
        let f = try IdentityFixture()
        defer { try? FileManager.default.removeItem(atPath: f.base) }
        let state = try await f.pki("prod")
        _ = try await f.phase(state, .apply)
        try f.install(state, record: try state.clusterRecord())
        let stranger = try await f.pki("stranger")
        try f.put("cp2", path, try #require(try stranger.read("pki/etcd/ca.crt")))
        let before = f.snapshot()
        await #expect {
            _ = try await f.phase(state, .apply)
        } throws: { error in
            guard case WorkflowError.identityMismatch(let text) = error else { return false }
            return text.contains("cp2: \(path) holds CA") && !text.contains("cp1: ")
        }
        #expect(f.snapshot() == before)
    }

    @Test("a mix of new hosts and hosts of another cluster is refused; new hosts beside this cluster's are welcome")
    func mixes() async throws {
        let f = try IdentityFixture()
        defer { try? FileManager.default.removeItem(atPath: f.base) }
        let state = try await f.pki("prod")
        // Interrupted first run: the state and cp1 carry the record, cp2 and w1 are still bare.
        let record = ClusterRecord(cluster: "prod", uid: "cccccccc-0000-0000-0000-000000000003")
        try state.saveClusterRecord(record)
        try f.put("cp1", ClusterRecord.hostPath, try record.encoded())
        let report = try await f.phase(state, .apply)
        #expect(report.actions.map(\.host).sorted() == ["cp2", "w1"])
        // A host of another cluster among them.
        try f.put("w1", ClusterRecord.hostPath, try ClusterRecord(cluster: "prod", uid: "dddddddd-0000-0000-0000-000000000004").encoded())
        let fresh = f.state("fresh")
        await #expect(throws: WorkflowError.self) { _ = try await f.phase(fresh, .apply) }
        await #expect(throws: WorkflowError.self) { _ = try await f.phase(state, .apply) }
    }

    @Test("hosts converged before records existed are adopted when every CA they hold is trusted")
    func adoptsUnrecordedHosts() async throws {
        let f = try IdentityFixture()
        defer { try? FileManager.default.removeItem(atPath: f.base) }
        let state = try await f.pki("prod")
        try f.install(state, record: nil)
        _ = try await f.phase(state, .apply)
        let record = try #require(try state.clusterRecord())
        #expect(f.read("w1", ClusterRecord.hostPath) == (try record.encoded()))
    }

    @Test("a CA rotation in progress trusts both CAs")
    func rotationTrustsBoth() async throws {
        let f = try IdentityFixture()
        defer { try? FileManager.default.removeItem(atPath: f.base) }
        let state = try await f.pki("prod")
        _ = try await f.phase(state, .apply)
        try f.install(state, record: try state.clusterRecord())
        let manager = PKIManager(inventory: f.inventory, state: state)
        _ = try manager.beginCARotation(.etcd, now: Date())
        // cp1 already holds the bundle old + new, cp2 still the old CA only: both are this cluster.
        try f.put("cp1", "/etc/kubernetes/pki/etcd/ca.crt", try #require(try state.read("pki/etcd/ca.crt")))
        #expect(try await f.phase(state, .apply).actions.isEmpty)
    }

    @Test("state import rebuilds the state from the hosts: every file the hosts hold comes back byte for byte, and the PKI plans nothing for them")
    func stateImport() async throws {
        let f = try IdentityFixture()
        defer { try? FileManager.default.removeItem(atPath: f.base) }
        let original = try await f.pki("prod")
        _ = try await f.phase(original, .apply)
        try f.install(original, record: try original.clusterRecord())
        let imported = f.state("imported")
        let report = try await StateImport.run(inventory: f.inventory, state: imported, from: "cp1", in: f.context(.apply))
        #expect(report.record == (try original.clusterRecord()))
        #expect(report.unreachable.isEmpty)
        #expect(report.missing.contains { $0.hasPrefix("pki/etcd/ca.key") })
        // Every state file that reached a host is back, identical.
        let required = try CertificateCatalog.required(for: f.inventory)
        for host in f.inventory.hosts {
            for file in PKIManager.hostFiles(for: host, required: required, inventory: f.inventory) {
                #expect(try imported.read(file.statePath) == (try original.read(file.statePath)), "\(file.statePath)")
            }
        }
        #expect(try imported.read("pki/etcd/ca.key") == nil)
        let plan = try PKIManager(inventory: f.inventory, state: imported).plan(now: Date())
        #expect(plan.authoritiesToCreate.isEmpty)
        #expect(plan.reissues.map(\.certificate.id) == ["super-admin.conf"])
        #expect(plan.needsSigning.isEmpty)
        // The imported state is this cluster: the identity phase changes nothing.
        #expect(try await f.phase(imported, .apply).actions.isEmpty)
        // Importing again over a state that holds a cluster is refused.
        await #expect(throws: WorkflowError.self) {
            _ = try await StateImport.run(inventory: f.inventory, state: imported, from: "cp1", in: f.context(.apply))
        }
    }

    @Test("state import refuses a worker as source and hosts without a record")
    func stateImportRefusals() async throws {
        let f = try IdentityFixture()
        defer { try? FileManager.default.removeItem(atPath: f.base) }
        let original = try await f.pki("prod")
        try f.install(original, record: nil)
        await #expect(throws: WorkflowError.self) {
            _ = try await StateImport.run(inventory: f.inventory, state: f.state("a"), from: "w1", in: f.context(.apply))
        }
        await #expect(throws: WorkflowError.self) {
            _ = try await StateImport.run(inventory: f.inventory, state: f.state("b"), from: "cp1", in: f.context(.apply))
        }
        #expect(!FileManager.default.fileExists(atPath: f.state("b").root + "/pki"))
    }
}
