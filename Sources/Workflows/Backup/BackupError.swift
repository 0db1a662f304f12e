import Foundation

/// Errors of the backup layer. Each says what failed, where, why, and what to do next; none carries key material.
public enum BackupError: Error, Sendable, Equatable, CustomStringConvertible {
    case keyFile(path: String, reason: String)
    case encryptionRequired
    case notEncrypted(object: String)
    case badFormat(object: String, reason: String)
    case wrongKey(object: String, keyFile: String)
    case decryptionFailed(object: String, chunk: UInt64, reason: String)
    case checksumMismatch(object: String, what: String, expected: String, actual: String)
    case invalidObjectName(String)
    case objectNotFound(store: String, name: String)
    case backupNotFound(name: String, store: String)
    case storeFailed(store: String, name: String, operation: String, reason: String)
    case noHealthyMember(tried: [String])
    case etcdctl(host: String, step: String, reason: String)
    case snapshotStatusMismatch(backup: String, field: String, manifest: String, actual: String)
    case noVerifier(reason: String)
    case managedControlPlane(provider: String)
    case restoreFailed(host: String, step: String, reason: String)
    case unhealthyAfterRestore(reason: String)
    case manifest(object: String, reason: String)
    case age(object: String, error: AgeError)
    case identityRequired(backup: String)

    public var description: String {
        switch self {
        case let .keyFile(path, reason):
            return "backup encryption key file \(path): \(reason) — it must hold 32 raw bytes, 64 hex characters or base64 of 32 bytes (e.g. `openssl rand -out \(path) 32`)"
        case .encryptionRequired:
            return "refusing to write an unencrypted backup: set etcd.backup.encryptionKeyFile, or set etcd.backup.unencrypted: true to store snapshots in the clear"
        case let .notEncrypted(object):
            return "\(object) is not a Capstan encrypted backup (no CAPSTANB header); if it was written with unencrypted: true, its manifest says so"
        case let .badFormat(object, reason):
            return "\(object) is not a readable Capstan backup: \(reason)"
        case let .wrongKey(object, keyFile):
            return "\(object) was encrypted with a different key than the one in \(keyFile): use the key file the backup was taken with"
        case let .decryptionFailed(object, chunk, reason):
            return "\(object) failed to decrypt at chunk \(chunk): \(reason) — the stored backup is truncated, reordered or tampered with; use another backup"
        case let .checksumMismatch(object, what, expected, actual):
            return "\(object): \(what) SHA-256 is \(actual) but the manifest records \(expected) — the backup is damaged; use another backup"
        case let .invalidObjectName(name):
            return "invalid backup object name \(name.debugDescription): use letters, digits, '.', '_' and '-' only, not starting with '.'"
        case let .objectNotFound(store, name):
            return "\(name) is not in the backup store \(store)"
        case let .backupNotFound(name, store):
            return "no backup named \(name) in \(store) (see `capstan backup list`)"
        case let .storeFailed(store, name, operation, reason):
            return "backup store \(store): \(operation) \(name) failed: \(reason)"
        case let .noHealthyMember(tried):
            return "no healthy etcd member to take a snapshot from (tried \(tried.joined(separator: ", "))): check `capstan status` and the etcd logs"
        case let .etcdctl(host, step, reason):
            return "\(step) on \(host) failed: \(reason)"
        case let .snapshotStatusMismatch(backup, field, manifest, actual):
            return "\(backup): snapshot status reports \(field) \(actual), the manifest records \(manifest) — the snapshot does not match its manifest"
        case let .noVerifier(reason):
            return "cannot run `snapshot status` on the decrypted copy: \(reason)"
        case let .managedControlPlane(provider):
            return "refusing to restore etcd: the control plane is managed by \(provider), which owns etcd and its backups"
        case let .restoreFailed(host, step, reason):
            return "restore failed on \(host) while \(step): \(reason)"
        case let .unhealthyAfterRestore(reason):
            return "etcd is not healthy after the restore: \(reason) — the old data directories were kept beside the new ones (*.capstan-pre-restore-*)"
        case let .manifest(object, reason):
            return "backup manifest \(object): \(reason)"
        case let .age(object, error):
            switch error {
            case .noMatch:
                return "\(object) is encrypted to other age recipients: none of the identities given unwraps it; use the identity whose recipient was in the inventory when it was taken"
            case .payload, .headerMAC:
                return "\(object): \(error) — the stored backup is truncated or tampered with; use another backup"
            case .header, .key:
                return "\(object): \(error)"
            }
        case let .identityRequired(backup):
            return "the backup \(backup) is encrypted with age: give the operator's identity with --identity FILE or etcd.backup.identityFile (`capstan backup keygen` made it)"
        }
    }
}
