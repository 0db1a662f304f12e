import Foundation
import Hosts
import Testing
import TestSupport

@Suite("LocalConnection", .tags(.unit))
struct LocalConnectionTests {
    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "capstan-local-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("runs a shell line and returns stdout, stderr and the exit status")
    func runCollects() async throws {
        let c = LocalConnection(hostName: "h1")
        let r = try await c.run(ShellCommand.raw("echo out; echo err >&2; exit 3"))
        #expect(r.exitStatus == 3)
        #expect(r.stdoutText == "out\n")
        #expect(r.stderrText == "err\n")
    }

    @Test("passes stdin and environment to the command")
    func stdinAndEnvironment() async throws {
        let c = LocalConnection()
        let r = try await c.run(ShellCommand("sh", "-c", "tr a-z A-Z; echo \"$CAPSTAN_TEST_VALUE\""),
                                options: RunOptions(environment: ["CAPSTAN_TEST_VALUE": "it's set"], stdin: Data("hello\n".utf8)))
        #expect(r.succeeded)
        #expect(r.stdoutText == "HELLO\nit's set\n")
    }

    @Test("streams stdout in chunks as it arrives")
    func streams() async throws {
        let c = LocalConnection()
        let box = Chunks()
        let r = try await c.stream(ShellCommand.raw("head -c 300000 /dev/zero; sleep 0.2; printf end"), options: .default) { box.add($0) }
        #expect(r.succeeded)
        #expect(box.total == 300_003)
        #expect(box.count >= 2)
    }

    @Test("kills a command that runs past its timeout and throws HostError.timeout")
    func timeout() async throws {
        let c = LocalConnection(hostName: "slow")
        let start = Date()
        await #expect(throws: HostError.timeout(host: "slow", what: "`sleep 600`", seconds: 0.5)) {
            _ = try await c.run(ShellCommand("sleep", "600"), options: RunOptions(timeoutSeconds: 0.5))
        }
        // Far below the command's own 600 s: it was killed, not waited for (loose bound: CI shares 2 cores).
        #expect(Date().timeIntervalSince(start) < 120)
    }

    @Test("writes atomically with the requested mode, creating parent directories, and reads back")
    func writeAndRead() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = LocalConnection(hostName: "h1")
        let path = dir + "/etc/kubernetes/pki/etcd/server.key"
        try await c.write(Data("secret".utf8), to: path, attributes: FileAttributes(mode: 0o600, owner: "root:root"))
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try await c.read(path) == Data("secret".utf8))
        #expect(try await c.read(dir + "/etc/missing") == nil)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/etc/kubernetes/pki/etcd")
        #expect(leftovers == ["server.key"])
        let r = try await c.run(ShellCommand("cat", path))
        #expect(r.stdoutText == "secret")
    }

    @Test("refuses an unknown owner with a transfer error naming the path")
    func unknownOwner() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = LocalConnection(hostName: "h1")
        await #expect(throws: HostError.transferFailed(host: "h1", path: dir + "/x", reason: "unknown user no-such-user-capstan")) {
            try await c.write(Data(), to: dir + "/x", attributes: FileAttributes(owner: "no-such-user-capstan"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/x"))
    }
}

final class Chunks: @unchecked Sendable {
    private let lock = NSLock()
    private var sizes: [Int] = []
    func add(_ d: Data) { lock.withLock { sizes.append(d.count) } }
    var total: Int { lock.withLock { sizes.reduce(0, +) } }
    var count: Int { lock.withLock { sizes.count } }
}
