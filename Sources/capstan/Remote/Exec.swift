import ArgumentParser

struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec", abstract: "Run a command on inventory hosts, output prefixed by host name.")

    func run() async throws {
        throw NotImplemented(command: "exec")
    }
}
