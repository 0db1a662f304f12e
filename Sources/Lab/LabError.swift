/// Errors of the Lab layer: what failed, on which lab host, why, and what to do next.
public struct LabError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }

    static func commandFailed(_ command: [String], status: Int32, stderr: String, context: String) -> LabError {
        let tail = stderr.split(separator: "\n").suffix(8).joined(separator: "\n")
        let line = command.map(ShellQuote.quote).joined(separator: " ")
        return LabError("\(context): `\(line)` exited with \(status)" + (tail.isEmpty ? "" : "\n\(tail)"))
    }
}

/// POSIX sh quoting for the launcher scripts and messages Lab writes.
enum ShellQuote {
    private static let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")

    static func quote(_ s: String) -> String {
        if !s.isEmpty, s.allSatisfy({ safe.contains($0) }) { return s }
        return "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }

    static func line(_ arguments: [String]) -> String { arguments.map(quote).joined(separator: " ") }
}
