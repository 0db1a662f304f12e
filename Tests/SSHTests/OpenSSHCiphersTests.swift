import Foundation
import Hosts
import Testing
import TestSupport
@testable import SSH

@Suite("the OpenSSH transport's cipher order", .tags(.unit))
struct OpenSSHCiphersOrderTests {
    let builtIn = ["chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr",
                   "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]

    @Test("with AES instructions, AES-GCM goes first and every other default cipher stays, in its order")
    func reordered() {
        #expect(OpenSSHCiphers.preferred(builtIn: builtIn, effective: builtIn, localAES: true)
                == "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr")
    }

    @Test("a configuration that chose its own ciphers, a CPU without AES, or no AES-GCM in the default: ssh's order stays")
    func leftAlone() {
        let chosen = ["chacha20-poly1305@openssh.com", "aes256-ctr"]
        #expect(OpenSSHCiphers.preferred(builtIn: builtIn, effective: chosen, localAES: true) == nil)
        #expect(OpenSSHCiphers.preferred(builtIn: builtIn, effective: builtIn, localAES: false) == nil)
        let noGCM = ["chacha20-poly1305@openssh.com", "aes128-ctr"]
        #expect(OpenSSHCiphers.preferred(builtIn: noGCM, effective: noGCM, localAES: true) == nil)
        let gcmFirst = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr"]
        #expect(OpenSSHCiphers.preferred(builtIn: gcmFirst, effective: gcmFirst, localAES: true) == nil)
        #expect(OpenSSHCiphers.preferred(builtIn: [], effective: [], localAES: true) == nil)
    }

    @Test("`ssh -G` output and /proc/cpuinfo are read as ssh and the kernel write them")
    func parsing() {
        let config = "user root\nhostname 10.0.0.1\nciphers chacha20-poly1305@openssh.com,aes128-gcm@openssh.com\nmacs x\n"
        #expect(OpenSSHEffectiveConfig(text: config).ciphers == ["chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com"])
        #expect(OpenSSHEffectiveConfig(text: "user root\n").ciphers == nil)
        #expect(OpenSSHCiphers.cpuInfoHasAES("processor\t: 0\nflags\t\t: fpu sse2 aes avx2\n"))
        #expect(OpenSSHCiphers.cpuInfoHasAES("Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n"))
        #expect(!OpenSSHCiphers.cpuInfoHasAES("flags\t\t: fpu sse2 vaes avx2\nFeatures\t: fp asimd crc32\n"))
    }
}

@Suite("the cipher the OpenSSH transport negotiates with a real sshd", .tags(.sshd),
       .enabled(if: OpenSSHCiphers.localCPUHasAES, "this machine's CPU has no AES instructions: ssh's own order is kept"))
struct OpenSSHCiphersNegotiationTests {
    /// The master runs with `-v`: its log names the negotiated cipher in `kex: client->server cipher: …`.
    private func negotiated(serverConfig: String) async throws -> String? {
        let setup = try Setup(extraConfig: serverConfig)
        defer { setup.server.stop() }
        let connector = try OpenSSHConnector()
        let connection = try await connector.connect(setup.endpoint())
        #expect(try await connection.run(ShellCommand("echo", "ok")).stdoutText == "ok\n")
        let logs = try FileManager.default.contentsOfDirectory(atPath: connector.controlDirectory).filter { $0.hasSuffix(".log") }
        let text = try logs.map { try String(contentsOfFile: "\(connector.controlDirectory)/\($0)", encoding: .utf8) }.joined()
        await connector.closeAll()
        let line = text.split(whereSeparator: \.isNewline).first { $0.contains("kex: client->server cipher: ") }
        return line.flatMap { $0.components(separatedBy: "cipher: ").last?.split(separator: " ").first.map(String.init) }
    }

    @Test("AES-GCM when the server offers it, as ssh's own order would not choose")
    func aesGCM() async throws {
        #expect(try await negotiated(serverConfig: "") == "aes128-gcm@openssh.com")
    }

    @Test("a server without AES-GCM still connects, with a cipher of ssh's default list")
    func serverWithoutGCM() async throws {
        #expect(try await negotiated(serverConfig: "Ciphers chacha20-poly1305@openssh.com,aes256-ctr") == "chacha20-poly1305@openssh.com")
    }
}
