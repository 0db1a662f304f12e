import ArgumentParser

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Write a commented example inventory.")

    func run() async throws {
        throw NotImplemented(command: "init")
    }
}
