import Crypto
import Foundation

/// Capstan's encrypted backup format, version 1: AES-256-GCM in independently sealed chunks, so
/// gigabyte snapshots are encrypted and decrypted as they stream, never held whole in memory.
///
/// Layout: header | sealed chunk 0 | sealed chunk 1 | … | sealed final chunk.
/// - header (41 bytes): magic `CAPSTANB`, format version (1 byte), chunk size (UInt32 BE),
///   random base nonce (12 bytes), key check (16 bytes: HMAC-SHA256(key, "capstan-backup-key-check" ‖ nonce)),
///   so a wrong key is reported as such instead of as damage.
/// - each chunk: ciphertext (chunk size bytes, fewer for the final one) ‖ 16-byte tag. Its nonce is the base
///   nonce with the chunk index XORed into the last 8 bytes; its AAD is the header ‖ index (UInt64 BE) ‖
///   final flag (1 byte). Reordered chunks fail (nonce/AAD index), a cut at a chunk boundary fails (the last
///   chunk present is not flagged final), and any flipped bit fails (tag).
/// - the final chunk is always present (empty for an empty plaintext), so "no data" and "data cut off" differ.
public enum BackupCipher {
    public static let magic = Data("CAPSTANB".utf8)
    public static let formatVersion: UInt8 = 1
    public static let headerSize = 41
    public static let tagSize = 16
    public static let defaultChunkSize = 1 << 20
    static let keyCheckLabel = Data("capstan-backup-key-check".utf8)

    static func keyCheck(_ key: SymmetricKey, nonce: Data) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: keyCheckLabel + nonce, using: key)).prefix(16)
    }

    static func nonce(base: Data, index: UInt64) throws -> AES.GCM.Nonce {
        var bytes = [UInt8](base)
        for i in 0..<8 { bytes[4 + i] ^= UInt8(truncatingIfNeeded: index >> (56 - 8 * UInt64(i))) }
        return try AES.GCM.Nonce(data: bytes)
    }

    static func aad(header: Data, index: UInt64, final: Bool) -> Data {
        var out = header
        withUnsafeBytes(of: index.bigEndian) { out.append(contentsOf: $0) }
        out.append(final ? 1 : 0)
        return out
    }
}

/// Encrypts a stream: feed plaintext with `update`, write out what it returns, end with `finish`.
public struct BackupEncryptor: Sendable {
    public let chunkSize: Int
    public let header: Data
    private let key: SymmetricKey
    private let baseNonce: Data
    private var buffer = Data()
    private var index: UInt64 = 0
    private var headerEmitted = false

    public init(key: BackupKey, chunkSize: Int = BackupCipher.defaultChunkSize) {
        precondition(chunkSize > 0 && chunkSize <= Int(UInt32.max), "chunk size out of range")
        self.chunkSize = chunkSize
        self.key = key.key
        var nonce = Data(count: 12)
        var generator = SystemRandomNumberGenerator()
        for i in 0..<12 { nonce[i] = UInt8.random(in: .min ... .max, using: &generator) }
        baseNonce = nonce
        var header = BackupCipher.magic
        header.append(BackupCipher.formatVersion)
        withUnsafeBytes(of: UInt32(chunkSize).bigEndian) { header.append(contentsOf: $0) }
        header.append(nonce)
        header.append(BackupCipher.keyCheck(key.key, nonce: nonce))
        self.header = header
    }

    /// Sealed bytes ready to store: the header first, then every chunk known not to be the last.
    public mutating func update(_ plaintext: Data) throws -> Data {
        buffer.append(plaintext)
        var out = Data()
        if !headerEmitted { out.append(header); headerEmitted = true }
        while buffer.count > chunkSize {
            out.append(try seal(buffer.prefix(chunkSize), final: false))
            buffer = Data(buffer.dropFirst(chunkSize))
        }
        return out
    }

    /// Seals what is left as the final chunk (possibly empty).
    public mutating func finish() throws -> Data {
        var out = Data()
        if !headerEmitted { out.append(header); headerEmitted = true }
        out.append(try seal(buffer, final: true))
        buffer = Data()
        return out
    }

