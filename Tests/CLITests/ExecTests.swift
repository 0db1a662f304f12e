import Foundation
import Testing
import TestSupport

/// Three inventory hosts (used by the `exec` and `copy` tests), each a real sshd on a loopback port, reached with an ed25519 key and a
/// known_hosts file that trusts them; `transport` picks the SSH transport for every host.
struct ExecFixture {
    let client: TempDir
    let servers: [TestSSHServer]
    let inventory: String

    init(transport: String, brokenWorker: Bool = false) throws {
        client = try TempDir()
        let key = try TestKey.make("ed25519", in: client, name: "id_ed25519")
        // Each host its own loopback address (the inventory refuses duplicate addresses).
        servers = try (0..<3).map { i in try TestSSHServer(authorizedKeys: [key], extraConfig: "ListenAddress 127.0.0.\(i + 2)") }
        try servers.enumerated().map { i, s in s.knownHostsLine.replacingOccurrences(of: "[127.0.0.1]", with: "[127.0.0.\(i + 2)]") }.joined().write(toFile: client.file("known_hosts"), atomically: true, encoding: .utf8)
        // Port 1 has no listener: the broken worker cannot connect.
        let workerPorts = [servers[1].port, brokenWorker ? 1 : servers[2].port]
        inventory = client.file("inventory.yaml")
        try """
        apiVersion: capstan.dev/v1alpha1
        kind: Cluster
        metadata:
          name: exectest
        spec:
          kubernetesVersion: v1.31.4
          controlPlane:
            mode: self-managed
            endpoint: 127.0.0.1:6443
          etcd:
            version: 3.4.23
          ssh:
            user: root
            identityFile: id_ed25519
            agent: false
            transport: \(transport)
            knownHosts:
              file: known_hosts
              policy: strict
          hosts:
            - name: cp1
              address: 127.0.0.2
              roles: [control-plane, etcd]
              ssh:
                port: \(servers[0].port)
            - name: w1
              address: 127.0.0.3
              roles: [worker]
              ssh:
                port: \(workerPorts[0])
            - name: w2
              address: 127.0.0.4
              roles: [worker]
              ssh:
                port: \(workerPorts[1])

        """.write(toFile: inventory, atomically: true, encoding: .utf8)
    }

    func stop() { servers.forEach { $0.stop() } }

    func capstan(_ args: [String], environment: [String: String] = [:]) throws -> ProgramRun {
        try runProgram([productsDirectory.appendingPathComponent("capstan").path] + args, environment: environment)
    }
}

@Suite("capstan exec against real sshd's", .tags(.sshd))
struct ExecTests {
    @Test("--role worker runs on the workers only, each output line prefixed by the host name", arguments: ["libssh2", "openssh"])
    func roleWorker(transport: String) throws {
        let fixture = try ExecFixture(transport: transport)
        defer { fixture.stop() }
        // `uname -n` is the same on every loopback sshd; the port tells the hosts apart.
        let r = try fixture.capstan(["exec", "-i", fixture.inventory, "--role", "worker", "--", "uname -n; echo port ${SSH_CONNECTION##* }"])
        #expect(r.status == 0, "\(r.stderr)")
        let node = try sh("uname -n").trimmingCharacters(in: .whitespacesAndNewlines)
        let lines = Set(r.stdout.split(separator: "\n").map(String.init))
        #expect(lines == ["w1 | \(node)", "w1 | port \(fixture.servers[1].port)", "w2 | \(node)", "w2 | port \(fixture.servers[2].port)"])
    }

