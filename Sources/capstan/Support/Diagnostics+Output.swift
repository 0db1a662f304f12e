import ArgumentParser
import Foundation
import Inventory
import Workflows

extension Array where Element == Diagnostic {
    /// One line per diagnostic, `FILE:LINE:COL: severity: message`.
    var textLines: String { map(\.description).joined(separator: "\n") }

    /// `2 errors, 1 warning in inv.yaml` / `inv.yaml: valid (3 hosts)`.
    func summary(file: String, hosts: Int?) -> String {
        let errors = filter { $0.severity == .error }.count
        let warnings = count - errors
        func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
        if errors == 0 {
            let hostText = hosts.map { ", \(plural($0, "host"))" } ?? ""
            return "\(file): valid\(hostText)" + (warnings > 0 ? ", \(plural(warnings, "warning"))" : "")
        }
        return "\(file): \(plural(errors, "error")), \(plural(warnings, "warning"))"
    }

    /// JSON array of `{file, line, column, severity, message}`.
    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// Runs `body`; an error it throws is written to standard error (after `prefix`) and becomes exit
/// status 1, the way every command reports a failed run; a refusal to act on another cluster's hosts is
/// exit status 2 (`ExitStatus.refused`). An `ExitCode` passes through as it is.
func exitOnFailure<T>(prefix: String = "", _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let code as ExitCode {
        throw code
    } catch let error as WorkflowError {
        printError(prefix + "\(error)")
        throw ExitCode(ExitStatus.of(error))
    } catch {
        printError(prefix + "\(error)")
        throw ExitCode(1)
    }
}

/// Writes to standard error (diagnostics and progress never mix with machine output on stdout).
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Exit statuses beyond 0 (done) and 1 (failed).
enum ExitStatus {
    /// Refused before any change: the hosts belong to another cluster than the state directory, or (node
    /// remove, reset) the command would end etcd's data or was not confirmed.
    static let refused: Int32 = 2
    /// A command's usage was wrong (also when found while it runs, e.g. a flag value the inventory contradicts).
    static let usage: Int32 = 64

    /// A workflow error's status: 2 for another cluster's hosts (nothing was touched), 64 for phases that
    /// cannot be skipped as asked (unknown names, or a phase others read from), else 1.
    static func of(_ error: WorkflowError) -> Int32 {
        switch error {
        case .identityMismatch: return refused
        case .unknownPhase, .neededPhaseMissing: return usage
        default: return 1
        }
    }
}

/// Writes `value` to stdout as the JSON every `--output json` uses: pretty, sorted keys, ISO 8601 dates.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
