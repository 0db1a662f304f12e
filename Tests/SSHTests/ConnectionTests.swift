import Foundation
import Hosts
import Testing
import TestSupport
@testable import SSH

@Suite("connections against real sshd, over libssh2 and OpenSSH", .tags(.sshd))
struct ConnectionTests {
    @Test("an ed25519 key authenticates; exit status, stdout and stderr come back apart", arguments: Transport.allCases)
    func ed25519Exec(transport: Transport) async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let connection = try await transport.connect(setup.endpoint())
        let result = try await connection.run(ShellCommand.raw("echo out; echo err >&2; exit 3"))
        #expect(result.exitStatus == 3)
        #expect(result.stdoutText == "out\n")
        #expect(result.stderrText == "err\n")
        await connection.close()
    }

    @Test("an ECDSA key with a passphrase from an environment variable authenticates", arguments: Transport.allCases)
    func ecdsaWithPassphrase(transport: Transport) async throws {
        let client = try TempDir()
        let key = try TestKey.make("ecdsa", in: client, name: "id_ecdsa", passphrase: "s3cret pass")
        let server = try TestSSHServer(authorizedKeys: [key])
        defer { server.stop() }
        try server.knownHostsLine.write(toFile: client.file("known_hosts"), atomically: true, encoding: .utf8)
        setenv("CAPSTAN_TEST_ECDSA_PASSPHRASE", "s3cret pass", 1)
        let endpoint = HostEndpoint(
            name: "ec", address: "127.0.0.1", port: server.port,
            authentication: [.privateKey(path: key.privatePath, passphraseEnv: "CAPSTAN_TEST_ECDSA_PASSPHRASE")],
            knownHostsFile: client.file("known_hosts"), connectTimeoutSeconds: 60)
        let connection = try await transport.connect(endpoint)
        #expect(try await connection.run(ShellCommand("whoami")).stdoutText == "root\n")
    }

    @Test("an RSA key is refused before connecting, naming both fixes")
    func rsaRefusedEarly() async throws {
        try #require(!SSH.supportsRSASHA2, "this libssh2 signs rsa-sha2; the early refusal does not apply")
        let client = try TempDir()
        let key = try TestKey.make("rsa", in: client, name: "id_rsa")
        // Port 1 on loopback has no listener: reaching the network would fail differently.
        let endpoint = HostEndpoint(name: "r", address: "127.0.0.1", port: 1, authentication: [.privateKey(path: key.privatePath, passphraseEnv: nil)], knownHostsFile: client.file("kh"))
        let error = await #expect(throws: HostError.self) { try await LibSSH2Connector().connect(endpoint) }
        guard case .unsupported(_, let reason)? = error else { Issue.record("wrong error \(String(describing: error))"); return }
        #expect(reason.contains("ed25519"))
        #expect(reason.contains("transport: openssh"))
    }

    @Test("an RSA key works over the OpenSSH transport (rsa-sha2 signatures)")
    func rsaOverOpenSSH() async throws {
        let setup = try Setup(keyType: "rsa")
        defer { setup.server.stop() }
        let connection = try await Transport.openssh.connect(setup.endpoint())
        #expect(try await connection.run(ShellCommand("echo", "rsa ok")).stdoutText == "rsa ok\n")
        await connection.close()
    }

    /// Both transports in one test: SSH_AUTH_SOCK is process-wide.
    @Test("ssh-agent authentication uses the agent's key")
    func agent() async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let socketPath = setup.client.file("agent.sock")
        let agentOutput = try sh("ssh-agent -a '\(socketPath)' -s")
        let pid = agentOutput.split(separator: ";").first { $0.contains("SSH_AGENT_PID=") }?.split(separator: "=").last.flatMap { Int32($0) }
        defer { if let pid { kill(pid, SIGTERM) } }
        try sh("ssh-add -q '\(setup.key.privatePath)'", environment: ["SSH_AUTH_SOCK": socketPath])
        setenv("SSH_AUTH_SOCK", socketPath, 1)
        var endpoint = setup.endpoint()
        endpoint.authentication = [.agent]
        for transport in Transport.allCases {
            let connection = try await transport.connect(endpoint)
            #expect(try await connection.run(ShellCommand("echo", "agent ok")).stdoutText == "agent ok\n", "\(transport)")
            await connection.close()
        }
    }

    @Test("a key the server does not know fails authentication, naming what was tried", arguments: Transport.allCases)
    func wrongKey(transport: Transport) async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let other = try TestKey.make("ed25519", in: setup.client, name: "other")
        var endpoint = setup.endpoint()
        endpoint.authentication = [.privateKey(path: other.privatePath, passphraseEnv: nil)]
        let error = await #expect(throws: HostError.self) { try await transport.connect(endpoint) }
        guard case .authenticationFailed(_, let user, let tried, _)? = error else { Issue.record("wrong error \(String(describing: error))"); return }
        #expect(user == "root")
        #expect(tried == ["key \(other.privatePath)"])
    }

    @Test("environment, stdin and streamed output reach the command", arguments: Transport.allCases)
    func environmentStdinStream(transport: Transport) async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let connection = try await transport.connect(setup.endpoint())
        let env = try await connection.run(ShellCommand.raw("echo \"$GREETING\""), options: RunOptions(environment: ["GREETING": "it's a $test"]))
        #expect(env.stdoutText == "it's a $test\n")
        let input = Data((0..<300_000).map { UInt8($0 % 251) })
        let echoed = try await connection.run(ShellCommand("cat"), options: RunOptions(stdin: input))
        #expect(echoed.stdout == input)
        let chunks = CollectedData()
        let streamed = try await connection.stream(ShellCommand.raw("for i in 1 2 3; do echo line$i; sleep 0.2; done"), options: .default) { chunks.append($0) }
        #expect(streamed.exitStatus == 0)
        #expect(String(decoding: chunks.data, as: UTF8.self) == "line1\nline2\nline3\n")
    }

    @Test("a command over its timeout fails with HostError.timeout and the connection stays usable", arguments: Transport.allCases)
    func timeout(transport: Transport) async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let connection = try await transport.connect(setup.endpoint())
        let started = Date()
        let error = await #expect(throws: HostError.self) { try await connection.run(ShellCommand("sleep", "600"), options: RunOptions(timeoutSeconds: 1)) }
        guard case .timeout? = error else { Issue.record("wrong error \(String(describing: error))"); return }
        // Far below the command's own 600 s; loose because parallel tests share 2 cores.
        #expect(Date().timeIntervalSince(started) < 120)
        #expect(try await connection.run(ShellCommand("true")).exitStatus == 0)
    }

    @Test("a server that dies mid-command gives HostError.disconnected, not a hang", arguments: Transport.allCases)
    func serverDrops(transport: Transport) async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let connection = try await transport.connect(setup.endpoint())
        let server = setup.server
        Task.detached {
            try await Task.sleep(for: .milliseconds(500))
            server.killSessions()
        }
        let started = Date()
        let error = await #expect(throws: HostError.self) { try await connection.run(ShellCommand("sleep", "600"), options: RunOptions(timeoutSeconds: 300)) }
        guard case .disconnected? = error else { Issue.record("wrong error \(String(describing: error))"); return }
        // Well before the 300 s timeout: the drop itself ended the wait.
        #expect(Date().timeIntervalSince(started) < 120)
    }
}
