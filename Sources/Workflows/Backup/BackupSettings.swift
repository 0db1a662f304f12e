import Foundation
import Inventory

/// What a backup is written with: cluster name, key (nil only when the inventory opts out of encryption),
/// chunk size, the Capstan version for the manifest, and the PKI directory to include.
public struct BackupSettings: Sendable {
    public var cluster: String
    public var key: BackupKey?
    public var chunkSize: Int
    public var capstanVersion: String
    /// `<state dir>/pki` to archive into the backup, or nil.
    public var pkiDirectory: String?

    public init(cluster: String, key: BackupKey?, chunkSize: Int = BackupCipher.defaultChunkSize, capstanVersion: String, pkiDirectory: String? = nil) {
        self.cluster = cluster
        self.key = key
        self.chunkSize = chunkSize
        self.capstanVersion = capstanVersion
        self.pkiDirectory = pkiDirectory
    }

    /// From the inventory's policy: loads the key file, or refuses when there is none and `unencrypted` is not set.
    public static func from(policy: BackupPolicy, cluster: String, capstanVersion: String, stateRoot: String) throws(BackupError) -> BackupSettings {
        let key: BackupKey?
        if let file = policy.encryptionKeyFile {
            key = try BackupKey.load(path: file)
        } else if policy.unencrypted {
            key = nil
        } else {
            throw .encryptionRequired
        }
        return BackupSettings(cluster: cluster, key: key, capstanVersion: capstanVersion,
                              pkiDirectory: policy.includePKI ? stateRoot + "/pki" : nil)
    }

    var encryption: BackupManifest.Encryption {
        key == nil ? .none : .init(algorithm: "aes-256-gcm-chunked", formatVersion: Int(BackupCipher.formatVersion), chunkSize: chunkSize)
    }
}
