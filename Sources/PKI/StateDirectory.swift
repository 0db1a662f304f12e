import Foundation
import Inventory
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A cluster's local state directory, `<inventory dir>/.capstan/<cluster>/`: the PKI, and later backup
/// catalogues and rotation records. Holds what cannot be read back from the hosts, so it is private:
/// directories 0700, secrets 0600, and every write is atomic (temp file in the same directory, synced,
/// renamed into place), so a crash leaves either the old or the new file, never a torn one. Many files
/// are written together through a `Transaction`, which costs a constant number of disk syncs.
public struct StateDirectory: Sendable, Equatable {
    /// Absolute path of the state directory.
    public let root: String

    public init(root: String) {
        self.root = root
    }

    /// `<dir of inventoryPath>/.capstan/<clusterName>/`.
    public init(inventoryPath: String, clusterName: String) {
        let dir = URL(fileURLWithPath: inventoryPath).deletingLastPathComponent().standardizedFileURL.path
        self.root = dir + "/.capstan/" + clusterName
    }

    /// The state directory of a loaded inventory: the one chosen with `--state-dir`/`CAPSTAN_STATE_DIR`, else
    /// beside the inventory file; an inventory not read from a file uses the current directory.
    public init(inventory: Inventory) {
        if let chosen = inventory.stateDirectory {
            self.init(root: URL(fileURLWithPath: chosen).standardizedFileURL.path)
            return
        }
        let path = inventory.sourcePath ?? (FileManager.default.currentDirectoryPath + "/inventory.yaml")
        self.init(inventoryPath: path, clusterName: inventory.name)
    }

    /// Absolute path of `relative` inside the state directory.
    public func path(_ relative: String) -> String { root + "/" + relative }

    /// The file's bytes, or nil when it does not exist.
    public func read(_ relative: String) throws(StateError) -> Data? {
        let full = path(relative)
        guard FileManager.default.fileExists(atPath: full) else { return nil }
        guard let data = FileManager.default.contents(atPath: full) else {
            throw StateError(path: full, operation: "read", reason: "file exists but cannot be read", hint: "check its owner and permissions")
        }
        return data
    }

    public func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: path(relative)) }

    /// Creates `relative` and its parents (and the root) with mode 0700.
    public func ensureDirectory(_ relative: String = "") throws(StateError) {
        var current = ""
        let parts = (root + (relative.isEmpty ? "" : "/" + relative)).split(separator: "/")
        for part in parts {
            current += "/" + part
            if mkdir(current, 0o700) != 0 {
                let err = errno
                guard err == EEXIST else {
                    throw StateError(path: current, operation: "create directory", reason: String(cString: strerror(err)), hint: "check that the parent directory is writable")
                }
            }
        }
        // mkdir's mode is filtered by the umask and existing directories keep theirs: make the state ones private.
        var walk = root
        if chmod(walk, 0o700) != 0 { throw StateError.posix(walk, "chmod") }
        for part in relative.split(separator: "/") {
            walk += "/" + part
            if chmod(walk, 0o700) != 0 { throw StateError.posix(walk, "chmod") }
        }
    }

    /// Writes `data` to `relative` atomically with `mode`, unless the file already holds exactly these
    /// bytes and mode: a transaction of one file (see `Transaction` for the guarantee). Returns whether
    /// anything was written, so callers can report real changes only.
    @discardableResult
    public func write(_ data: Data, to relative: String, mode: mode_t) throws(StateError) -> Bool {
        var transaction = Transaction(self)
        let changed = try transaction.write(data, to: relative, mode: mode)
        try transaction.commit()
        return changed
    }

    /// Removes `relative` if present; returns whether it existed.
    @discardableResult
    public func remove(_ relative: String) throws(StateError) -> Bool {
        let full = path(relative)
        if unlink(full) == 0 { return true }
        if errno == ENOENT { return false }
        throw StateError.posix(full, "remove")
    }

    /// Permission bits of `relative`, or nil when it does not exist.
    public func mode(_ relative: String) -> mode_t? {
        var st = stat()
        guard stat(path(relative), &st) == 0 else { return nil }
        return st.st_mode & 0o777
    }
}

/// A failure reading or writing the state directory.
public struct StateError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var reason: String
    public var hint: String

    public init(path: String, operation: String, reason: String, hint: String) {
        self.path = path
        self.operation = operation
        self.reason = reason
        self.hint = hint
    }

    static func posix(_ path: String, _ operation: String) -> StateError {
        let err = errno
        return StateError(path: path, operation: operation, reason: String(cString: strerror(err)),
                          hint: err == EACCES || err == EPERM ? "check the state directory's owner and permissions" : "check free space and the file system")
    }

    public var description: String { "cannot \(operation) \(path): \(reason) (\(hint))" }
}
