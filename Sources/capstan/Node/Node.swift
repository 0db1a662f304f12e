import ArgumentParser

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Add or remove nodes.",
        subcommands: [NodeAdd.self, NodeRemove.self]
    )
}

struct NodeAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a host from the inventory to the cluster.")

    func run() async throws {
        throw NotImplemented(command: "node add")
    }
}

struct NodeRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Drain and remove a node.")

    func run() async throws {
        throw NotImplemented(command: "node remove")
    }
}
