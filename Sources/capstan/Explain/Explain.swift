import ArgumentParser
import Foundation
import Inventory

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Describe inventory keys: type, default, example and what each does.",
        discussion: HelpExamples.discussion("explain", """
            Without a path, lists the top-level keys. A path names a key as the reference writes it \
            (spec.hosts[].ssh.port), with an index (spec.hosts[0].ssh.port) or without brackets \
            (spec.hosts.ssh.port); a path below spec may leave spec out (etcd.backup). \
            An unknown path exits 1. docs/inventory.md is the output of --markdown.
            """)
    )

    @Argument(help: ArgumentHelp("The key to describe, e.g. spec.etcd.backup.", valueName: "path"))
    var path: String?

    @Flag(name: .long, help: "Describe every key below the path, not only its direct children.")
    var recursive = false

    @Flag(name: .long, help: "Print the reference of every key below the path (all keys without one) as Markdown.")
    var markdown = false

    @OptionGroup var output: OutputOption

    func validate() throws {
        if markdown && output.output == .json { throw ValidationError("--markdown and --output json exclude each other") }
    }

    func run() throws {
        let key: InventoryKey?
        switch InventorySchema.lookup(path ?? "") {
        case .root:
            key = nil
        case .key(let found):
            key = found
        case let .unknown(name, parent, suggestion):
            let place = parent.isEmpty ? "the top level" : parent
            var message = "error: '\(name)' is not a key of \(place)"
            if let suggestion { message += "; did you mean '\(parent.isEmpty ? suggestion : parent + "." + suggestion)'?" }
            let known = InventorySchema.children(of: parent).map(\.name)
            if suggestion == nil, !known.isEmpty { message += " (its keys: \(known.joined(separator: ", ")))" }
            printError(message)
            throw ExitCode(1)
        }
        if markdown {
            print(InventoryReference.markdown(from: key), terminator: "")
            return
        }
        switch output.output {
        case .json: try printJSON(InventoryReference.json(key, recursive: recursive))
        case .text: print(InventoryReference.text(key, recursive: recursive), terminator: "")
        }
    }
}
