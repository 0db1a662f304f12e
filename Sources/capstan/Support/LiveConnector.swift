import Hosts
import Inventory

/// Connections outside a run's context: the SFTP backup host, which is not an inventory host. The inventory's
/// hosts are reached only through `LiveContext` (reads through its readers, changes through `change`).
enum LiveConnector {
    /// One connector per process, so connections (and bastion sessions) are reused across phases.
    static let shared = TransportConnector(transports: [:])

    /// Opens a connection to `host` with the inventory's SSH settings and transport.
    private static func connect(_ host: HostSpec, inventory: Inventory) async throws -> any HostConnection {
        try await shared.connect(HostEndpoints.endpoint(for: host, in: inventory), transport: inventory.effectiveSSH(for: host).transport ?? .libssh2)
    }

    /// Opens a connection to the SFTP backup host of `destination`, with the cluster's SSH defaults.
    static func connectBackupHost(address: String, port: Int, user: String?, inventory: Inventory) async throws -> any HostConnection {
        var ssh = SSHSpec(port: port)
        ssh.user = user
        let host = HostSpec(name: "backup-host", address: address, roles: [], ssh: ssh)
        return try await connect(host, inventory: inventory)
    }
}
