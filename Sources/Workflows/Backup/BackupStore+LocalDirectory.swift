import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Backups in a directory on the control machine (default `<state dir>/backups`). Files are 0600 in a 0700
/// directory; each object is written to a hidden temporary file, fsynced and renamed into place.
public struct LocalDirectoryStore: BackupStore {
    public let directory: String
    public var location: String { "local \(directory)" }

    public init(directory: String) {
        self.directory = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
    }

    private func fail(_ name: String, _ operation: String, _ reason: String) -> BackupError {
        .storeFailed(store: location, name: name, operation: operation, reason: reason)
    }

    private static var lastError: String { String(cString: strerror(errno)) }

    private func ensureDirectory(for name: String) throws(BackupError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw fail(name, "write", "\(directory) is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw fail(name, "create directory", "\(error.localizedDescription)")
        }
    }

    public func put(_ name: String, chunks: AsyncThrowingStream<Data, any Error>) async throws {
        try BackupObjectName.validate(name)
        try ensureDirectory(for: name)
        let temporary = directory + "/." + name + ".part-" + UUID().uuidString.prefix(8)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw fail(name, "create", "\(temporary): \(Self.lastError)") }
        var closed = false
        do {
            for try await chunk in chunks {
                let failure: String? = chunk.withUnsafeBytes { raw in
                    guard let base = raw.baseAddress else { return nil }
                    var offset = 0
                    while offset < raw.count {
                        let n = write(fd, base + offset, raw.count - offset)
                        if n < 0 && errno == EINTR { continue }
                        guard n > 0 else { return Self.lastError }
                        offset += n
                    }
                    return nil
                }
                if let failure { throw fail(name, "write", failure) }
            }
            guard fsync(fd) == 0 else { throw fail(name, "fsync", Self.lastError) }
            closed = true
            guard close(fd) == 0 else { throw fail(name, "close", Self.lastError) }
            guard rename(temporary, directory + "/" + name) == 0 else { throw fail(name, "rename", Self.lastError) }
            let dir = open(directory, O_RDONLY)
            if dir >= 0 { _ = fsync(dir); _ = close(dir) }
        } catch {
            if !closed { _ = close(fd) }
            unlink(temporary)
            throw error
        }
    }

    public func get(_ name: String, onChunk: @Sendable (Data) async throws -> Void) async throws {
        try BackupObjectName.validate(name)
        let path = directory + "/" + name
        guard FileManager.default.fileExists(atPath: path) else { throw BackupError.objectNotFound(store: location, name: name) }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw fail(name, "open", "cannot be read") }
        defer { try? handle.close() }
        while true {
            let data: Data
            do { data = try handle.read(upToCount: 1 << 20) ?? Data() } catch { throw fail(name, "read", "\(error)") }
            if data.isEmpty { break }
            try await onChunk(data)
        }
    }

    public func list() async throws -> [BackupObject] {
        guard FileManager.default.fileExists(atPath: directory) else { return [] }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch { throw fail("*", "list", "\(error.localizedDescription)") }
        return names.filter { !$0.hasPrefix(".") }.sorted().compactMap { name in
            var st = stat()
            guard stat(directory + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
            return BackupObject(name: name, size: Int64(st.st_size))
        }
    }

    public func delete(_ name: String) async throws {
        try BackupObjectName.validate(name)
        guard unlink(directory + "/" + name) == 0 || errno == ENOENT else { throw fail(name, "delete", Self.lastError) }
    }
}
