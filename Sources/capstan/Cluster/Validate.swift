import ArgumentParser
import Inventory
import Workflows

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check an inventory and report every problem at once (FILE:LINE:COL).",
        discussion: HelpExamples.discussion("validate", "Exits 1 when there is any error, 0 when there are only warnings or none.")
    )

    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption
    @OptionGroup var files: FileCheckOption

    func run() async throws {
        let path = inventory.inventory
        let result = InventoryLoader.load(path: path, checkFiles: !files.noFileChecks).checkingPhaseNames()
        switch output.output {
        case .json:
            print(try result.diagnostics.json())
        case .text:
            if !result.diagnostics.isEmpty { print(result.diagnostics.textLines) }
            print(result.diagnostics.summary(file: path, hosts: result.inventory?.hosts.count))
        }
        if !result.errors.isEmpty { throw ExitCode(1) }
    }
}
