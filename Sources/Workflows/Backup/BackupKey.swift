import Crypto
import Foundation

/// The AES-256 key that encrypts backups at rest. Loaded from the inventory's `etcd.backup.encryptionKeyFile`;
/// its bytes never appear in output, errors or manifests.
public struct BackupKey: Sendable {
    public let key: SymmetricKey
    /// Where the key came from, for messages.
    public let source: String

    public init(key: SymmetricKey, source: String) {
        self.key = key
        self.source = source
    }

    /// Accepts 32 raw bytes, 64 hex characters, or base64 of 32 bytes (surrounding whitespace ignored for the text forms).
    public static func load(path: String) throws(BackupError) -> BackupKey {
        guard FileManager.default.fileExists(atPath: path) else { throw .keyFile(path: path, reason: "does not exist") }
        guard let data = FileManager.default.contents(atPath: path) else { throw .keyFile(path: path, reason: "cannot be read (check its owner and permissions)") }
        return try BackupKey(fileContents: data, source: path)
    }

    public init(fileContents data: Data, source: String) throws(BackupError) {
        self.source = source
        if data.count == 32 {
            key = SymmetricKey(data: data)
            return
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.count == 64, let bytes = BackupKey.hexBytes(text) {
            key = SymmetricKey(data: bytes)
            return
        }
        if let bytes = Data(base64Encoded: text), bytes.count == 32 {
            key = SymmetricKey(data: bytes)
            return
        }
        throw .keyFile(path: source, reason: "holds \(data.count) bytes that are none of the accepted forms")
    }

    private static func hexBytes(_ text: String) -> Data? {
        var out = Data(capacity: text.count / 2)
        var iterator = text.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            guard let h = nibble(high), let l = nibble(low) else { return nil }
            out.append(h << 4 | l)
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}
