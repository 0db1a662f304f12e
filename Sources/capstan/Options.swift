import ArgumentParser

enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text, json
}

struct InventoryOption: ParsableArguments {
    @Option(name: [.short, .customLong("inventory")], help: "Inventory file (YAML, capstan.dev/v1alpha1).")
    var inventory: String
}

struct OutputOption: ParsableArguments {
    @Option(name: .long, help: "Output format: text or json.")
    var output: OutputFormat = .text
}

/// Thrown by commands whose workflow has not been built yet: says so plainly and exits non-zero.
struct NotImplemented: Error, CustomStringConvertible {
    var command: String
    var description: String { "capstan \(command) is not implemented yet" }
}
