import ArgumentParser
import Foundation
import Inventory
import Workflows
#if canImport(Glibc)
import Glibc
#endif

/// An interactive terminal is the system OpenSSH client's job: Capstan execs `ssh` with the inventory's
/// settings (user, port, key, known_hosts file and policy, `-J` for the bastion).
struct SSHCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ssh", abstract: "Open an interactive shell on an inventory host.", discussion: HelpExamples.discussion("ssh"))

    @OptionGroup var inventoryOption: InventoryOption
    @Argument(help: "The inventory host name.")
    var host: String
    @Flag(name: .long, help: "Print the ssh command instead of running it.")
    var printOnly = false

    func run() async throws {
        let (inventory, _) = try InventoryLoader.loadOrThrow(path: inventoryOption.inventory)
        guard let spec = inventory.hosts.first(where: { $0.name == host }) else {
            throw ValidationError("no host named \(host) in \(inventoryOption.inventory) (hosts: \(inventory.hosts.map(\.name).joined(separator: ", ")))")
        }
        let endpoint = HostEndpoints.endpoint(for: spec, in: inventory)
        let arguments = ["ssh"] + HostEndpoints.opensshArguments(for: endpoint) + [endpoint.address]
        if printOnly {
            print(arguments.joined(separator: " "))
            return
        }
        let argv = arguments.map { strdup($0) } + [nil]
        execvp("ssh", argv)
        // Only reached when exec failed: a failure to run, not a usage error (exit 1, not 64).
        throw WorkflowError.unexpectedAnswer("cannot run ssh: \(String(cString: strerror(errno))); install the OpenSSH client or put ssh on PATH")
    }
}
