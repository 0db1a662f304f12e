import Foundation
import Inventory
import PKI

/// The hosts of the last `apply`, by name: address and roles, in `<state>/hosts.json`. `node remove` and
/// `reset --host` take a host's address from it once the inventory no longer lists the host.
public struct HostRoster: Sendable, Equatable, Codable {
    public struct Entry: Sendable, Equatable, Codable {
        public var address: String
        public var roles: [Role]
    }

    public static let statePath = "hosts.json"
    public var hosts: [String: Entry]

    public init(_ inventory: Inventory) {
        hosts = Dictionary(inventory.hosts.map { ($0.name, Entry(address: $0.address, roles: $0.roles.sorted { $0.rawValue < $1.rawValue })) },
                           uniquingKeysWith: { a, _ in a })
    }

    public static func load(_ state: StateDirectory) throws -> HostRoster? {
        guard let data = try state.read(statePath) else { return nil }
        do { return try JSONDecoder().decode(HostRoster.self, from: data) } catch {
            throw WorkflowError.stateFile("\(state.path(statePath)) is not a host roster (\(error)); remove it, the next `capstan apply` writes it again", cause: error)
        }
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self) + Data("\n".utf8)
    }

    /// The host as the roster knows it.
    public func host(named name: String) -> HostSpec? {
        hosts[name].map { HostSpec(name: name, address: $0.address, roles: Set($0.roles)) }
    }

    /// Records the inventory's hosts when they differ from the record. Bookkeeping of what the inventory
    /// already says, not a change to the cluster: written in apply mode only and not counted as an action,
    /// so a converged cluster still applies with 0 changes.
    public static func record(_ inventory: Inventory, state: StateDirectory, in ctx: WorkflowContext) async throws {
        let roster = HostRoster(inventory)
        guard (try? load(state)) != roster else { return }
        try await ctx.bookkeeping { _ = try state.write(try roster.encoded(), to: statePath, mode: 0o600) }
    }
}
