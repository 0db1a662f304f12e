import Hosts
import Inventory

/// The single place where commands get live connections to the inventory's hosts. A build without an SSH
/// transport wired here fails every live command with one clear message instead of half-working.
enum LiveConnector {
    struct Unavailable: Error, CustomStringConvertible {
        var description: String { "SSH transport not available in this build: commands that reach hosts cannot run" }
    }

    /// Opens a connection to `host` with the inventory's SSH settings.
    static func connect(_ host: HostSpec, inventory: Inventory) async throws -> any HostConnection {
        throw Unavailable()
    }

    /// Opens a connection to the SFTP backup host of `destination`.
    static func connectBackupHost(address: String, port: Int, user: String?, inventory: Inventory) async throws -> any HostConnection {
        throw Unavailable()
    }
}
