import Foundation
import Hosts
import Testing
import TestSupport
@testable import Workflows

/// The commands of peer transfer, run here as a host runs them (sh, bash, perl): the holder's server, the
/// receiver's fetch with its checksum check, and the stop. Loopback stands in for the cluster network.
@Suite(.serialized, .tags(.unit))
struct PeerTransferCommandTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `command` with `sh -c`, its output in files: the server it may start in the background keeps
    /// copies of this process's descriptors, so a pipe would not reach its end while the server runs.
    static func sh(_ command: ShellCommand) throws -> Run {
        let base = NSTemporaryDirectory() + "capstan-peer-run-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command.description]
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
        try process.run()
        process.waitUntilExit()
        let stdout = FileManager.default.contents(atPath: base + ".out") ?? Data()
        let stderr = FileManager.default.contents(atPath: base + ".err") ?? Data()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// A scratch directory with a holder's server started on 127.0.0.1 and a 3 MiB file `original` registered.
    struct Holder {
        var root: String
        var server: PeerServer
        var sha256: String
        var original: Data

        init() throws {
            root = NSTemporaryDirectory() + "capstan-peer-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: root + "/installed", withIntermediateDirectories: true)
            var generator = SystemRandomNumberGenerator()
            original = Data((0..<(3 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            try original.write(to: URL(fileURLWithPath: root + "/installed/containerd"))
            sha256 = FileDiff.sha256Hex(original)
            let token = PeerTransfer.newToken()
            let started = try PeerTransferCommandTests.sh(PeerTransfer.startCommand(address: "127.0.0.1", token: token, directory: root + "/run"))
            let port = try #require(Int(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "no port: \(started.stdout) \(started.stderr)")
            server = PeerServer(address: "127.0.0.1", port: port, token: token)
            let registered = try PeerTransferCommandTests.sh(PeerTransfer.registerCommand(token: token, sha256: sha256, path: root + "/installed/containerd", directory: root + "/run"))
            #expect(registered.status == 0, "\(registered.stderr)")
        }

        func fetch(to path: String, sha256: String? = nil, server: PeerServer? = nil) throws -> Run {
            try PeerTransferCommandTests.sh(PeerTransfer.fetchCommand(server: server ?? self.server, sha256: sha256 ?? self.sha256, path: path,
                                                                        attributes: FileAttributes(mode: 0o755)))
        }

        func stop() throws {
            _ = try PeerTransferCommandTests.sh(PeerTransfer.stopCommand(token: server.token, directory: root + "/run"))
            try? FileManager.default.removeItem(atPath: root)
        }

        /// Files in `directory` whose names mark a fetch's temporary file.
        func leftovers(_ directory: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.contains(".capstan-peer.") }
        }
    }

    @Test("a receiver gets the holder's file byte for byte, with its mode, into a directory that did not exist")
    func fetches() throws {
        let holder = try Holder()
        defer { try? holder.stop() }
        let target = holder.root + "/receiver/opt/cni/bin/bridge"
        let run = try holder.fetch(to: target)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(FileManager.default.contents(atPath: target) == holder.original)
        let mode = try FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int
        #expect(mode == 0o755)
    }

    @Test("a receiver that serves files already offers the fetched one in the same command: its link names the checksum and points at the file; without the connect probe (the holder answered before) the bytes are the same")
    func fetchRegisters() throws {
        let holder = try Holder()
        defer { try? holder.stop() }
        let own = holder.root + "/receiver-run"
        try FileManager.default.createDirectory(atPath: own + "/" + holder.server.token, withIntermediateDirectories: true)
        let target = holder.root + "/receiver/usr/local/bin/containerd"
        let run = try Self.sh(PeerTransfer.fetchCommand(server: holder.server, sha256: holder.sha256, path: target,
                                                        attributes: FileAttributes(mode: 0o755), registering: true, probing: false, directory: own))
        #expect(run.status == 0, "\(run.stderr)")
        let link = own + "/" + holder.server.token + "/" + holder.sha256
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == target)
        #expect(FileManager.default.contents(atPath: link) == holder.original)
        // Without `registering` nothing is linked.
        let other = holder.root + "/receiver/usr/local/bin/containerd-copy"
        #expect(try holder.fetch(to: other).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: own + "/" + holder.server.token) == [holder.sha256])
    }

    @Test("a tampered byte on the holder, a wrong token or a holder that serves nothing: the fetch fails, the file in place stays, no temporary file is left")
    func refusesWrongBytes() throws {
        let holder = try Holder()
        defer { try? holder.stop() }
        let directory = holder.root + "/receiver"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let target = directory + "/containerd"
        let previous = Data("the binary installed before\n".utf8)
        try previous.write(to: URL(fileURLWithPath: target))

        // One byte changed in the file the holder serves (its symlink points at the installed path).
        var tampered = holder.original
        tampered[tampered.count / 2] ^= 0x01
        try tampered.write(to: URL(fileURLWithPath: holder.root + "/installed/containerd"))
        let changed = try holder.fetch(to: target)
        #expect(changed.status == 3 && changed.stderr.contains("the peer's bytes have SHA-256 \(FileDiff.sha256Hex(tampered))"), "\(changed.stderr)")

        try holder.original.write(to: URL(fileURLWithPath: holder.root + "/installed/containerd"))
        var wrongToken = holder.server
        wrongToken.token = PeerTransfer.newToken()
        let refused = try holder.fetch(to: target, server: wrongToken)
        #expect(refused.status == 3, "\(refused.stderr)")
        let unknown = try holder.fetch(to: target, sha256: String(repeating: "0", count: 64))
        #expect(unknown.status == 3, "\(unknown.stderr)")

        #expect(FileManager.default.contents(atPath: target) == previous)
        #expect(holder.leftovers(directory).isEmpty, "\(holder.leftovers(directory))")
        // With the holder's file right again the same fetch succeeds: the failures above were the planted ones.
        #expect(try holder.fetch(to: target).status == 0)
        #expect(FileManager.default.contents(atPath: target) == holder.original)
    }

    @Test("a staging copy registered to go with the server is served like any file and removed by the stop; installed files stay")
    func stagingCopyGoesWithTheServer() throws {
        let holder = try Holder()
        defer { try? holder.stop() }
        let staged = holder.root + "/images/registry.k8s.io_pause_3.10.oci.tar"
        try FileManager.default.createDirectory(atPath: holder.root + "/images", withIntermediateDirectories: true)
        let archive = Data("an image archive, already imported on the holder\n".utf8)
        try archive.write(to: URL(fileURLWithPath: staged))
        let sha256 = FileDiff.sha256Hex(archive)
        let registered = try Self.sh(PeerTransfer.registerCommand(token: holder.server.token, sha256: sha256, path: staged,
                                                                  removeOnStop: true, directory: holder.root + "/run"))
        #expect(registered.status == 0, "\(registered.stderr)")
        let target = holder.root + "/receiver/images/registry.k8s.io_pause_3.10.oci.tar"
        let run = try holder.fetch(to: target, sha256: sha256)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(FileManager.default.contents(atPath: target) == archive)

        _ = try Self.sh(PeerTransfer.stopCommand(token: holder.server.token, directory: holder.root + "/run"))
        #expect(!FileManager.default.fileExists(atPath: staged), "the staging copy outlived the server")
        #expect(FileManager.default.contents(atPath: holder.root + "/installed/containerd") == holder.original, "an installed file went with it")
        #expect(!FileManager.default.fileExists(atPath: holder.root + "/run/\(holder.server.token).remove"))
    }

    @Test("a holder nobody listens for fails the fetch within seconds; after stop the server is gone")
    func unreachableAndStop() throws {
        let holder = try Holder()
        let target = holder.root + "/receiver/kubelet"
        _ = try Self.sh(PeerTransfer.stopCommand(token: holder.server.token, directory: holder.root + "/run"))
        let started = Date()
        let run = try holder.fetch(to: target)
        #expect(run.status != 0 && Date().timeIntervalSince(started) < 6, "\(run.status) after \(Date().timeIntervalSince(started)) s")
        #expect(!FileManager.default.fileExists(atPath: holder.root + "/run/\(holder.server.token)"))
        #expect(!FileManager.default.fileExists(atPath: target))
        try holder.stop()
    }
}
