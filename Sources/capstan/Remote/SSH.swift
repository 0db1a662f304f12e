import ArgumentParser

struct SSHCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ssh", abstract: "Open an interactive shell on an inventory host.")

    func run() async throws {
        throw NotImplemented(command: "ssh")
    }
}
