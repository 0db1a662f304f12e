import Foundation
import Inventory
import PKI

/// What a backup is written with: cluster name, key (nil only when the inventory opts out of encryption),
/// chunk size, the Capstan version for the manifest, and the PKI directory to include.
public struct BackupSettings: Sendable {
    public var cluster: String
    public var key: BackupKey?
    /// age recipients; when set, backups are written in the age format to them (and `key` is only for reading).
    public var recipients: [AgeRecipient]
    public var chunkSize: Int
    public var capstanVersion: String
    /// `<state dir>/pki` to archive into the backup, or nil.
    public var pkiDirectory: String?
    /// The PKI published in the store (`PKIPublication`) that manifests without their own PKI name.
    public var sharedPKI: BackupManifest.Object?
    /// The Secrets encryption keys in the state when the backup is taken, for the manifest.
    public var secretsKeys: [String]?

    public init(cluster: String, key: BackupKey?, recipients: [AgeRecipient] = [], chunkSize: Int = BackupCipher.defaultChunkSize,
                capstanVersion: String, pkiDirectory: String? = nil) {
        self.cluster = cluster
        self.key = key
        self.recipients = recipients
        self.chunkSize = chunkSize
        self.capstanVersion = capstanVersion
        self.pkiDirectory = pkiDirectory
    }

    /// From the inventory's policy: age recipients first, else the AES key file; refuses when there is neither
    /// and `unencrypted` is not set.
    public static func from(policy: BackupPolicy, cluster: String, capstanVersion: String, stateRoot: String) throws(BackupError) -> BackupSettings {
        var recipients: [AgeRecipient] = []
        for text in policy.recipients {
            do { recipients.append(try AgeRecipient(parsing: text)) } catch { throw .age(object: "spec.etcd.backup.recipients", error: error) }
        }
        let key: BackupKey?
        if let file = policy.encryptionKeyFile {
            key = try BackupKey.load(path: file)
        } else if policy.unencrypted || !recipients.isEmpty {
            key = nil
        } else {
            throw .encryptionRequired
        }
        var settings = BackupSettings(cluster: cluster, key: key, recipients: recipients, capstanVersion: capstanVersion,
                                      pkiDirectory: policy.includePKI ? stateRoot + "/pki" : nil)
        settings.secretsKeys = stateRoot.isEmpty ? nil : (try? SecretsEncryption.load(StateDirectory(root: stateRoot)))?.map { $0.keys.map(\.name) }
        return settings
    }

    /// Whether what this writes is encrypted (age or AES).
    var encrypts: Bool { !recipients.isEmpty || key != nil }

    var encryption: BackupManifest.Encryption {
        if !recipients.isEmpty { return .init(algorithm: BackupManifest.Encryption.age, formatVersion: 1, chunkSize: AgeFormat.chunkSize) }
        return key == nil ? .none : .init(algorithm: "aes-256-gcm-chunked", formatVersion: Int(BackupCipher.formatVersion), chunkSize: chunkSize)
    }
}
