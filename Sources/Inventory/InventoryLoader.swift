import Foundation
import Yams

/// Reads and validates inventory files.
public enum InventoryLoader {
    /// Parses and validates the YAML `text` read from `path`; reports every problem at once,
    /// sorted by position. The inventory is returned only when there is no error.
    /// `checkFiles`: also check that files the inventory names (keys, CA files) are readable.
    public static func load(text: String, path: String, checkFiles: Bool = true) -> LoadResult {
        let reader = YAMLReader(file: path)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            reader.yamlError(error, text: text)
            return LoadResult(inventory: nil, diagnostics: reader.diagnostics)
        }
        guard let root, !root.isNull else {
            reader.error(Position(line: 1, column: 1), "the inventory is empty; expected a mapping with apiVersion, kind, metadata and spec (run `capstan init` for an example)")
            return LoadResult(inventory: nil, diagnostics: reader.diagnostics)
        }
        let parser = InventoryParser(reader: reader, sourcePath: path, checkFiles: checkFiles)
        let inventory = parser.parse(root)
        let diagnostics = sorted(reader.diagnostics)
        let hasErrors = diagnostics.contains { $0.severity == .error }
        return LoadResult(inventory: hasErrors ? nil : inventory, diagnostics: diagnostics)
    }

    /// Reads `path` and loads it.
    public static func load(path: String, checkFiles: Bool = true) -> LoadResult {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return LoadResult(inventory: nil, diagnostics: [
                Diagnostic(file: path, line: 0, column: 0, severity: .error,
                           message: "cannot read the inventory file: it is a directory; give the YAML file itself (e.g. \(path.hasSuffix("/") ? path : path + "/")inventory.yaml)"),
            ])
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            let why = FileManager.default.fileExists(atPath: path) ? "it is not readable" : "no such file"
            return LoadResult(inventory: nil, diagnostics: [
                Diagnostic(file: path, line: 0, column: 0, severity: .error, message: "cannot read the inventory file: \(why)"),
            ])
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            let (line, column, byte) = firstInvalidUTF8(in: data)
            return LoadResult(inventory: nil, diagnostics: [
                Diagnostic(file: path, line: line, column: column, severity: .error,
                           message: String(format: "the file is not valid UTF-8 (byte 0x%02X); save the inventory as UTF-8", byte)),
            ])
        }
        return load(text: text, path: path, checkFiles: checkFiles)
    }

    /// Loads `path` or throws `InventoryError` with every error found. Warnings are returned alongside.
    public static func loadOrThrow(path: String, checkFiles: Bool = true) throws -> (Inventory, warnings: [Diagnostic]) {
        let result = load(path: path, checkFiles: checkFiles)
        guard let inventory = result.inventory, result.errors.isEmpty else {
            throw InventoryError(diagnostics: result.diagnostics)
        }
        return (inventory, result.warnings)
    }

    /// Resolves a path written in the inventory: `~` expands to the home directory, relative paths
    /// resolve against the inventory file's directory.
    public static func resolve(_ path: String, relativeTo inventoryPath: String?) -> String {
        if path == "~" { return FileManager.default.homeDirectoryForCurrentUser.path }
        if path.hasPrefix("~/") {
            return FileManager.default.homeDirectoryForCurrentUser.path + String(path.dropFirst(1))
        }
        if path.hasPrefix("/") { return path }
        let base = inventoryPath.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path } ?? FileManager.default.currentDirectoryPath
        return URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
    }

    /// Position order, places-less diagnostics first; stable for equal positions.
    /// By position; problems at the same place keep their order.
    public static func sorted(_ d: [Diagnostic]) -> [Diagnostic] {
        d.enumerated().sorted { a, b in
            (a.element.line, a.element.column, a.offset) < (b.element.line, b.element.column, b.offset)
        }.map(\.element)
    }

    static func firstInvalidUTF8(in data: Data) -> (line: Int, column: Int, byte: UInt8) {
        let bytes = [UInt8](data)
        var i = 0, line = 1, column = 1
        while i < bytes.count {
            let b = bytes[i]
            let length: Int
            switch b {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return (line, column, b)
            }
            guard i + length <= bytes.count,
                  String(validating: bytes[i..<(i + length)], as: UTF8.self) != nil else { return (line, column, b) }
            if b == 0x0A { line += 1; column = 1 } else { column += 1 }
            i += length
        }
        return (line, column, 0)
    }
}

extension YAMLReader {
    /// The character at a 1-based line and column of `text`, nil outside it.
    static func character(in text: String, line: Int, column: Int) -> Character? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard line >= 1, line <= lines.count else { return nil }
        let chars = Array(lines[line - 1])
        return column >= 1 && column <= chars.count ? chars[column - 1] : nil
    }

    /// Turns a Yams/libyaml error into one diagnostic at libyaml's mark.
    func yamlError(_ error: Error, text: String) {
        guard let e = error as? YamlError else {
            self.error(Position(line: 1, column: 1), "invalid YAML: \(error)")
            return
        }
        func contextSuffix(_ c: YamlError.Context?) -> String {
            guard let c else { return "" }
            return " (\(c.text) at line \(c.mark.line), column \(c.mark.column))"
        }
        switch e {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            if Self.character(in: text, line: mark.line, column: mark.column) == "\t" {
                self.error(Position(mark), "invalid YAML: a tab character; YAML indents with spaces only — replace the tab with spaces")
            } else if problem == "but found another document" {
                self.error(Position(mark), "invalid YAML: a second document (---) follows the first; an inventory file holds one cluster")
            } else {
                self.error(Position(mark), "invalid YAML: \(problem)\(contextSuffix(context))")
            }
        case let .reader(problem, offset, _, yaml):
            let prefix = offset.map { yaml.prefix($0) } ?? ""
            let line = prefix.filter { $0 == "\n" }.count + 1
            let column = (prefix.split(separator: "\n", omittingEmptySubsequences: false).last?.count ?? 0) + 1
            self.error(Position(line: line, column: column), "invalid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")
            self.error(Position(context.mark), "invalid YAML: duplicate key \(keys) in one mapping")
        default:
            self.error(Position(line: 1, column: 1), "invalid YAML: \(e)")
        }
    }
}
