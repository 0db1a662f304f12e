import ArgumentParser

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "etcd members, leader, DB size; services; certificate expiry.")

    func run() async throws {
        throw NotImplemented(command: "status")
    }
}
