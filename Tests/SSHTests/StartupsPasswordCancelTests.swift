import Foundation
import Hosts
import Testing
import TestSupport
@testable import SSH

@Suite("sshd MaxStartups, password authentication and cancellation against real sshd", .tags(.sshd))
struct StartupsPasswordCancelTests {
    @Test("25 host names behind one sshd that drops the 11th pending handshake (MaxStartups 10:100:10): none fails", arguments: Transport.allCases)
    func maxStartups(transport: Transport) async throws {
        let setup = try Setup(extraConfig: "MaxStartups 10:100:10")
        defer { setup.server.stop() }
        let connector = try transport.connector()
        let endpoints = (0..<25).map { setup.endpoint(name: "alias\($0)") }
        let outcomes = await FanOut.run(endpoints, limit: 30, name: \.name) { endpoint in
            try await connector.connect(endpoint).run(ShellCommand("echo", endpoint.name)).stdoutText
        }
        #expect(outcomes.count == 25)
        for outcome in outcomes {
            #expect(outcome.value == "\(outcome.host)\n", "\(outcome.host): \(String(describing: outcome.error))")
        }
        await connector.closeAll()
    }

    @Test("password authentication with the password from the named environment variable; a wrong one fails")
    func password() async throws {
        let user = "capstanpw"
        let created = (try? sh("id \(user)")) == nil
        if created { try sh("useradd -m -s /bin/sh \(user)") }
        defer { if created { _ = try? sh("userdel -r \(user) 2>/dev/null") } }
        try sh("usermod -p \"$(openssl passwd -6 'pa ss')\" \(user)")
        let setup = try Setup(extraConfig: "PasswordAuthentication yes")
        defer { setup.server.stop() }
        setenv("CAPSTAN_TEST_PASSWORD", "pa ss", 1)
        setenv("CAPSTAN_TEST_WRONG_PASSWORD", "nope", 1)
        for transport in Transport.allCases {
            var endpoint = setup.endpoint(user: user)
            endpoint.authentication = [.password(env: "CAPSTAN_TEST_PASSWORD")]
            let connection = try await transport.connect(endpoint)
            #expect(try await connection.run(ShellCommand("id", "-un")).stdoutText == "\(user)\n", "\(transport)")
            await connection.close()

            endpoint.authentication = [.password(env: "CAPSTAN_TEST_WRONG_PASSWORD")]
            let error = await #expect(throws: HostError.self, "\(transport)") { try await transport.connect(endpoint) }
            guard case .authenticationFailed(_, let failedUser, let tried, _)? = error else { Issue.record("\(transport): wrong error \(String(describing: error))"); continue }
            #expect(failedUser == user)
            #expect(tried == ["password"])
        }
    }

    @Test("cancelling the task of a running command ends its processes on the host; the connection stays usable", arguments: Transport.allCases)
    func cancellation(transport: Transport) async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let connection = try await transport.connect(setup.endpoint())
        let pidFile = setup.client.file("child.pid")
        // A background child (not exec'd): killing only the shell would leave it running.
        let task = Task {
            try await connection.run(ShellCommand(["sh", "-c", "sleep 600 & echo $! > \"$1\"; wait", "sh", pidFile]))
        }
        // Generous: the suite starts dozens of sshd's on two shared cores.
        let started = await eventually(120) { ((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "").hasSuffix("\n") }
        try #require(started, "the command did not start")
        let pid = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(processAlive(pid))
        let began = Date()
        task.cancel()
        let result = await task.result
        #expect(throws: CancellationError.self) { try result.get() }
        // Well below the command's own 600 s (the kill is bounded at two tries of 20 s).
        #expect(Date().timeIntervalSince(began) < 90)
        #expect(await eventually(60) { !processAlive(pid) }, "sleep \(pid) still runs on the host")
        #expect(try await connection.run(ShellCommand("echo", "still here")).stdoutText == "still here\n")
    }

    @Test("a timed-out command's processes are gone from the host", arguments: Transport.allCases)
    func timeoutKillsRemote(transport: Transport) async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let connection = try await transport.connect(setup.endpoint())
        let pidFile = setup.client.file("child.pid")
        let error = await #expect(throws: HostError.self) {
            try await connection.run(ShellCommand(["sh", "-c", "sleep 600 & echo $! > \"$1\"; wait", "sh", pidFile]), options: RunOptions(timeoutSeconds: 8))
        }
        guard case .timeout? = error else { Issue.record("wrong error \(String(describing: error))"); return }
        try #require(FileManager.default.fileExists(atPath: pidFile), "the command had not started within its 8 s timeout (machine overloaded)")
        let pid = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await eventually { !processAlive(pid) }, "sleep \(pid) still runs on the host")
    }
}
