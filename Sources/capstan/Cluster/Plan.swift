import ArgumentParser

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan", abstract: "Show what would change, host by host (reads hosts, changes nothing).")

    func run() async throws {
        throw NotImplemented(command: "plan")
    }
}
