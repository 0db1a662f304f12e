import Crypto
import Foundation

/// Encrypts (or passes through, for `unencrypted: true`) a plaintext stream while hashing both sides.
/// Calls arrive one at a time from a single stream; the lock only satisfies Sendable.
final class BackupSealer: @unchecked Sendable {
    private let lock = NSLock()
    private var encryptor: BackupEncryptor?
    private var ageEncryptor: AgeEncryptor?
    private var plainHash = SHA256()
    private var storedHash = SHA256()
    private(set) var plainSize: Int64 = 0
    private(set) var storedSize: Int64 = 0

    /// age when the settings name recipients, else AES-256-GCM with the key, else plain.
    init(settings: BackupSettings) throws {
        if !settings.recipients.isEmpty {
            ageEncryptor = try AgeEncryptor(recipients: settings.recipients)
        } else {
            encryptor = settings.key.map { BackupEncryptor(key: $0, chunkSize: settings.chunkSize) }
        }
    }

    func seal(_ plaintext: Data) throws -> Data {
        try lock.withLock {
            plainHash.update(data: plaintext)
            plainSize += Int64(plaintext.count)
            let out = try ageEncryptor?.update(plaintext) ?? encryptor?.update(plaintext) ?? plaintext
            storedHash.update(data: out)
            storedSize += Int64(out.count)
            return out
        }
    }

    func finish() throws -> Data {
        try lock.withLock {
            let out = try ageEncryptor?.finish() ?? encryptor?.finish() ?? Data()
            storedHash.update(data: out)
            storedSize += Int64(out.count)
            return out
        }
    }

    func object(named name: String) -> BackupManifest.Object {
        lock.withLock {
            BackupManifest.Object(name: name, plaintextSHA256: plainHash.finalize().hex, storedSHA256: storedHash.finalize().hex,
                                  plaintextSize: plainSize, storedSize: storedSize)
        }
    }
}

/// Decrypts a stored stream while hashing both sides (verify, restore).
final class BackupOpener: @unchecked Sendable {
    private let lock = NSLock()
    private var decryptor: BackupDecryptor?
    private var ageDecryptor: AgeDecryptor?
    private let object: String
    private var plainHash = SHA256()
    private var storedHash = SHA256()

    /// `identities` open age objects, `key` the AES-256-GCM ones; with neither the bytes pass through.
    init(key: BackupKey?, identities: [AgeIdentity] = [], object: String) {
        self.object = object
        if !identities.isEmpty {
            ageDecryptor = AgeDecryptor(identities: identities)
        } else {
            decryptor = key.map { BackupDecryptor(key: $0, object: object) }
        }
    }

    func open(_ stored: Data) throws -> Data {
        try lock.withLock {
            storedHash.update(data: stored)
            let out: Data
            do {
                out = try ageDecryptor?.update(stored) ?? decryptor?.update(stored) ?? stored
            } catch let error as AgeError { throw BackupError.age(object: object, error: error) }
            plainHash.update(data: out)
            return out
        }
    }

    func finish() throws -> Data {
        try lock.withLock {
            let out: Data
            do {
                out = try ageDecryptor?.finish() ?? decryptor?.finish() ?? Data()
            } catch let error as AgeError { throw BackupError.age(object: object, error: error) }
            plainHash.update(data: out)
            return out
        }
    }

    var digests: (plaintext: String, stored: String) {
        lock.withLock { (plainHash.finalize().hex, storedHash.finalize().hex) }
    }
}

extension Sequence where Element == UInt8 {
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}
