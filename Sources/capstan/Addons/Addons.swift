import ArgumentParser

struct AddonsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "addons", abstract: "Render and apply add-on manifests (monitoring).")

    func run() async throws {
        throw NotImplemented(command: "addons")
    }
}
