import Foundation
import Hosts
import Testing
import TestSupport
@testable import SSH

@Suite("when the OpenSSH transport opens the TCP connection itself", .tags(.unit))
struct OpenSSHDirectRuleTests {
    private func config(_ lines: String...) -> OpenSSHEffectiveConfig {
        OpenSSHEffectiveConfig(text: (["user root", "hostname 10.0.0.7", "port 2222", "addressfamily any",
                                       "canonicalizehostname false", "connectionattempts 1", "tcpkeepalive yes"] + lines).joined(separator: "\n"))
    }

    @Test("a plain connection: the configuration's host name and port, with its TCPKeepAlive")
    func plain() {
        #expect(OpenSSHDirect.target(config()) == .init(host: "10.0.0.7", port: 2222, keepAlive: true))
        #expect(OpenSSHDirect.target(config("proxycommand none", "proxyjump none")) == .init(host: "10.0.0.7", port: 2222, keepAlive: true))
        // ssh -G prints a keyword once; the first line is ssh's value.
        #expect(OpenSSHDirect.target(OpenSSHEffectiveConfig(text: "hostname a\nport 22\ntcpkeepalive no\nhostname b\n")) == .init(host: "a", port: 22, keepAlive: false))
    }

    @Test("anything ssh does on its own way to the host leaves the connection to ssh")
    func leftToSSH() {
        for line in ["proxycommand nc %h %p", "proxyjump bastion", "bindaddress 10.0.0.1", "bindinterface eth1"] {
            #expect(OpenSSHDirect.target(config(line)) == nil, "\(line)")
        }
        for replaced in ["addressfamily inet", "canonicalizehostname yes", "connectionattempts 3"] {
            let key = replaced.split(separator: " ")[0]
            let text = config().values.filter { $0.key != key }.map { "\($0.key) \($0.value)" } + [replaced]
            #expect(OpenSSHDirect.target(OpenSSHEffectiveConfig(text: text.joined(separator: "\n"))) == nil, "\(replaced)")
        }
        #expect(OpenSSHDirect.target(OpenSSHEffectiveConfig(text: "user root\nport 22\n")) == nil)
    }

    @Test("the version `ssh -V` prints; handing over a connection needs OpenSSH 8.5 or later")
    func version() {
        let bookworm = OpenSSHDirect.Version(sshV: "OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026\n")
        #expect(bookworm?.major == 9 && bookworm?.minor == 2 && bookworm?.handsOverConnections == true)
        #expect(OpenSSHDirect.Version(sshV: "OpenSSH_8.4p1, OpenSSL 1.1.1k")?.handsOverConnections == false)
        #expect(OpenSSHDirect.Version(sshV: "OpenSSH_8.5p1")?.handsOverConnections == true)
        #expect(OpenSSHDirect.Version(sshV: "OpenSSH_10.0p2, LibreSSL 3.3.6")?.handsOverConnections == true)
        #expect(OpenSSHDirect.Version(sshV: "Dropbear v2022.83") == nil)
    }
}

@Suite("the OpenSSH transport on a connection Capstan opened, against a real sshd", .tags(.sshd))
struct OpenSSHDirectConnectionTests {
    /// Everything the masters of `connector` logged (`ssh -v`).
    private func masterLog(_ connector: OpenSSHConnector) throws -> String {
        let logs = try FileManager.default.contentsOfDirectory(atPath: connector.controlDirectory).filter { $0.hasSuffix(".log") }
        return try logs.map { try String(contentsOfFile: "\(connector.controlDirectory)/\($0)", encoding: .utf8) }.joined()
    }

    @Test("the master runs on Capstan's socket (ssh connects nothing itself) and serves commands")
    func handedOver() async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let connector = try OpenSSHConnector()
        let connection = try await connector.connect(setup.endpoint())
        #expect(try await connection.run(ShellCommand("echo", "ok")).stdoutText == "ok\n")
        let log = try masterLog(connector)
        await connector.closeAll()
        #expect(log.contains("Authenticated to"))
        #expect(!log.contains("Connecting to "), "ssh opened a connection of its own:\n\(log)")
    }

    @Test("a closed port: a clear error naming the host and the address, before ssh starts")
    func refused() async throws {
        let setup = try Setup()
        let port = setup.server.port
        setup.server.stop()
        let connector = try OpenSSHConnector()
        defer { Task { await connector.closeAll() } }
        do {
            _ = try await connector.connect(setup.endpoint(name: "node9"))
            Issue.record("connected to a stopped server")
        } catch HostError.connectFailed(let host, let address, let reason) {
            #expect(host == "node9")
            #expect(address == "127.0.0.1:\(port)")
            #expect(reason.lowercased().contains("refused"), "\(reason)")
        }
    }

    @Test("the user's configuration decides: its HostName is where Capstan connects, and with its ProxyCommand ssh connects itself")
    func configurationDecides() async throws {
        let setup = try Setup()
        defer { setup.server.stop() }
        let dir = try TempDir()
        let marker = dir.file("proxy-used")
        // `alias-a` exists only in this configuration; `alias-b` goes through a ProxyCommand (bash's /dev/tcp).
        let config = """
            Host alias-a
                HostName 127.0.0.1
            Host alias-b
                HostName 127.0.0.1
                ProxyCommand bash -c 'touch \(marker); exec 3<>/dev/tcp/%h/%p; cat <&3 & exec cat >&3'

            """
        try config.write(toFile: dir.file("config"), atomically: true, encoding: .utf8)
        let wrapper = dir.file("ssh")
        try "#!/bin/sh\nexec ssh -F \(dir.file("config")) \"$@\"\n".write(toFile: wrapper, atomically: true, encoding: .utf8)
        _ = chmod(wrapper, 0o755)
        // The known_hosts line names 127.0.0.1: both aliases check the host key under it (HostKeyAlias).
        var endpoints: [HostEndpoint] = []
        for alias in ["alias-a", "alias-b"] {
            let e = setup.endpoint(name: alias)
            endpoints.append(HostEndpoint(name: alias, address: alias, port: e.port, user: e.user, authentication: e.authentication,
                                          knownHostsFile: e.knownHostsFile, knownHostsPolicy: e.knownHostsPolicy, connectTimeoutSeconds: 10))
        }
        try "Host alias-a alias-b\n    HostKeyAlias [127.0.0.1]:\(setup.server.port)\n".appendingTo(dir.file("config"))

        let direct = try OpenSSHConnector(program: wrapper)
        let a = try await direct.connect(endpoints[0])
        #expect(try await a.run(ShellCommand("echo", "a")).stdoutText == "a\n")
        let directLog = try masterLog(direct)
        await direct.closeAll()
        #expect(!directLog.contains("Connecting to "))
        #expect(!FileManager.default.fileExists(atPath: marker))

        let proxied = try OpenSSHConnector(program: wrapper)
        let b = try await proxied.connect(endpoints[1])
        #expect(try await b.run(ShellCommand("echo", "b")).stdoutText == "b\n")
        await proxied.closeAll()
        #expect(FileManager.default.fileExists(atPath: marker), "the configuration's ProxyCommand did not run")
    }
}

private extension String {
    func appendingTo(_ path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(Data(utf8))
    }
}
