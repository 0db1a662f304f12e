import Foundation
import Hosts

/// One complete backup in a store: its manifest, whether `verify` last passed, and its stored size.
public struct BackupEntry: Sendable, Equatable {
    public var manifest: BackupManifest
    public var verifiedAt: Date?
    public var storedBytes: Int64
    public var name: String { manifest.name }
}

/// Record of a passed verification, stored as `<name>.verified.json` beside the backup.
public struct VerificationRecord: Sendable, Equatable, Codable {
    public var verifiedAt: Date
    public var revision: Int64
    public var snapshotHash: UInt32
    public static func objectName(for backup: String) -> String { backup + ".verified.json" }
}

/// Reads what a store holds: a backup is listed only when its manifest is there.
public struct BackupCatalog: Sendable {
    public var store: any BackupStore

    public init(store: any BackupStore) { self.store = store }

    /// Newest first.
    public func entries() async throws -> [BackupEntry] {
        let objects = try await store.list()
        let sizes = Dictionary(objects.map { ($0.name, $0.size) }, uniquingKeysWith: { a, _ in a })
        var out: [BackupEntry] = []
        for object in objects where object.name.hasSuffix(BackupManifest.suffix) {
            let manifest = try BackupManifest.decode(try await store.getData(object.name), object: object.name)
            var verified: Date?
            let recordName = VerificationRecord.objectName(for: manifest.name)
            if sizes[recordName] != nil {
                let decoder = JSONDecoder()
                decoder.dateDecodingStrategy = .iso8601
                verified = (try? decoder.decode(VerificationRecord.self, from: try await store.getData(recordName)))?.verifiedAt
            }
            let bytes = manifest.objectNames.compactMap { sizes[$0] }.reduce(0, +)
            out.append(BackupEntry(manifest: manifest, verifiedAt: verified, storedBytes: bytes))
        }
        return out.sorted { ($0.manifest.createdAt, $0.name) > ($1.manifest.createdAt, $1.name) }
    }

    public func entry(named name: String) async throws -> BackupEntry {
        guard let entry = try await entries().first(where: { $0.name == name }) else {
            throw BackupError.backupNotFound(name: name, store: store.location)
        }
        return entry
    }

    /// Deletes a backup: the manifest first, so a half-deleted backup is never listed as complete.
    public func delete(_ entry: BackupEntry) async throws {
        try await store.delete(BackupManifest.objectName(for: entry.name))
        try await store.delete(VerificationRecord.objectName(for: entry.name))
        for object in entry.manifest.objectNames.dropLast() { try await store.delete(object) }
    }
}
