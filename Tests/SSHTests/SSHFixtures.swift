import Foundation
import Hosts
@testable import SSH

/// One server, one client key and a known_hosts file that trusts the server: the common test setup.
struct Setup {
    let client: TempDir
    let key: TestKey
    let server: TestSSHServer
    let knownHosts: String

    init(keyType: String = "ed25519", trustHost: Bool = true, extraConfig: String = "") throws {
        client = try TempDir()
        key = try TestKey.make(keyType, in: client, name: "id_\(keyType)")
        server = try TestSSHServer(authorizedKeys: [key], extraConfig: extraConfig)
        knownHosts = client.file("known_hosts")
        if trustHost { try server.knownHostsLine.write(toFile: knownHosts, atomically: true, encoding: .utf8) }
    }

    func endpoint(name: String = "node1", user: String = "root", policy: HostEndpoint.KnownHostsPolicy = .strict, become: Bool = false, timeout: Double = 10) -> HostEndpoint {
        HostEndpoint(
            name: name, address: "127.0.0.1", port: server.port, user: user,
            authentication: [.privateKey(path: key.privatePath, passphraseEnv: nil)],
            knownHostsFile: knownHosts, knownHostsPolicy: policy, become: become, connectTimeoutSeconds: timeout)
    }
}
