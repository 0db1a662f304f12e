import ArgumentParser

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apply", abstract: "Converge the cluster: PKI, etcd, control plane, workers, add-ons.")

    func run() async throws {
        throw NotImplemented(command: "apply")
    }
}
