import Foundation
import Testing
import TestSupport

@Suite("capstan copy against real sshd's", .tags(.sshd))
struct CopyTests {
    @Test("--role worker puts the file on the workers only, with its bytes and mode", arguments: ["libssh2", "openssh"])
    func roleWorker(transport: String) throws {
        let fixture = try ExecFixture(transport: transport)
        defer { fixture.stop() }
        // All three sshd's share this machine's filesystem: each host gets its own target path.
        let bytes = Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let local = fixture.client.file("payload.bin")
        try bytes.write(to: URL(fileURLWithPath: local))
        let target = try TempDir()
        for name in ["w1", "w2"] {
            let remote = target.file("\(name)/payload.bin")
            let r = try fixture.capstan(["copy", "-i", fixture.inventory, "--host", name, "--mode", "600", local, remote])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.hasPrefix("\(name): \(remote) (3000000 bytes, "), "\(r.stdout)")
            #expect(FileManager.default.contents(atPath: remote) == bytes)
            let mode = try FileManager.default.attributesOfItem(atPath: remote)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
        #expect(!FileManager.default.fileExists(atPath: target.file("cp1")))
        let r = try fixture.capstan(["copy", "-i", fixture.inventory, "--role", "worker", local, target.file("both.bin")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.split(separator: "\n").map { $0.split(separator: ":").first.map(String.init) } == ["w1", "w2"])
        #expect(FileManager.default.contents(atPath: target.file("both.bin")) == bytes)
        #expect(try FileManager.default.contentsOfDirectory(atPath: target.path).filter { $0.contains(".capstan-") }.isEmpty)
    }

    @Test("an unreachable host fails the command with its error; a relative remote path or a missing local file is refused")
    func failures() throws {
        let fixture = try ExecFixture(transport: "libssh2", brokenWorker: true)
        defer { fixture.stop() }
        let local = fixture.client.file("small.txt")
        try "hello\n".write(toFile: local, atomically: true, encoding: .utf8)
        let target = try TempDir()
        let r = try fixture.capstan(["copy", "-i", fixture.inventory, local, target.file("small.txt")])
        #expect(r.status == 1)
        #expect(r.stderr.contains("w2: cannot connect to w2"), "\(r.stderr)")
        #expect(r.stderr.contains("1 of 3 hosts failed"))
        #expect(try String(contentsOfFile: target.file("small.txt"), encoding: .utf8) == "hello\n")

        // A dry run names the hosts (the broken one too) and connects to none: no error, no file.
        let dry = try fixture.capstan(["copy", "--dry-run", "-i", fixture.inventory, "--mode", "600", local, target.file("dry.txt")])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout == "dry run: would copy \(local) (6 bytes) to \(target.file("dry.txt")), mode 600 on 3 host(s), 3 at once: cp1, w1, w2\n", "\(dry.stdout)")
        #expect(!FileManager.default.fileExists(atPath: target.file("dry.txt")))
        let dryExec = try fixture.capstan(["exec", "--dry-run", "-i", fixture.inventory, "--role", "worker", "--", "touch " + target.file("ran")])
        #expect(dryExec.status == 0 && dryExec.stdout.hasPrefix("dry run: would run `sh -c ") && dryExec.stdout.hasSuffix(" as root on 2 host(s), 2 at once: w1, w2\n"), "\(dryExec.stdout)\(dryExec.stderr)")
        #expect(!FileManager.default.fileExists(atPath: target.file("ran")))

        let relative = try fixture.capstan(["copy", "-i", fixture.inventory, local, "small.txt"])
        #expect(relative.status != 0)
        #expect(relative.stderr.contains("must be absolute"), "\(relative.stderr)")
        let missing = try fixture.capstan(["copy", "-i", fixture.inventory, fixture.client.file("nope"), target.file("x")])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("is not a readable file"), "\(missing.stderr)")
    }
}
