import Foundation
import Testing
import TestSupport

/// Runs the built `capstan` executable as a user would, never on a terminal (its stdin is /dev/null), so
/// commands that ask refuse instead of waiting for an answer.
func capstan(_ args: [String]) throws -> ProgramRun {
    try runProgram([productsDirectory.appendingPathComponent("capstan").path] + args)
}

/// The directory holding the built products (the test bundle sits beside the executable).
let productsDirectory: URL = {
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return bundle.bundleURL.deletingLastPathComponent()
    }
    return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
}()

@Suite("capstan command tree", .tags(.unit))
struct HelpTests {
    @Test("--help lists every command of the design")
    func helpListsCommands() throws {
        let r = try capstan(["--help"])
        #expect(r.status == 0)
        for cmd in ["init", "validate", "plan", "apply", "status", "certs", "backup", "upgrade", "node", "reset", "kubeconfig", "lab"] {
            #expect(r.stdout.contains("  \(cmd)"), "missing \(cmd) in --help")
        }
    }
}

/// The help texts say only what the code does: every command in the tree answers `--help`, documents
/// every option, and no text admits to an unbuilt feature.
@Suite("help honesty", .tags(.unit))
struct HelpHonestyTests {
    /// Every command path of the tree, from ArgumentParser's own description of it.
    func commandPaths() throws -> [(path: [String], node: [String: Any])] {
        let dump = try capstan(["--experimental-dump-help"])
        try #require(dump.status == 0, "\(dump.stderr)")
        let root = try #require((try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])?["command"] as? [String: Any])
        var found: [(path: [String], node: [String: Any])] = []
        func walk(_ node: [String: Any], _ path: [String]) {
            found.append((path, node))
            for sub in node["subcommands"] as? [[String: Any]] ?? [] {
                guard let name = sub["commandName"] as? String, name != "help" else { continue }
                walk(sub, path + [name])
            }
        }
        walk(root, [])
        return found
    }

    @Test("every command answers --help (exit 0), every option has a description, no text says a feature is missing, and every leaf command shows examples that use only its own options")
    func honest() async throws {
        let paths = try commandPaths()
        #expect(paths.count > 40, "the command tree was not read: \(paths.map(\.path))")
        let unbuilt = ["not implemented", "todo", "fixme", "coming soon", "placeholder", "not yet supported", "stub"]
        // Some 60 processes: waited for on a thread of their own, not on one of the test pool's few threads.
        let commands = paths.map(\.path)
        let helps = try await withCheckedThrowingContinuation { (done: CheckedContinuation<[ProgramRun], Error>) in
            DispatchQueue.global().async { done.resume(with: Result { try commands.map { try capstan($0 + ["--help"]) } }) }
        }
        for ((path, node), help) in zip(paths, helps) {
            #expect(help.status == 0, "\(path): \(help.stderr)")
            let text = help.stdout.lowercased()
            for word in unbuilt {
                #expect(!text.contains(word), "capstan \(path.joined(separator: " ")) --help says \"\(word)\":\n\(help.stdout)")
            }
            for argument in node["arguments"] as? [[String: Any]] ?? [] where (argument["shouldDisplay"] as? Bool) ?? true {
                let abstract = (argument["abstract"] as? String) ?? ""
                #expect(!abstract.isEmpty, "capstan \(path.joined(separator: " ")): \(argument["valueName"] ?? argument) has no description")
            }
            if (node["subcommands"] as? [[String: Any]] ?? []).filter({ $0["commandName"] as? String != "help" }).isEmpty {
                try expectExamples(path, node, help.stdout)
            }
        }
    }

    /// The lines after `Examples:` each run this command (`capstan <path> …`) and write only options it declares.
    func expectExamples(_ path: [String], _ node: [String: Any], _ help: String) throws {
        let command = (["capstan"] + path).joined(separator: " ")
        guard let range = help.range(of: "\nExamples:\n") else {
            Issue.record("\(command) --help shows no examples")
            return
        }
        let examples = help[range.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            .prefix { !$0.isEmpty && !$0.hasSuffix(":") }
        #expect(!examples.isEmpty, "\(command) --help: Examples: is empty")
        var accepted: Set<String> = ["--help", "-h"]
        for argument in node["arguments"] as? [[String: Any]] ?? [] {
            for name in argument["names"] as? [[String: Any]] ?? [] {
                guard let kind = name["kind"] as? String, let text = name["name"] as? String else { continue }
                accepted.insert(kind == "short" ? "-" + text : "--" + text)
            }
        }
        for example in examples {
            #expect(example.hasPrefix(command + " ") || example == command, "\(command) --help: example '\(example)' runs another command")
            // Words before a `--` separator or a shell redirection that look like options must be this command's.
            let words = example.split(separator: " ").map(String.init).prefix { $0 != "--" && $0 != ">" }
            for word in words where word.hasPrefix("-") {
                #expect(accepted.contains(word), "\(command) --help: example '\(example)' uses \(word), which \(command) does not accept")
            }
        }
    }
}
