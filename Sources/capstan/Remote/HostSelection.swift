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
    @Flag(name: .customLong("dry-run"), help: "Print the selected hosts and what would be done on each; connect to none.")
    var dryRun = false
    @Option(name: .long, help: ArgumentHelp(
        "SSH transport for this run, whatever the inventory's spec.ssh.transport says (openssh is the faster one for large files).",
        valueName: "name"))
    var transport: SSHTransportKind?

    /// A dry run's one line: what, on which hosts.
    func dryRunLine(_ what: String, on hosts: [HostSpec]) -> String {
        "dry run: would \(what) on \(hosts.count) host(s), \(min(concurrency, hosts.count)) at once: \(hosts.map(\.name).joined(separator: ", "))"
    }

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
extension SSHTransportKind: ExpressibleByArgument {}