    @Test("with the OpenSSH transport, the control directory (sockets, master logs, askpass) exists during the run and is gone after it, and so are the masters")
    func controlDirectoryRemoved() throws {
        let fixture = try ExecFixture(transport: "openssh")
        defer { fixture.stop() }
        let tmp = fixture.client.file("tmp")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        // The sshd's run on this machine, so the remote command sees capstan's temporary directory.
        let r = try fixture.capstan(["exec", "-i", fixture.inventory, "--host", "cp1", "--", "ls \(tmp)"], environment: ["TMPDIR": tmp])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("cp1 | capstan-ssh-"), "no control directory under TMPDIR during the run: \(r.stdout)")
        let left = try FileManager.default.contentsOfDirectory(atPath: tmp)
        #expect(left.isEmpty, "left after the run: \(left)")
        // `copy` closes each host's connection itself and then all of them: no master outlives the run
        // (one told to exit after its socket was removed would stay for ControlPersist's 10 minutes).
        let local = fixture.client.file("payload")
        try Data("payload\n".utf8).write(to: URL(fileURLWithPath: local))
        for _ in 0..<3 {
            let copy = try fixture.capstan(["copy", "-i", fixture.inventory, local, fixture.client.file("copied")], environment: ["TMPDIR": tmp])
            #expect(copy.status == 0, "\(copy.stderr)")
        }
        var masters = ""
        for _ in 0..<30 {
            // `[c]` keeps the pattern from matching the shell that runs pgrep.
            masters = (try? sh("pgrep -af -- 'ssh -M .*\(tmp)/[c]apstan-ssh-' || true")) ?? ""
            if masters.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(masters.isEmpty, "ssh masters left after the runs: \(masters)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty)
    }

    @Test("--transport overrides the inventory's transport for the run: openssh on a libssh2 inventory runs through ssh masters (its control directory exists), libssh2 on an openssh inventory does not")
    func transportOverride() throws {
        for (inventoryTransport, flag, throughOpenSSH) in [("libssh2", "openssh", true), ("openssh", "libssh2", false), ("libssh2", nil, false)] {
            let fixture = try ExecFixture(transport: inventoryTransport)
            defer { fixture.stop() }
            let tmp = fixture.client.file("tmp")
            try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            let args = ["exec", "-i", fixture.inventory, "--host", "cp1"] + (flag.map { ["--transport", $0] } ?? []) + ["--", "ls \(tmp)"]
            let r = try fixture.capstan(args, environment: ["TMPDIR": tmp])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("cp1 | capstan-ssh-") == throughOpenSSH,
                    "inventory \(inventoryTransport), --transport \(flag ?? "(none)"): \(r.stdout)")
            // The same override for copy: the file arrives either way.
            let local = fixture.client.file("payload")
            try Data("payload\n".utf8).write(to: URL(fileURLWithPath: local))
            let copy = try fixture.capstan(["copy", "-i", fixture.inventory, "--host", "w1"] + (flag.map { ["--transport", $0] } ?? []) + [local, fixture.client.file("copied")])
            #expect(copy.status == 0, "\(copy.stderr)")
            #expect(FileManager.default.contents(atPath: fixture.client.file("copied")) == Data("payload\n".utf8))
        }
        let fixture = try ExecFixture(transport: "libssh2")
        defer { fixture.stop() }
        let bad = try fixture.capstan(["exec", "-i", fixture.inventory, "--transport", "putty", "--", "true"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("putty"), "\(bad.stderr)")
    }

    @Test("argument words after -- run as one quoted command: uname -n")
    func plainArguments() throws {
        let fixture = try ExecFixture(transport: "libssh2")
        defer { fixture.stop() }
        let r = try fixture.capstan(["exec", "-i", fixture.inventory, "--role", "worker", "--", "uname", "-n"])
        #expect(r.status == 0, "\(r.stderr)")
        let node = try sh("uname -n").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(r.stdout.split(separator: "\n").sorted() == ["w1 | \(node)", "w2 | \(node)"])
    }

    @Test("one host failing (unreachable or non-zero exit) makes the exit status non-zero; the others still run", arguments: ["libssh2", "openssh"])
    func oneHostFails(transport: String) throws {
        let fixture = try ExecFixture(transport: transport, brokenWorker: true)
        defer { fixture.stop() }
        let r = try fixture.capstan(["exec", "-i", fixture.inventory, "--", "echo ok"])
        #expect(r.status == 1)
        #expect(r.stdout.split(separator: "\n").sorted() == ["cp1 | ok", "w1 | ok"])
        #expect(r.stderr.contains("w2: cannot connect to w2"), "\(r.stderr)")
        #expect(r.stderr.contains("1 of 3 hosts failed"))

        let exit = try fixture.capstan(["exec", "-i", fixture.inventory, "--host", "cp1", "--", "exit 7"])
        #expect(exit.status == 1)
        #expect(exit.stderr.contains("cp1: exit 7"))
    }

    @Test("--output json gives each host's exit status, stdout and stderr, or its error")
    func json() throws {
        let fixture = try ExecFixture(transport: "openssh", brokenWorker: true)
        defer { fixture.stop() }
        let r = try fixture.capstan(["exec", "-i", fixture.inventory, "--output", "json", "--", "echo out; echo err >&2"])
        #expect(r.status == 1)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["host"] as? String } == ["cp1", "w1", "w2"])
        for row in rows.prefix(2) {
            #expect(row["exitStatus"] as? Int == 0)
            #expect(row["stdout"] as? String == "out\n")
            #expect(row["stderr"] as? String == "err\n")
        }
        #expect((rows[2]["error"] as? String)?.contains("cannot connect") == true)
    }
}
