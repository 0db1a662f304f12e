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
/// directories 0700, secrets 0600, and every write is atomic (temp file in the same directory, fsync,
/// rename), so a crash leaves either the old or the new file, never a torn one.
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

    /// The state directory of a loaded inventory; an inventory not read from a file uses the current directory.
    public init(inventory: Inventory) {
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
    /// bytes and mode. Returns whether anything was written, so callers can report real changes only.
    @discardableResult
    public func write(_ data: Data, to relative: String, mode: mode_t) throws(StateError) -> Bool {
        let full = path(relative)
        if let existing = FileManager.default.contents(atPath: full), existing == data {
            var st = stat()
            if stat(full, &st) == 0, st.st_mode & 0o777 == mode { return false }
            if chmod(full, mode) != 0 { throw StateError.posix(full, "chmod") }
            return true
        }
        let dirRelative = (relative as NSString).deletingLastPathComponent
        try ensureDirectory(dirRelative)
        let dir = (full as NSString).deletingLastPathComponent
        var template = Array((dir + "/.tmp-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw StateError.posix(dir, "create temporary file in") }
        let tempPath = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var ok = false
        defer {
            if !ok { unlink(tempPath) }
        }
        if fchmod(fd, mode) != 0 { close(fd); throw StateError.posix(tempPath, "chmod") }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
        } catch {
            close(fd)
            throw StateError(path: tempPath, operation: "write", reason: "\(error)", hint: "check free space and the file system")
        }
        close(fd)
        guard rename(tempPath, full) == 0 else { throw StateError.posix(full, "rename into place") }
        ok = true
        // The rename is durable only once the directory entry is on disk.
        let dfd = open(dir, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
        return true
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
