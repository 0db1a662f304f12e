import Foundation

/// One stored object (a snapshot, a PKI archive or a manifest).
public struct BackupObject: Sendable, Equatable {
    public var name: String
    public var size: Int64
    public init(name: String, size: Int64) {
        self.name = name
        self.size = size
    }
}

/// Where backups are kept. Objects are flat names (no directories); `put` is atomic: a failed or partial
/// write never replaces or removes an object of the same name. New targets (S3-compatible, …) implement
/// this protocol; the backup workflows never know which store they write to.
public protocol BackupStore: Sendable {
    /// For messages: `local /var/lib/…/backups`, `sftp backup1:/srv/etcd`.
    var location: String { get }
    func put(_ name: String, chunks: AsyncThrowingStream<Data, any Error>) async throws
    /// Hands the object's bytes to `onChunk` as they are read.
    func get(_ name: String, onChunk: @Sendable (Data) async throws -> Void) async throws
    func list() async throws -> [BackupObject]
    func delete(_ name: String) async throws
}

extension BackupStore {
    /// Reads a small object (a manifest) whole.
    public func getData(_ name: String) async throws -> Data {
        let box = ByteBox()
        try await get(name) { box.append($0) }
        return box.data
    }

    public func put(_ name: String, data: Data) async throws {
        try await put(name, chunks: AsyncThrowingStream { $0.yield(data); $0.finish() })
    }
}

enum BackupObjectName {
    private static let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")

    static func validate(_ name: String) throws(BackupError) {
        guard !name.isEmpty, !name.hasPrefix("."), name.count <= 200, name.allSatisfy({ allowed.contains($0) }) else {
            throw .invalidObjectName(name)
        }
    }
}

/// Thread-safe byte accumulator.
final class ByteBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage = Data()
    func append(_ data: Data) { lock.withLock { storage.append(data) } }
    var data: Data { lock.withLock { storage } }
}
