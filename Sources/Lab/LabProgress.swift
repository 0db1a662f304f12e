import Foundation

/// Reports lab steps: one line per step, timestamped when the output is not a terminal (logs, CI).
public struct LabProgress: Sendable {
    private let sink: @Sendable (String) -> Void

    public init(_ sink: @escaping @Sendable (String) -> Void) {
        self.sink = sink
    }

    public func step(_ text: String) { sink(text) }

    public static let silent = LabProgress { _ in }

    /// Writes to stdout; prefixes an ISO-8601 UTC timestamp unless stdout is a terminal.
    public static let standardOutput = LabProgress { text in
        let line: String
        if isatty(STDOUT_FILENO) != 0 {
            line = "==> \(text)\n"
        } else {
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            line = "\(f.string(from: Date())) \(text)\n"
        }
        FileHandle.standardOutput.write(Data(line.utf8))
    }
}
