import Foundation

/// Reads and validates inventory files.
public enum InventoryLoader {
    /// Parses and validates the YAML `text` read from `path`; reports every problem at once.
    /// `checkFiles`: also check that files the inventory names (keys, CA files) are readable.
    public static func load(text: String, path: String, checkFiles: Bool = true) -> LoadResult {
        LoadResult(inventory: nil, diagnostics: [
            Diagnostic(file: path, line: 0, column: 0, severity: .error, message: "inventory parsing is not implemented yet"),
        ])
    }

    /// Reads `path` and loads it.
    public static func load(path: String, checkFiles: Bool = true) -> LoadResult {
        guard let data = FileManager.default.contents(atPath: path) else {
            return LoadResult(inventory: nil, diagnostics: [
                Diagnostic(file: path, line: 0, column: 0, severity: .error, message: "cannot read the inventory file"),
            ])
        }
        return load(text: String(decoding: data, as: UTF8.self), path: path, checkFiles: checkFiles)
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
        if path.hasPrefix("~/") {
            return FileManager.default.homeDirectoryForCurrentUser.path + String(path.dropFirst(1))
        }
        if path.hasPrefix("/") { return path }
        let base = inventoryPath.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path } ?? FileManager.default.currentDirectoryPath
        return URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
    }
}
