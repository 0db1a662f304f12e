import ArgumentParser
import Foundation
import Inventory
import Templates

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a commented example inventory.",
        discussion: HelpExamples.discussion("init", "The example inventories: \(ExampleInventory.all.map(\.name).joined(separator: ", ")). Use --list to describe them.")
    )

    @Option(name: .long, help: "Which example to write (see --list).")
    var example: String = "bare-metal-ha"

    @Option(name: [.short, .long], help: "File to write; '-' writes to standard output.")
    var output: String = "inventory.yaml"

    @Flag(name: .long, help: "Overwrite the output file if it exists.")
    var force = false

    @Flag(name: .long, help: "List the examples and exit.")
    var list = false

    func run() async throws {
        if list {
            let width = ExampleInventory.all.map(\.name.count).max() ?? 0
            for e in ExampleInventory.all {
                print(e.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + e.summary)
            }
            return
        }
        guard let chosen = ExampleInventory.named(example) else {
            throw ValidationError("unknown example '\(example)'; choose one of: \(ExampleInventory.all.map(\.name).joined(separator: ", "))")
        }
        let text: String
        do {
            text = try chosen.text()
        } catch {
            printError("error: the example \(chosen.name) is missing from this installation (\(ExampleInventory.directory)): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        if output == "-" {
            print(text, terminator: "")
            return
        }
        if FileManager.default.fileExists(atPath: output), !force {
            printError("error: \(output) already exists; use --force to overwrite it or --output to choose another file")
            throw ExitCode(1)
        }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            printError("error: cannot write \(output): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        print("wrote \(output) (example \(chosen.name): \(chosen.summary))")
        print("next: edit it, then run `capstan validate -i \(output)` and `capstan plan -i \(output)`")
    }
}
