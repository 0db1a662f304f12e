import ArgumentParser

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "validate", abstract: "Check an inventory and report every problem at once (FILE:LINE:COL).")

    func run() async throws {
        throw NotImplemented(command: "validate")
    }
}
