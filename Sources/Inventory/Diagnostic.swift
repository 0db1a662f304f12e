/// One problem found in an inventory, at a place in its file.
public struct Diagnostic: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Equatable, Hashable, Codable {
        case error, warning
    }

    public var file: String
    /// 1-based; 0 when the problem is not tied to a place (e.g. an unreadable file).
    public var line: Int
    public var column: Int
    public var severity: Severity
    public var message: String

    public init(file: String, line: Int, column: Int, severity: Severity, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.severity = severity
        self.message = message
    }

    /// A problem at `place` of `file`.
    public init(file: String, at place: SourcePlace, severity: Severity = .error, message: String) {
        self.init(file: file, line: place.line, column: place.column, severity: severity, message: message)
    }

    /// `FILE:LINE:COL: error: message`, the form compilers use, so editors can jump to it.
    /// A problem with the file as a whole (line 0) reads `FILE: error: message`, without a made-up place.
    public var description: String {
        line > 0 ? "\(file):\(line):\(column): \(severity.rawValue): \(message)" : "\(file): \(severity.rawValue): \(message)"
    }
}

/// A 1-based line and column of an inventory file, kept with a setting whose problems are found after parsing.
public struct SourcePlace: Sendable, Equatable, Hashable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
}

/// The result of reading an inventory: the model when there were no errors, and every diagnostic found.
public struct LoadResult: Sendable {
    public var inventory: Inventory?
    public var diagnostics: [Diagnostic]

    public init(inventory: Inventory?, diagnostics: [Diagnostic]) {
        self.inventory = inventory
        self.diagnostics = diagnostics
    }

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { diagnostics.filter { $0.severity == .warning } }
}

/// Thrown by `InventoryLoader.loadOrThrow` when an inventory has errors; carries all of them.
public struct InventoryError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public init(diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
