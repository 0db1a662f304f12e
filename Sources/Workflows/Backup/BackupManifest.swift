import Foundation

/// What `snapshot status -w json` reports (etcdctl 3.4 and etcdutl/etcdctl 3.5 print the same fields).
public struct SnapshotStatus: Sendable, Equatable, Codable {
    public var hash: UInt32
    public var revision: Int64
    public var totalKey: Int64
    public var totalSize: Int64

    public init(hash: UInt32, revision: Int64, totalKey: Int64, totalSize: Int64) {
        self.hash = hash
        self.revision = revision
        self.totalKey = totalKey
        self.totalSize = totalSize
    }

    /// Parses the JSON; etcdctl 3.5 may print a deprecation warning line before it.
    public static func parse(_ text: String, host: String) throws(BackupError) -> SnapshotStatus {
        guard let start = text.firstIndex(of: "{"), let end = text.lastIndex(of: "}") else {
            throw .etcdctl(host: host, step: "snapshot status", reason: "no JSON in the output: \(text.prefix(200))")
        }
        do {
            return try JSONDecoder().decode(SnapshotStatus.self, from: Data(text[start...end].utf8))
        } catch {
            throw .etcdctl(host: host, step: "snapshot status", reason: "unreadable JSON (\(error)): \(text.prefix(200))")
        }
    }
}

/// The JSON record stored beside each backup. A backup exists (is listed, restorable, prunable) only once
/// its manifest is stored, and the manifest is written last.
public struct BackupManifest: Sendable, Equatable, Codable {
    public struct Encryption: Sendable, Equatable, Codable {
        /// `age` (age-encryption.org/v1, X25519), `aes-256-gcm-chunked` (read only) or `none`.
        public var algorithm: String
        public var formatVersion: Int?
        public var chunkSize: Int?
        public init(algorithm: String, formatVersion: Int? = nil, chunkSize: Int? = nil) {
            self.algorithm = algorithm
            self.formatVersion = formatVersion
            self.chunkSize = chunkSize
        }
        public static let none = Encryption(algorithm: "none")
        public static let age = "age"
        public var isAge: Bool { algorithm == Encryption.age }
        public var isEncrypted: Bool { algorithm != "none" }
    }

    /// One stored object of the backup with its checksums.
    public struct Object: Sendable, Equatable, Codable {
        public var name: String
        public var plaintextSHA256: String
        public var storedSHA256: String
        public var plaintextSize: Int64
        public var storedSize: Int64
        public init(name: String, plaintextSHA256: String, storedSHA256: String, plaintextSize: Int64, storedSize: Int64) {
            self.name = name
            self.plaintextSHA256 = plaintextSHA256
            self.storedSHA256 = storedSHA256
            self.plaintextSize = plaintextSize
            self.storedSize = storedSize
        }
    }

    public var formatVersion: Int = 1
    public var name: String
    public var cluster: String
    public var member: String
    public var etcdVersion: String
    public var revision: Int64
    public var dbSize: Int64
    public var totalKeys: Int64
    /// etcd's own snapshot hash (`snapshot status`), checked again on verify.
    public var snapshotHash: UInt32
    public var createdAt: Date
    public var capstanVersion: String
    public var encryption: Encryption
    public var snapshot: Object
    /// The PKI state directory as a tar archive, when `includePKI` is on.
    public var pki: Object?
    /// The PKI published in the store for backups without their own (`PKIPublication`): shared by many
    /// backups, so not among `objectNames` and never deleted with one.
    public var sharedPKI: Object?
    /// `now` for a backup taken with `backup now`; the node-local file name for one pulled by `backup sync`.
    public var source: String
    /// The Secrets encryption keys (names) the API servers held when the snapshot was taken: the snapshot's
    /// Secrets are readable with one of these, and the PKI the manifest names (`pkiObject`) holds them
    /// (`pki/secrets-encryption.json`). Nil in manifests written before Secrets were encrypted at rest.
    public var secretsKeys: [String]? = nil
    public var includesPKI: Bool { pkiObject != nil }
    /// The PKI a restore into an empty site brings back: the backup's own, else the shared one it names.
    public var pkiObject: Object? { pki ?? sharedPKI }

    public static func objectName(for backup: String) -> String { backup + ".manifest.json" }
    public static let suffix = ".manifest.json"

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data, object: String) throws(BackupError) -> BackupManifest {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do { return try decoder.decode(BackupManifest.self, from: data) } catch { throw .manifest(object: object, reason: "\(error)") }
    }

    /// Names of every object that belongs to this backup, manifest last.
    public var objectNames: [String] { [snapshot.name] + (pki.map { [$0.name] } ?? []) + [BackupManifest.objectName(for: name)] }
}