    private mutating func seal(_ chunk: Data, final: Bool) throws -> Data {
        let box = try AES.GCM.seal(chunk, using: key, nonce: BackupCipher.nonce(base: baseNonce, index: index),
                                   authenticating: BackupCipher.aad(header: header, index: index, final: final))
        index += 1
        return box.ciphertext + box.tag
    }
}

/// Decrypts a stream written by `BackupEncryptor`; `object` and `keySource` name things in errors.
public struct BackupDecryptor: Sendable {
    private let key: BackupKey
    private let object: String
    private var header: Data?
    private var chunkSize = 0
    private var baseNonce = Data()
    private var buffer = Data()
    private var index: UInt64 = 0
    private var finished = false

    public init(key: BackupKey, object: String) {
        self.key = key
        self.object = object
    }

    /// Plaintext of every chunk known not to be the last.
    public mutating func update(_ sealed: Data) throws(BackupError) -> Data {
        buffer.append(sealed)
        if header == nil {
            guard buffer.count >= BackupCipher.headerSize else { return Data() }
            try readHeader()
        }
        var out = Data()
        let sealedSize = chunkSize + BackupCipher.tagSize
        while buffer.count > sealedSize {
            out.append(try open(buffer.prefix(sealedSize), final: false))
            buffer = Data(buffer.dropFirst(sealedSize))
        }
        return out
    }

    /// Opens the final chunk; fails when the stream ended early.
    public mutating func finish() throws(BackupError) -> Data {
        if header == nil {
            if buffer.count >= BackupCipher.magic.count, buffer.prefix(BackupCipher.magic.count) != BackupCipher.magic {
                throw .notEncrypted(object: object)
            }
            throw .badFormat(object: object, reason: "only \(buffer.count) bytes, shorter than the \(BackupCipher.headerSize)-byte header (truncated)")
        }
        guard buffer.count >= BackupCipher.tagSize else {
            throw .decryptionFailed(object: object, chunk: index, reason: "the stream ends inside a chunk (truncated)")
        }
        let out = try open(buffer, final: true)
        buffer = Data()
        finished = true
        return out
    }

    private mutating func readHeader() throws(BackupError) {
        let h = Data(buffer.prefix(BackupCipher.headerSize))
        guard h.prefix(8) == BackupCipher.magic else { throw .notEncrypted(object: object) }
        let version = h[h.startIndex + 8]
        guard version == BackupCipher.formatVersion else {
            throw .badFormat(object: object, reason: "format version \(version) is not supported by this Capstan (supports \(BackupCipher.formatVersion)); use a newer Capstan")
        }
        let size = h[(h.startIndex + 9)..<(h.startIndex + 13)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard size > 0 else { throw .badFormat(object: object, reason: "chunk size 0 in the header") }
        let nonce = Data(h[(h.startIndex + 13)..<(h.startIndex + 25)])
        let check = Data(h[(h.startIndex + 25)..<(h.startIndex + 41)])
        guard BackupCipher.keyCheck(key.key, nonce: nonce) == check else { throw .wrongKey(object: object, keyFile: key.source) }
        header = h
        chunkSize = Int(size)
        baseNonce = nonce
        buffer = Data(buffer.dropFirst(BackupCipher.headerSize))
    }

    private mutating func open(_ sealed: Data, final: Bool) throws(BackupError) -> Data {
        guard let header else { throw .badFormat(object: object, reason: "no header") }
        do {
            let body = Data(sealed)
            let box = try AES.GCM.SealedBox(
                nonce: BackupCipher.nonce(base: baseNonce, index: index),
                ciphertext: body.prefix(body.count - BackupCipher.tagSize), tag: body.suffix(BackupCipher.tagSize))
            let plain = try AES.GCM.open(box, using: key.key, authenticating: BackupCipher.aad(header: header, index: index, final: final))
            index += 1
            return plain
        } catch {
            let why = final ? "authentication failed on the last chunk present (truncated, or the chunk was altered)"
                            : "authentication failed (the chunk was altered or is out of order)"
            throw .decryptionFailed(object: object, chunk: index, reason: why)
        }
    }
}
