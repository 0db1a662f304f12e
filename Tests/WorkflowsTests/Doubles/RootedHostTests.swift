import Foundation
import Hosts
import Testing
import TestSupport

@Suite("RootedHost: a test host whose files live under a root directory", .tags(.unit))
struct RootedHostTests {
    @Test("writes atomically under the root with the requested mode and reads back")
    func writeUnderRoot() async throws {
        let root = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let c = RootedHost(hostName: "h1", root: root)
        try await c.write(Data("secret".utf8), to: "/etc/kubernetes/pki/etcd/server.key", attributes: FileAttributes(mode: 0o600, owner: "root:root"))
        let local = root + "/etc/kubernetes/pki/etcd/server.key"
        let attrs = try FileManager.default.attributesOfItem(atPath: local)
        #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try await c.read("/etc/kubernetes/pki/etcd/server.key") == Data("secret".utf8))
        #expect(try await c.read("/etc/missing") == nil)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: root + "/etc/kubernetes/pki/etcd")
        #expect(leftovers == ["server.key"])
        // Commands name host paths and act on the host's tree.
        let r = try await c.run(ShellCommand("cat", "/etc/kubernetes/pki/etcd/server.key"))
        #expect(r.stdoutText == "secret")
    }

    @Test("refuses an unknown owner with a transfer error naming the host path")
    func unknownOwner() async throws {
        let root = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let c = RootedHost(hostName: "h1", root: root)
        await #expect(throws: HostError.transferFailed(host: "h1", path: "/x", reason: "unknown user no-such-user-capstan")) {
            try await c.write(Data(), to: "/x", attributes: FileAttributes(owner: "no-such-user-capstan"))
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/x"))
    }

    @Test("commands see host paths in and out: quoted, after `=` or `:`, in scripts; tools, devices and URLs stay")
    func commandPaths() async throws {
        let root = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let c = RootedHost(hostName: "h1", root: root)
        try await c.write(Data("a\n".utf8), to: "/etc/a b", attributes: FileAttributes())
        #expect(c.rooted("cat '/etc/a b'") == "cat '\(root)/etc/a b'")
        #expect(c.rooted("/usr/local/bin/x --config=/etc/x PATH=/opt/a:/opt/b") == "\(root)/usr/local/bin/x --config=\(root)/etc/x PATH=\(root)/opt/a:\(root)/opt/b")
        #expect(c.rooted("/bin/sh -c 'x 2>/dev/null' https://127.0.0.1:6443/livez /usr/sbin/nologin \(root)/etc") ==
                "/bin/sh -c 'x 2>/dev/null' https://127.0.0.1:6443/livez /usr/sbin/nologin \(root)/etc")
        let stat = try await c.run(ShellCommand("sh", "-c", "stat -c '%n' -- \"$1\"; cat \"$1\"; ls /nonexistent-capstan", "sh", "/etc/a b"))
        #expect(stat.stdoutText == "/etc/a b\na\n")
        #expect(stat.stderrText.contains("'/nonexistent-capstan'") && !stat.stderrText.contains(root))
    }

    @Test("output is mapped back even where a chunk ends inside the root")
    func splitChunks() async throws {
        let root = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let c = RootedHost(hostName: "h1", root: root)
        let half = root.count / 2
        let chunks = Chunks()
        let script = "printf %s \"$1\"; sleep 0.3; printf '%s/etc/x\\n' \"$2\"; printf 'tail %s' \"$1\""
        let result = try await c.stream(ShellCommand("sh", "-c", script, "sh", String(root.prefix(half)), String(root.dropFirst(half))),
                                        options: .default) { chunks.add($0) }
        #expect(result.succeeded)
        #expect(chunks.text == "/etc/x\ntail \(root.prefix(half))")
    }
}

private final class Chunks: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func add(_ d: Data) { lock.withLock { data.append(d) } }
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}
