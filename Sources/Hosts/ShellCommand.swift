/// A shell command line built from arguments, each quoted for POSIX sh. User values never reach the
/// shell unquoted: the only way to add unquoted text is `raw`, meant for constant operators (`|`, `&&`, `>`).
public struct ShellCommand: Sendable, Equatable, Hashable, CustomStringConvertible {
    public private(set) var line: String

    /// `ShellCommand("systemctl", "restart", unit)` → `systemctl restart 'etcd.service'` (quoted only where needed).
    public init(_ arguments: String...) { self.init(arguments) }

    public init(_ arguments: [String]) {
        line = arguments.map(ShellCommand.quote).joined(separator: " ")
    }

    private init(line: String) { self.line = line }

    /// Trusted text, passed to the shell as is. Use only for constants written in Capstan's source.
    public static func raw(_ text: StaticString) -> ShellCommand { ShellCommand(line: "\(text)") }

    /// Joins commands with a constant shell operator: `a.then(b)` → `a && b`.
    public func then(_ next: ShellCommand) -> ShellCommand { ShellCommand(line: line + " && " + next.line) }
    public func piped(to next: ShellCommand) -> ShellCommand { ShellCommand(line: line + " | " + next.line) }
    public func appending(_ other: ShellCommand) -> ShellCommand { ShellCommand(line: line + " " + other.line) }

    /// Wraps the whole line for `sudo -n sh -c '…'` so pipes and redirections run privileged too.
    public var withSudo: ShellCommand { ShellCommand(line: "sudo -n sh -c " + ShellCommand.quote(line)) }

    public var description: String { line }

    private static let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")

    /// Single-quotes `s` unless every character is safe; embedded `'` becomes `'\''`.
    public static func quote(_ s: String) -> String {
        if !s.isEmpty, s.allSatisfy({ safe.contains($0) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
