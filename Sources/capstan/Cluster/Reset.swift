import ArgumentParser

struct ResetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reset", abstract: "Remove Capstan-installed components from hosts.")

    func run() async throws {
        throw NotImplemented(command: "reset")
    }
}
