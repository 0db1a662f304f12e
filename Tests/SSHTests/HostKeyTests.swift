import Foundation
import Hosts
import Testing
import TestSupport
@testable import SSH

@Suite("host keys against known_hosts", .tags(.sshd))
struct HostKeyTests {
    @Test("an unknown host key is refused under strict, with the fingerprint ssh-keygen computes", arguments: Transport.allCases)
    func unknownStrict(transport: Transport) async throws {
        let setup = try Setup(trustHost: false)
        defer { setup.server.stop() }
        let error = await #expect(throws: HostError.self) { try await transport.connect(setup.endpoint()) }
        guard case .hostKeyUnknown(_, let type, let fingerprint, let file)? = error else { Issue.record("wrong error \(String(describing: error))"); return }
        #expect(type == "ssh-ed25519")
        #expect(fingerprint == (try setup.server.hostKeyFingerprint()))
        #expect(file == setup.knownHosts)
        #expect(!FileManager.default.fileExists(atPath: setup.knownHosts))
    }

    @Test("accept-new appends an unknown key, and a later strict connect passes", arguments: Transport.allCases)
    func acceptNew(transport: Transport) async throws {
        let setup = try Setup(trustHost: false)
        defer { setup.server.stop() }
        let first = try await transport.connect(setup.endpoint(policy: .acceptNew))
        await first.close()
        let written = try String(contentsOfFile: setup.knownHosts, encoding: .utf8)
        // libssh2 writes the plain line; OpenSSH follows the user's HashKnownHosts (Debian: yes).
        if transport == .libssh2 { #expect(written == setup.server.knownHostsLine) }
        #expect(written.split(separator: "\n").count == 1)
        // ssh-keygen -F finds the appended line by the `[host]:port` name: the format is OpenSSH's.
        #expect(try sh("ssh-keygen -F '[127.0.0.1]:\(setup.server.port)' -f '\(setup.knownHosts)'").contains("ssh-ed25519"))
        let second = try await transport.connect(setup.endpoint(policy: .strict))
        #expect(try await second.run(ShellCommand("true")).exitStatus == 0)
    }

    @Test("hashed known_hosts entries are matched", arguments: Transport.allCases)
    func hashed(transport: Transport) async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        try sh("ssh-keygen -q -H -f '\(setup.knownHosts)'")
        #expect(try String(contentsOfFile: setup.knownHosts, encoding: .utf8).hasPrefix("|1|"))
        let connection = try await transport.connect(setup.endpoint())
        #expect(try await connection.run(ShellCommand("true")).exitStatus == 0)
    }

    @Test("a changed host key is refused under both policies, with both fingerprints and the line", arguments: Transport.allCases)
    func changed(transport: Transport) async throws {
        let setup = try Setup(trustHost: false)
        defer { setup.server.stop() }
        let impostorKey = setup.client.file("old_host_key")
        try sh("ssh-keygen -q -t ed25519 -N '' -f '\(impostorKey)'")
        let old = try String(contentsOfFile: impostorKey + ".pub", encoding: .utf8).split(separator: " ")
        try "# comment\nother.example ssh-ed25519 \(old[1])\n[127.0.0.1]:\(setup.server.port) \(old[0]) \(old[1])\n".write(toFile: setup.knownHosts, atomically: true, encoding: .utf8)
        let oldFingerprint = String(try sh("ssh-keygen -l -E sha256 -f '\(impostorKey).pub'").split(separator: " ")[1])
        for policy in [HostEndpoint.KnownHostsPolicy.strict, .acceptNew] {
            let error = await #expect(throws: HostError.self) { try await transport.connect(setup.endpoint(policy: policy)) }
            guard case .hostKeyChanged(_, let type, let expected, let presented, let file, let line)? = error else { Issue.record("wrong error \(String(describing: error))"); return }
            #expect(type == "ssh-ed25519")
            #expect(expected == oldFingerprint)
            #expect(presented == (try setup.server.hostKeyFingerprint()))
            #expect(file == setup.knownHosts)
            #expect(line == 3)
        }
        #expect(try String(contentsOfFile: setup.knownHosts, encoding: .utf8).split(separator: "\n").count == 3)
    }
}
