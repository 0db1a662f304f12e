import ArgumentParser
import Hosts
import Inventory

/// Which inventory hosts a remote command (`exec`, `copy`) acts on, and how many at once.
struct HostSelection: ParsableArguments {
    @Option(name: .long, help: "Only hosts with this role (repeatable).")
    var role: [Role] = []
    @Option(name: .long, help: "Only this host (repeatable).")
    var host: [String] = []
    @Option(name: .long, help: "Hosts at once.")
    var concurrency: Int = FanOut.defaultLimit

    /// The selected hosts in inventory order; a clear error for an unknown name or an empty selection.
    func hosts(in inventory: Inventory, path: String) throws -> [HostSpec] {
        let unknown = host.filter { name in !inventory.hosts.contains { $0.name == name } }
        guard unknown.isEmpty else { throw ValidationError("no host named \(unknown.joined(separator: ", ")) in \(path)") }
        let selected = inventory.hosts.filter { spec in
            (role.isEmpty || !spec.roles.isDisjoint(with: role)) && (host.isEmpty || host.contains(spec.name))
        }
        guard !selected.isEmpty else { throw ValidationError("no host matches the selection") }
        return selected
    }
}

extension Role: ExpressibleByArgument {}
