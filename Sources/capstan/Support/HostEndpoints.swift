import Foundation
import Hosts
import Inventory
import SSH

/// Maps inventory hosts to connection endpoints: the cluster's SSH defaults overlaid with the host's
/// overrides, paths resolved against the inventory file, the identity file first, then the agent.
enum HostEndpoints {
    static func endpoint(for host: HostSpec, in inventory: Inventory) -> HostEndpoint {
        let ssh = inventory.effectiveSSH(for: host)
        let resolve = { (path: String) in InventoryLoader.resolve(path, relativeTo: inventory.sourcePath) }
        let user = ssh.user ?? "root"
        var authentication: [HostEndpoint.Authentication] = []
        if let identity = ssh.identityFile { authentication.append(.privateKey(path: resolve(identity), passphraseEnv: nil)) }
        if ssh.useAgent ?? true { authentication.append(.agent) }
        if let env = ssh.passwordEnv { authentication.append(.password(env: env)) }
        let bastion = ssh.bastion.map { b in
            HostEndpoint.Jump(
                address: b.address, port: b.port, user: b.user ?? user,
                authentication: b.identityFile.map { [.privateKey(path: resolve($0), passphraseEnv: nil)] + authentication.filter { $0 == .agent } } ?? authentication)
        }
        return HostEndpoint(
            name: host.name, address: host.address, port: ssh.port ?? 22, user: user,
            authentication: authentication,
            knownHostsFile: resolve(ssh.knownHostsFile ?? "~/.ssh/known_hosts"),
            knownHostsPolicy: ssh.knownHostsPolicy == .acceptNew ? .acceptNew : .strict,
            bastion: bastion, become: ssh.become ?? false,
            connectTimeoutSeconds: Double(ssh.connectTimeout?.seconds ?? 10))
    }

    /// The OpenSSH client arguments that reach `endpoint` with the same settings (for interactive use).
    static func opensshArguments(for endpoint: HostEndpoint) -> [String] {
        var args = ["-p", String(endpoint.port), "-l", endpoint.user,
                    "-o", "UserKnownHostsFile=\(endpoint.knownHostsFile)",
                    "-o", "StrictHostKeyChecking=\(endpoint.knownHostsPolicy == .acceptNew ? "accept-new" : "yes")",
                    "-o", "ConnectTimeout=\(Int(endpoint.connectTimeoutSeconds))"]
        for case .privateKey(let path, _) in endpoint.authentication { args += ["-i", path] }
        if !endpoint.authentication.contains(.agent) { args += ["-o", "IdentitiesOnly=yes"] }
        if let jump = endpoint.bastion {
            args += ["-J", "\(jump.user)@\(jump.address.contains(":") ? "[\(jump.address)]" : jump.address):\(jump.port)"]
        }
        return args
    }

    /// One connector for the inventory: each host goes through the transport its `ssh.transport` names, or
    /// every host through `transport` when one is given (`exec` and `copy --transport`).
    static func connector(for inventory: Inventory, transport: SSHTransportKind? = nil) -> TransportConnector {
        var transports: [String: SSHTransportKind] = [:]
        for host in inventory.hosts { transports[host.name] = transport ?? inventory.effectiveSSH(for: host).transport ?? .libssh2 }
        return TransportConnector(transports: transports)
    }
}

/// Dispatches each host to the libssh2 or the OpenSSH connector by the inventory's `transport`; the
/// OpenSSH connector (and its private control directory) is made only when a host asks for it.
final class TransportConnector: HostConnector, @unchecked Sendable {
    private let transports: [String: SSHTransportKind]
    private let libssh2 = LibSSH2Connector()
    private let lock = NSLock()
    private var openssh: OpenSSHConnector?

    init(transports: [String: SSHTransportKind]) { self.transports = transports }

    func connect(_ endpoint: HostEndpoint) async throws -> any HostConnection {
        try await connect(endpoint, transport: transports[endpoint.name] ?? .libssh2)
    }

    /// Connects through the named transport, whatever the map says (for hosts outside the inventory's list).
    func connect(_ endpoint: HostEndpoint, transport: SSHTransportKind) async throws -> any HostConnection {
        switch transport {
        case .libssh2: return try await libssh2.connect(endpoint)
        case .openssh: return try await opensshConnector().connect(endpoint)
        }
    }

    private func opensshConnector() throws -> OpenSSHConnector {
        try lock.withLock {
            if let openssh { return openssh }
            let made = try OpenSSHConnector()
            openssh = made
            return made
        }
    }

    /// Closes every connection. The OpenSSH connector is forgotten once its masters are closed, so its control
    /// directory (sockets, master logs, askpass scripts) goes with it (`capstan` ends with `exit`, which runs no
    /// deinit); a host connected after this gets a new connector.
    func closeAll() async {
        await libssh2.closeAll()
        let openssh = lock.withLock {
            defer { self.openssh = nil }
            return self.openssh
        }
        await openssh?.closeAll()
    }
}
