import Crypto
import Foundation
import Hosts
import Testing
import TestSupport
@testable import SSH

@Suite("SFTP, bastions, sudo and fan-out against real sshd", .tags(.sshd))
struct FilesAndHopsTests {
    @Test("writes are atomic with mode, owner and parent directories; reads return nil when missing", arguments: Transport.allCases)
    func writeRead(transport: Transport) async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let connection = try await transport.connect(setup.endpoint())
        let path = setup.server.dir.file("deep/er/config.yaml")
        try await connection.write(Data("first\n".utf8), to: path, attributes: FileAttributes(mode: 0o600, owner: "nobody:nogroup"))
        try await connection.write(Data("second\n".utf8), to: path, attributes: FileAttributes(mode: 0o640))
        #expect(try await connection.read(path) == Data("second\n".utf8))
        let stat = try sh("stat -c '%a %U' '\(path)'")
        #expect(stat == "640 root\n")
        try await connection.write(Data(), to: path + ".owned", attributes: FileAttributes(mode: 0o600, owner: "nobody:nogroup"))
        #expect(try sh("stat -c '%a %U:%G' '\(path).owned'") == "600 nobody:nogroup\n")
        #expect(try await connection.read(setup.server.dir.file("missing")) == nil)
        // No staging file is left next to the target.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent).filter { $0.contains("capstan-") }
        #expect(leftovers.isEmpty)
    }

    @Test("a one-command write whose content arrives cut short (Capstan killed mid-send) leaves the target as it was")
    func cutShortWrite() async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let connection = try await Transport.libssh2.connect(setup.endpoint())
        let path = setup.server.dir.file("cluster.json")
        try await connection.write(Data("{\"uid\": \"old\"}\n".utf8), to: path, attributes: FileAttributes(mode: 0o600))
        let full = Data("{\"uid\": \"new\", \"name\": \"lab\"}\n".utf8)
        let digest = SHA256.hash(data: full).hex
        let directory = (path as NSString).deletingLastPathComponent
        let install = ShellCommand.installFromStdin(path: path, directory: directory, staging: directory + "/.cluster.json.capstan-test", sha256: digest,
                                                   attributes: FileAttributes(mode: 0o600), printTarget: true, size: full.count)
        // What sshd hands the command when the client dies after sending part of the file: end of input.
        let cut = try await connection.run(install, options: RunOptions(stdin: full.prefix(9)))
        #expect(!cut.succeeded)
        #expect(cut.stderrText.contains("incomplete"))
        #expect(try await connection.read(path) == Data("{\"uid\": \"old\"}\n".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains("capstan-") }.isEmpty)
        // The whole content goes through the same command.
        let whole = try await connection.run(install, options: RunOptions(stdin: full))
        #expect(whole.succeeded)
        #expect(try await connection.read(path) == full)
    }

    @Test("an uploaded file whose SHA-256 is not the one sent (changed or cut short on the way) never replaces the target; an upload from elsewhere is copied in")
    func uploadedChecksBeforeRename() async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let connection = try await Transport.libssh2.connect(setup.endpoint())
        let path = setup.server.dir.file("kubelet")
        let directory = (path as NSString).deletingLastPathComponent
        try await connection.write(Data("old\n".utf8), to: path, attributes: FileAttributes(mode: 0o755))
        let sent = Data("new binary\n".utf8)
        let digest = SHA256.hash(data: sent).hex
        let staging = directory + "/.kubelet.capstan-test"
        let install = ShellCommand.installUploaded(staging, path: path, directory: directory, staging: staging, sha256: digest,
                                                   attributes: FileAttributes(mode: 0o755), printTarget: true, size: sent.count)
        // What arrived differs from what was hashed: the target stays, the staging file goes.
        try Data("new binarY\n".utf8).write(to: URL(fileURLWithPath: staging))
        let changed = try await connection.run(install)
        #expect(!changed.succeeded)
        #expect(changed.stderrText.contains("changed on the way"))
        #expect(try await connection.read(path) == Data("old\n".utf8))
        #expect(!FileManager.default.fileExists(atPath: staging))
        // The right bytes are renamed in place, with the mode, and the digest printed is theirs.
        try sent.write(to: URL(fileURLWithPath: staging))
        let placed = try await connection.run(install)
        #expect(placed.succeeded)
        #expect(placed.stdoutText == "\(digest) \(path)\n")
        #expect(try await connection.read(path) == sent)
        #expect(try sh("stat -c %a '\(path)'") == "755\n")
        // An upload written elsewhere (a sudo install's file in /tmp) is copied into the staging file first.
        let elsewhere = setup.server.dir.file("upload.tmp")
        let next = Data("newer\n".utf8)
        try next.write(to: URL(fileURLWithPath: elsewhere))
        let copy = ShellCommand.installUploaded(elsewhere, path: path, directory: directory, staging: staging,
                                                sha256: SHA256.hash(data: next).hex,
                                                attributes: FileAttributes(mode: 0o644), printTarget: false, size: next.count)
        #expect(try await connection.run(copy).succeeded)
        #expect(try await connection.read(path) == next)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains("capstan-") }.isEmpty)
    }

    @Test("100 MiB round trip through upload and download is intact", arguments: Transport.allCases)
    func largeRoundTrip(transport: Transport) async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let local = setup.client.file("big.bin")
        try sh("head -c 104857600 /dev/urandom > '\(local)'")
        let connection = try await transport.connect(setup.endpoint())
        let remote = setup.server.dir.file("big.bin")
        let started = Date()
        try await connection.upload(localFile: local, to: remote, attributes: FileAttributes(mode: 0o644))
        let uploaded = Date()
        try await connection.download(remote, toLocalFile: setup.client.file("back.bin"))
        let downloaded = Date()
        print("100 MiB upload \(uploaded.timeIntervalSince(started))s, download \(downloaded.timeIntervalSince(uploaded))s")
        let sums = try sh("sha256sum '\(local)' '\(remote)' '\(setup.client.file("back.bin"))' | cut -d' ' -f1 | uniq | wc -l")
        #expect(sums == "1\n")
        #expect(try sh("stat -c %s '\(setup.client.file("back.bin"))'") == "104857600\n")
    }

    @Test("an upload after the local file changed sends the new bytes (the per-file digest is keyed by the file's identity)", arguments: Transport.allCases)
    func uploadAfterLocalChange(transport: Transport) async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let local = setup.client.file("artifact.bin")
        let connection = try await transport.connect(setup.endpoint())
        let remote = setup.server.dir.file("installed/artifact.bin")
        for round in 0..<3 {
            // Same size every time; only the content (and with it the modification time) changes.
            let content = Data((0..<300_000).map { UInt8(($0 + round * 7) % 251) })
            try content.write(to: URL(fileURLWithPath: local))
            try await connection.upload(localFile: local, to: remote, attributes: FileAttributes(mode: 0o640))
            #expect(FileManager.default.contents(atPath: remote) == content, "round \(round)")
        }
        #expect(try sh("stat -c %a '\(remote)'") == "640\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: setup.server.dir.file("installed")) == ["artifact.bin"], "no staging file left")
    }

    @Test("a host reached through a bastion; one bastion session serves several hosts", arguments: Transport.allCases)
    func bastion(transport: Transport) async throws {
        let client = try TempDir()
        let key = try TestKey.make("ed25519", in: client, name: "id")
        let bastion = try TestSSHServer(authorizedKeys: [key])
        let target1 = try TestSSHServer(authorizedKeys: [key])
        let target2 = try TestSSHServer(authorizedKeys: [key])
        defer { bastion.stop(); target1.stop(); target2.stop() }
        let knownHosts = client.file("known_hosts")
        try (bastion.knownHostsLine + target1.knownHostsLine + target2.knownHostsLine).write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let auth = [HostEndpoint.Authentication.privateKey(path: key.privatePath, passphraseEnv: nil)]
        let jump = HostEndpoint.Jump(address: "127.0.0.1", port: bastion.port, user: "root", authentication: auth)
        let connector = try transport.connector()
        var outputs: [String] = []
        for (name, target) in [("t1", target1), ("t2", target2)] {
            let endpoint = HostEndpoint(name: name, address: "127.0.0.1", port: target.port, authentication: auth, knownHostsFile: knownHosts, bastion: jump)
            let connection = try await connector.connect(endpoint)
            // The target sees the connection coming from the bastion's sshd process, not from this test.
            let result = try await connection.run(ShellCommand.raw("echo $SSH_CONNECTION"))
            outputs.append(result.stdoutText)
            let data = Data((0..<2_000_000).map { UInt8($0 % 253) })
            try await connection.write(data, to: target.dir.file("through-bastion.bin"), attributes: FileAttributes())
            #expect(try await connection.read(target.dir.file("through-bastion.bin")) == data)
        }
        #expect(outputs.count == 2)
        #expect(outputs[0].hasSuffix(" \(target1.port)\n"))
        #expect(outputs[1].hasSuffix(" \(target2.port)\n"))
        // Exactly one session process tree on the bastion: both hops share its session.
        let bastionSessions = TestSSHServer.descendants(of: bastion.pid).count
        #expect(bastionSessions >= 1 && bastionSessions <= 2)
    }

    @Test("become runs privileged commands and writes through sudo -n; a password prompt is a clear error")
    func sudoBecome() async throws {
        let user = "capstantest"
        let created = (try? sh("id \(user)")) == nil
        if created { try sh("useradd -m -s /bin/sh \(user)") }
        // A locked password (useradd's '!') makes sshd without PAM refuse every login; '*' only disables passwords.
        try sh("usermod -p '*' \(user)")
        try sh("echo '\(user) ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/capstantest && chmod 0440 /etc/sudoers.d/capstantest")
        defer {
            _ = try? sh("rm -f /etc/sudoers.d/capstantest")
            if created { _ = try? sh("userdel -r \(user) 2>/dev/null") }
        }
        let setup = try Setup()
        defer { setup.server.stop() }
        // Both transports in one test, one after the other: the test edits the shared sudoers entry.
        for transport in Transport.allCases {
            try sh("echo '\(user) ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/capstantest")
            let connection = try await transport.connect(setup.endpoint(user: user, become: true))
            #expect(try await connection.run(ShellCommand("id", "-un")).stdoutText == "root\n", "\(transport)")
            #expect(try await connection.run(ShellCommand("id", "-un"), options: RunOptions(privileged: false)).stdoutText == "\(user)\n")
            let path = "/root/.capstan-sudo-test-\(UUID().uuidString)/f.txt"
            defer { _ = try? sh("rm -rf '\((path as NSString).deletingLastPathComponent)'") }
            try await connection.write(Data("privileged\n".utf8), to: path, attributes: FileAttributes(mode: 0o600))
            #expect(try sh("stat -c '%a %U' '\(path)'") == "600 root\n", "\(transport)")
            #expect(try await connection.read(path) == Data("privileged\n".utf8), "\(transport)")

            try sh("echo '\(user) ALL=(ALL) ALL' > /etc/sudoers.d/capstantest")
            let error = await #expect(throws: HostError.self) { try await connection.run(ShellCommand("true")) }
            #expect(error == .sudoNeedsPassword(host: "node1", user: user), "\(transport)")
            await connection.close()
        }
    }

    @Test("24 sshd's at once through FanOut: every host's result comes back", arguments: Transport.allCases)
    func fanOut(transport: Transport) async throws {
        let client = try TempDir()
        let key = try TestKey.make("ed25519", in: client, name: "id")
        var servers: [TestSSHServer] = []
        defer { for s in servers { s.stop() } }
        for _ in 0..<24 { servers.append(try TestSSHServer(authorizedKeys: [key])) }
        let knownHosts = client.file("known_hosts")
        try servers.map(\.knownHostsLine).joined().write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let endpoints = servers.enumerated().map { i, s in
            HostEndpoint(name: "h\(i)", address: "127.0.0.1", port: s.port, authentication: [.privateKey(path: key.privatePath, passphraseEnv: nil)], knownHostsFile: knownHosts)
        }
        // One endpoint that cannot connect: its error is returned alongside the others' results.
        let broken = HostEndpoint(name: "broken", address: "127.0.0.1", port: 1, authentication: endpoints[0].authentication, knownHostsFile: knownHosts)
        let connector = try transport.connector()
        let started = Date()
        let outcomes = await FanOut.run(endpoints + [broken], name: \.name) { endpoint in
            let connection = try await connector.connect(endpoint)
            return try await connection.run(ShellCommand.raw("echo $SSH_CONNECTION")).stdoutText
        }
        print("fan-out to 24 sshd: \(Date().timeIntervalSince(started))s")
        #expect(outcomes.count == 25)
        for (i, outcome) in outcomes.prefix(24).enumerated() {
            #expect(outcome.value?.hasSuffix(" \(servers[i].port)\n") == true, "\(outcome.host): \(String(describing: outcome.error))")
        }
        guard case .connectFailed? = outcomes[24].error as? HostError else { Issue.record("broken host: \(String(describing: outcomes[24].error))"); return }
    }
}
