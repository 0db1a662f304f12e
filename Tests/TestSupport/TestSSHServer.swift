import Foundation
import Hosts
#if canImport(Glibc)
import Glibc
#endif

/// Runs a shell command line for test setup; returns stdout, throws with stderr on failure.
@discardableResult
public func sh(_ line: String, environment: [String: String] = [:]) throws -> String {
    let run = try runProgram(["/bin/sh", "-c", line], environment: environment)
    guard run.succeeded else { throw SetupError(message: "`\(line)` exited \(run.status): \(run.stderr)") }
    return run.stdout
}

public struct SetupError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// A temporary directory removed when this object goes away.
public final class TempDir: @unchecked Sendable {
    public let path: String

    public init() throws {
        path = try sh("mktemp -d /tmp/capstan-ssh-test.XXXXXX").trimmingCharacters(in: .whitespacesAndNewlines)
        _ = chmod(path, 0o755)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { path + "/" + name }
}

/// A client key pair made with ssh-keygen.
public struct TestKey: Sendable {
    public var privatePath: String
    public var publicLine: String

    public static func make(_ type: String, in dir: TempDir, name: String, passphrase: String = "") throws -> TestKey {
        let path = dir.file(name)
        let bits = type == "ecdsa" ? "-b 256" : type == "rsa" ? "-b 2048" : ""
        try sh("ssh-keygen -q -t \(type) \(bits) -N '\(passphrase)' -C test -f '\(path)'")
        return TestKey(privatePath: path, publicLine: try String(contentsOfFile: path + ".pub", encoding: .utf8))
    }
}

/// A real OpenSSH server on a loopback port with its own host key, config and authorized_keys, all in
/// a temporary directory. `stop()` (or deinit) kills it and every session process it forked.
public final class TestSSHServer: @unchecked Sendable {
    public let dir: TempDir
    public let port: Int
    public let hostKeyPath: String
    private let process: ChildProcess
    /// sshd's own pid (the listener).
    public var pid: pid_t { process.pid }
    private var stopped = false

    /// `extraConfig` comes first in sshd_config: sshd takes a keyword's first value, so it overrides the defaults.
    /// Sessions log in as the machine's own users, so `SetEnv SHLVL=1` keeps bash from sourcing the
    /// user's ~/.bashrc for commands run over SSH (bash does that only for a top-level shell): the
    /// tests do not depend on what that file runs, or on how long it takes.
    public init(authorizedKeys: [TestKey], hostKeyType: String = "ed25519", extraConfig: String = "") throws {
        // sshd needs its privilege separation directory; a machine without a running sshd may lack it.
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        dir = try TempDir()
        hostKeyPath = dir.file("ssh_host_key")
        try sh("ssh-keygen -q -t \(hostKeyType) -N '' -C host -f '\(hostKeyPath)'")
        try authorizedKeys.map(\.publicLine).joined().write(toFile: dir.file("authorized_keys"), atomically: true, encoding: .utf8)
        _ = chmod(dir.file("authorized_keys"), 0o644)
        var lastError: Error = SetupError(message: "no free port")
        for _ in 0..<5 {
            let port = try Self.freePort()
            let config = """
            Port \(port)
            \(extraConfig)
            ListenAddress 127.0.0.1
            HostKey \(hostKeyPath)
            PidFile \(dir.file("sshd.pid"))
            AuthorizedKeysFile \(dir.file("authorized_keys"))
            StrictModes no
            UsePAM no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PermitRootLogin prohibit-password
            Subsystem sftp internal-sftp
            LogLevel ERROR
            SetEnv SHLVL=1

            """
            try config.write(toFile: dir.file("sshd_config"), atomically: true, encoding: .utf8)
            // Spawned as Capstan spawns (`ChildProcess`): it inherits no descriptor of this process.
            let sshd = try ChildProcess(["/usr/sbin/sshd", "-D", "-e", "-f", dir.file("sshd_config")], stdin: false, outputPath: dir.file("sshd.log"))
            if Self.waitListening(port: port, while: { sshd.exitedStatus == nil }) {
                self.port = port
                self.process = sshd
                return
            }
            sshd.signal(SIGKILL)
            _ = sshd.waitStatusBlocking()
            lastError = SetupError(message: "sshd did not start: \((try? String(contentsOfFile: dir.file("sshd.log"), encoding: .utf8)) ?? "")")
        }
        throw lastError
    }

    deinit { stop() }


    /// The host key as a known_hosts line for this server's `[127.0.0.1]:port`.
    public var knownHostsLine: String {
        let pub = (try? String(contentsOfFile: hostKeyPath + ".pub", encoding: .utf8)) ?? ""
        let fields = pub.split(separator: " ")
        return "[127.0.0.1]:\(port) \(fields[0]) \(fields[1])\n"
    }

    /// The host key's SHA256 fingerprint as `ssh-keygen -l` prints it (an independent computation).
    public func hostKeyFingerprint() throws -> String {
        let line = try sh("ssh-keygen -l -E sha256 -f '\(hostKeyPath).pub'")
        return String(line.split(separator: " ")[1])
    }

    /// Kills (SIGKILL) every process sshd forked for sessions, leaving the listener running.
    public func killSessions() {
        for child in Self.descendants(of: pid) { kill(child, SIGKILL) }
    }

    public func stop() {
        guard !stopped else { return }
        stopped = true
        let children = Self.descendants(of: pid)
        process.signal(SIGTERM)
        _ = process.waitStatusBlocking()
        for child in children { kill(child, SIGKILL) }
    }

    public static func descendants(of root: Int32) -> [Int32] {
        var parents: [Int32: Int32] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let ppid = Int32(fields[1]) { parents[pid] = ppid }
        }
        var result: [Int32] = []
        var frontier = [root]
        while let next = frontier.popLast() {
            let children = parents.filter { $0.value == next }.map(\.key)
            result += children
            frontier += children
        }
        return result
    }

    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw SetupError(message: "cannot bind a loopback port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Whether something accepts connections on the loopback `port` within 2 s; false as soon as `running` is.
    public static func waitListening(port: Int, while running: () -> Bool) -> Bool {
        for _ in 0..<100 {
            if !running() { return false }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = UInt16(port).bigEndian
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            close(fd)
            if ok { return true }
            usleep(20_000)
        }
        return false
    }
}

