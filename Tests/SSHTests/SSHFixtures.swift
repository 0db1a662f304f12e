import Foundation
import Hosts
import Testing
import TestSupport
@testable import SSH

/// The two transports behind the Hosts protocols; tests of shared behaviour run against both.
enum Transport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case libssh2
    case openssh

    var testDescription: String { rawValue }

    func connector(maxNewConnectionsPerServer: Int = 10) throws -> any ClosingConnector {
        switch self {
        case .libssh2: return LibSSH2Connector(maxNewConnectionsPerServer: maxNewConnectionsPerServer)
        case .openssh: return try OpenSSHConnector(maxNewConnectionsPerServer: maxNewConnectionsPerServer)
        }
    }

    /// Connects with a fresh connector.
    func connect(_ endpoint: HostEndpoint) async throws -> any HostConnection {
        try await connector().connect(endpoint)
    }
}

/// A connector whose connections can all be closed at the end of a test.
protocol ClosingConnector: HostConnector {
    func closeAll() async
}

extension LibSSH2Connector: ClosingConnector {}
extension OpenSSHConnector: ClosingConnector {}

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

/// Polls `condition` up to `seconds`; true as soon as it holds.
func eventually(_ seconds: Double = 30, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return condition()
}

/// True while `pid` exists and is not a zombie.
func processAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
}
