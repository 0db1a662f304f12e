import Crypto
import Foundation
import Hosts

/// The state directory's PKI kept in the backup store, encrypted to the backup recipients, for backups whose
/// snapshot carries no PKI of its own: the timer's (the etcd hosts do not hold the cluster CAs) and `backup now`
/// without `includePKI`. The operator side publishes it (apply's backup-schedule phase, `backup now`); each
/// manifest names the object in `sharedPKI`, so `backup restore` into an empty site brings the CAs back from the
/// store with the operator's identity alone.
///
/// The archive is a reproducible tar (sorted names, fixed times and owners), so the same PKI always gives the
/// same plaintext digest. The object's name carries a digest of that and of the recipients: a PKI or recipient
/// change publishes a new object, an unchanged one publishes nothing. Published objects belong to no single
/// backup: `prune` deletes a backup's own objects only, never these.
public enum PKIPublication {
    /// `<cluster>-pki-<16 hex>.pki.tar.age`; never ends in `.manifest.json`, so `backup list` does not show it.
    public static func objectName(cluster: String, archiveSHA256: String, recipients: [AgeRecipient]) -> String {
        let key = ([archiveSHA256] + recipients.map(\.description).sorted()).joined(separator: "\n")
        return "\(cluster)-pki-\(SHA256.hash(data: Data(key.utf8)).hex.prefix(16)).pki.tar.age"
    }

    public static let marker = "-pki-"

    /// The tar command both publication and `includePKI` backups archive `directory` with: GNU tar with sorted
    /// names, mtime 0 and numeric owner 0, so the bytes depend on the files' names, modes and contents only.
    static func tarCommand(directory: String) -> ShellCommand {
        let parent = (directory as NSString).deletingLastPathComponent
        let base = (directory as NSString).lastPathComponent
        return ShellCommand("tar", "-C", parent, "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner",
                            "--format=gnu", "-cf", "-", "--", base)
    }

    /// What publishing found or did.
    public struct Outcome: Sendable, Equatable {
        /// The object as a manifest references it; nil only in plan mode when it is not in the store yet.
        public var object: BackupManifest.Object?
        public var name: String
        /// Whether this call stored it (apply) or would store it (plan).
        public var published: Bool
    }

    /// Publishes `directory` (`<state>/pki`) into `store` encrypted to `recipients` unless the store already holds
    /// this exact archive for these recipients. With `write` false (plan, dry runs) nothing is stored.
    public static func publish(directory: String, cluster: String, recipients: [AgeRecipient], store: any BackupStore,
                               write: Bool) async throws -> Outcome {
        guard FileManager.default.fileExists(atPath: directory) else {
            throw BackupError.storeFailed(store: store.location, name: directory, operation: "publish the PKI",
                                          reason: "\(directory) does not exist on this machine: run `capstan apply` (its pki phase) first")
        }
        let tar = try await LocalConnection().run(tarCommand(directory: directory), options: RunOptions(timeoutSeconds: 120))
        guard tar.succeeded else {
            throw BackupError.storeFailed(store: store.location, name: directory, operation: "archive the PKI", reason: lastLines(tar.stderrText))
        }
        let plainSHA = SHA256.hash(data: tar.stdout).hex
        let name = objectName(cluster: cluster, archiveSHA256: plainSHA, recipients: recipients)
        if try await store.list().contains(where: { $0.name == name }) {
            let stored = try await store.getData(name)
            return Outcome(object: BackupManifest.Object(name: name, plaintextSHA256: plainSHA, storedSHA256: SHA256.hash(data: stored).hex,
                                                         plaintextSize: Int64(tar.stdout.count), storedSize: Int64(stored.count)),
                           name: name, published: false)
        }
        guard write else { return Outcome(object: nil, name: name, published: true) }
        let sealer = try BackupSealer(settings: BackupSettings(cluster: cluster, key: nil, recipients: recipients, capstanVersion: ""))
        var sealed = try sealer.seal(tar.stdout)
        sealed.append(try sealer.finish())
        try await store.put(name, data: sealed)
        return Outcome(object: sealer.object(named: name), name: name, published: true)
    }

    /// The object as one line of JSON, for the timer script to put into its manifests.
    public static func json(_ object: BackupManifest.Object) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(object), as: UTF8.self)
    }
}
