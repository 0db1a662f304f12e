import Crypto
import Foundation
import Testing
import TestSupport
@testable import Workflows

private func key(_ byte: UInt8 = 7) throws -> BackupKey {
    try BackupKey(fileContents: Data(repeating: byte, count: 32), source: "/keys/backup.key")
}

private func encrypt(_ plain: Data, key: BackupKey, chunkSize: Int, feed: Int = 1000) throws -> Data {
    var e = BackupEncryptor(key: key, chunkSize: chunkSize)
    var out = Data()
    var offset = 0
    while offset < plain.count {
        let end = min(offset + feed, plain.count)
        out.append(try e.update(plain.subdata(in: offset..<end)))
        offset = end
    }
    out.append(try e.finish())
    return out
}

private func decrypt(_ sealed: Data, key: BackupKey, feed: Int = 777) throws -> Data {
    var d = BackupDecryptor(key: key, object: "b.snapshot.db.enc")
    var out = Data()
    var offset = 0
    while offset < sealed.count {
        let end = min(offset + feed, sealed.count)
        out.append(try d.update(sealed.subdata(in: offset..<end)))
        offset = end
    }
    out.append(try d.finish())
    return out
}

private func randomData(_ n: Int) -> Data {
    var g = SystemRandomNumberGenerator()
    return Data((0..<n).map { _ in UInt8.random(in: 0...255, using: &g) })
}

@Suite("Backup encryption format", .tags(.unit))
struct BackupCipherTests {
    @Test("round-trips empty, 1 byte, exactly one chunk, one chunk + 1 and many chunks", arguments: [0, 1, 4096, 4097, 4096 * 9 + 123])
    func roundTrip(size: Int) throws {
        let k = try key()
        let plain = randomData(size)
        let sealed = try encrypt(plain, key: k, chunkSize: 4096)
        let chunks = max(1, (size + 4095) / 4096)
        #expect(sealed.count == BackupCipher.headerSize + size + chunks * BackupCipher.tagSize)
        #expect(try decrypt(sealed, key: k) == plain)
        #expect(sealed.prefix(8) == Data("CAPSTANB".utf8))
    }

    @Test("two encryptions of the same data differ (random base nonce)")
    func freshNonce() throws {
        let k = try key()
        let plain = randomData(100)
        #expect(try encrypt(plain, key: k, chunkSize: 64) != encrypt(plain, key: k, chunkSize: 64))
    }

    @Test("a flipped bit in any chunk fails with the chunk index")
    func tamper() throws {
        let k = try key()
        var sealed = try encrypt(randomData(3 * 4096), key: k, chunkSize: 4096)
        let second = BackupCipher.headerSize + (4096 + 16) + 10
        sealed[second] ^= 0x01
        #expect(throws: BackupError.decryptionFailed(object: "b.snapshot.db.enc", chunk: 1, reason: "authentication failed (the chunk was altered or is out of order)")) {
            try decrypt(sealed, key: k)
        }
    }

    @Test("a tampered header (chunk size) fails")
    func tamperHeader() throws {
        let k = try key()
        var sealed = try encrypt(randomData(5000), key: k, chunkSize: 4096)
        sealed[12] ^= 0x01
        #expect(throws: BackupError.self) { try decrypt(sealed, key: k) }
    }

    @Test("truncation at a chunk boundary, inside a chunk and inside the header each fail")
    func truncate() throws {
        let k = try key()
        let sealed = try encrypt(randomData(3 * 4096 + 5), key: k, chunkSize: 4096)
        let boundary = sealed.prefix(BackupCipher.headerSize + 2 * (4096 + 16))
        #expect(throws: BackupError.decryptionFailed(object: "b.snapshot.db.enc", chunk: 1, reason: "authentication failed on the last chunk present (truncated, or the chunk was altered)")) {
            try decrypt(Data(boundary), key: k)
        }
        #expect(throws: BackupError.self) { try decrypt(Data(sealed.dropLast(3)), key: k) }
        #expect(throws: BackupError.decryptionFailed(object: "b.snapshot.db.enc", chunk: 0, reason: "the stream ends inside a chunk (truncated)")) {
            try decrypt(Data(sealed.prefix(BackupCipher.headerSize + 5)), key: k)
        }
        #expect(throws: BackupError.badFormat(object: "b.snapshot.db.enc", reason: "only 20 bytes, shorter than the 41-byte header (truncated)")) {
            try decrypt(Data(sealed.prefix(20)), key: k)
        }
    }

    @Test("swapped chunks fail")
    func reorder() throws {
        let k = try key()
        let sealed = try encrypt(randomData(3 * 4096), key: k, chunkSize: 4096)
        let h = BackupCipher.headerSize, s = 4096 + 16
        let swapped = sealed.prefix(h) + sealed.subdata(in: (h + s)..<(h + 2 * s)) + sealed.subdata(in: h..<(h + s)) + sealed.suffix(from: h + 2 * s)
        #expect(throws: BackupError.decryptionFailed(object: "b.snapshot.db.enc", chunk: 0, reason: "authentication failed (the chunk was altered or is out of order)")) {
            try decrypt(Data(swapped), key: k)
        }
    }

    @Test("a wrong key is reported as a wrong key naming the key file")
    func wrongKey() throws {
        let sealed = try encrypt(randomData(100), key: key(1), chunkSize: 64)
        #expect(throws: BackupError.wrongKey(object: "b.snapshot.db.enc", keyFile: "/keys/backup.key")) { try decrypt(sealed, key: key(2)) }
    }

    @Test("plain data is recognised as not encrypted")
    func notEncrypted() throws {
        #expect(throws: BackupError.notEncrypted(object: "b.snapshot.db.enc")) { try decrypt(Data(repeating: 0x41, count: 100), key: key()) }
    }

    @Test("key files: raw 32 bytes, 64 hex chars and base64 give the same key; other content names the file")
    func keyForms() throws {
        let raw = Data((0..<32).map { UInt8($0 * 7 % 256) })
        let hex = raw.map { String(format: "%02x", $0) }.joined() + "\n"
        let b64 = raw.base64EncodedString() + "\n"
        let sealed = try encrypt(Data("payload".utf8), key: BackupKey(fileContents: raw, source: "raw"), chunkSize: 16)
        for form in [Data(hex.utf8), Data(hex.uppercased().utf8), Data(b64.utf8)] {
            #expect(try decrypt(sealed, key: BackupKey(fileContents: form, source: "k")) == Data("payload".utf8))
        }
        #expect(throws: BackupError.keyFile(path: "/k/short", reason: "holds 16 bytes that are none of the accepted forms")) {
            try BackupKey(fileContents: Data(count: 16), source: "/k/short")
        }
        #expect(throws: BackupError.keyFile(path: "/nonexistent/key", reason: "does not exist")) { try BackupKey.load(path: "/nonexistent/key") }
        let message = BackupError.keyFile(path: "/k/short", reason: "x").description
        #expect(message.contains("/k/short") && message.contains("32 raw bytes"))
    }
}
