import ArgumentParser

struct ArtifactsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "artifacts", abstract: "Fetch and verify release artifacts; build offline bundles.")

    func run() async throws {
        throw NotImplemented(command: "artifacts")
    }
}
