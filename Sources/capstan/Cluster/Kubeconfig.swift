import ArgumentParser

struct KubeconfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kubeconfig", abstract: "Write an admin kubeconfig for the cluster.")

    func run() async throws {
        throw NotImplemented(command: "kubeconfig")
    }
}
