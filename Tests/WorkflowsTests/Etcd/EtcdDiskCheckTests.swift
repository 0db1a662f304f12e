import Foundation
import Hosts
import Inventory
import Testing
@testable import Workflows

/// Test double: hosts whose only answer is the etcd-disk read: the free space of the data directory's file system and
/// whether a member's data is there. Any other command fails the test.
final class DiskModel: HostModel, @unchecked Sendable {
    struct Disk {
        /// Nil: df prints no line for the directory.
        var availableKiB: Int64?
        var member: Bool
    }

    let disks: [String: Disk]
    private let lock = NSLock()
    private var reads: [String: Int] = [:]

    init(_ disks: [String: Disk]) { self.disks = disks }

    var readCounts: [String: Int] { lock.withLock { reads } }

    func answer(_ host: String, _ line: String) -> CommandResult {
        // The survey's probe: the path, then its one command, whose output is printed under its index, then the end marker.
        guard let disk = disks[host], line.contains(EtcdDiskCheck.df("/var/lib/etcd").line), line.contains("/var/lib/etcd/member") else {
            Issue.record("unscripted command on \(host): \(line)")
            return CommandResult(exitStatus: 127, stdout: Data(), stderr: Data("not scripted".utf8))
        }
        lock.withLock { reads[host, default: 0] += 1 }
        let entry = disk.member ? "dir" : "absent"
        let df = disk.availableKiB.map { "/dev/vdb 20000000 100 \($0) 1% /var/lib\n" } ?? ""
        let text = "\n\(HostProbe.marker)\(entry) /var/lib/etcd/member\n\n\(HostProbe.marker)out 0\n" + df + "\n\(HostProbe.endMarker)\n"
        return CommandResult(exitStatus: 0, stdout: Data(text.utf8), stderr: Data())
    }
}

@Suite("etcd-disk: free space for each member's data before etcd is installed or restarted", .tags(.unit))
struct EtcdDiskCheckTests {
    static let gib: Int64 = 1 << 20 // in KiB

    func run(_ disks: [String: DiskModel.Disk]) async throws -> (DiskModel, CollectingOutput, (any Error)?) {
        let model = DiskModel(disks)
        let names = disks.keys.sorted()
        let inventory = Inventory(
            name: "lab", kubernetesVersion: SemanticVersion(1, 31, 4), controlPlane: ControlPlaneSpec(endpoint: nil),
            hosts: names.enumerated().map { HostSpec(name: $1, address: "10.213.0.\(11 + $0)", roles: [.controlPlane, .etcd]) })
        let settings = try EtcdWorkflowSettings(inventory: inventory, artifacts: ArtifactStore(origin: .localDirectory(NSTemporaryDirectory()), cacheDirectory: NSTemporaryDirectory()))
        let output = CollectingOutput()
        let ctx = WorkflowContext(mode: .apply, connector: ModelConnector { _ in model },
                                  endpoints: inventory.hosts.map { HostEndpoint(name: $0.name, address: $0.address, authentication: [.agent], knownHostsFile: "/dev/null") },
                                  output: output, now: { Date() })
        do {
            _ = try await PhaseRunner().run(Workflow(name: "apply", phases: [EtcdDiskCheck.phase(settings)]), in: ctx)
            return (model, output, nil)
        } catch {
            return (model, output, error)
        }
    }

    @Test("room for the data: each host read once, nothing said")
    func enough() async throws {
        let (model, output, error) = try await run(["h1": .init(availableKiB: 50 * Self.gib, member: true), "h2": .init(availableKiB: 9 * Self.gib, member: false)])
        #expect(error == nil, "\(String(describing: error))")
        #expect(model.readCounts == ["h1": 1, "h2": 1], "the survey's read is the check's")
        #expect(!output.events.contains { $0.kind == .warning })
    }

    @Test("a new member below 2 GiB and a running member below 256 MiB are refused, each by name; a member below the 8 GiB backend quota is warned about")
    func refusedAndWarned() async throws {
        let (_, output, error) = try await run([
            "h1": .init(availableKiB: 4 * Self.gib, member: true),
            "h2": .init(availableKiB: Self.gib, member: false),
            "h3": .init(availableKiB: 100 << 10, member: true),
            "h4": .init(availableKiB: 1 * Self.gib, member: true),
        ])
        guard case let .phaseFailed(phase, failures, _)? = error as? WorkflowError else {
            Issue.record("expected the phase to fail, got \(String(describing: error))")
            return
        }
        #expect(phase == "etcd-disk")
        #expect(failures.map(\.host).sorted() == ["h2", "h3"])
        let messages = Dictionary(uniqueKeysWithValues: failures.map { ($0.host, $0.message) })
        #expect(messages["h2"]?.contains("start the etcd member on h2") == true && messages["h2"]?.contains("1.0 GiB free for /var/lib/etcd, less than 2.0 GiB") == true, "\(messages)")
        #expect(messages["h3"]?.contains("change the etcd member on h3") == true && messages["h3"]?.contains("100.0 MiB free for /var/lib/etcd, less than 256.0 MiB") == true, "\(messages)")
        let warned = Set(output.events.filter { $0.kind == .warning }.compactMap(\.host))
        #expect(warned == ["h1", "h4"], "below the quota, not refused: \(output.events.map(\.message))")
    }

    @Test("a df that says nothing is a failure naming the host and the directory, not a pass")
    func unreadable() async throws {
        let (_, _, error) = try await run(["h1": .init(availableKiB: nil, member: false)])
        guard case let .phaseFailed(_, failures, _)? = error as? WorkflowError else {
            Issue.record("expected the phase to fail, got \(String(describing: error))")
            return
        }
        #expect(failures.map(\.host) == ["h1"])
        #expect(failures.first?.message.contains("read the free space of /var/lib/etcd") == true, "\(failures)")
    }
}
