import Crypto
import Foundation

/// The age file format, age-encryption.org/v1 (https://age-encryption.org/v1), with X25519 recipients:
/// a text header (version line, one `-> X25519 <share>` stanza per recipient wrapping a 16-byte file key,
/// `--- <HMAC-SHA256>` over the header), then a 16-byte nonce and the payload as ChaCha20-Poly1305 STREAM in
/// 64 KiB chunks. Capstan writes it so an operator can always decrypt a backup with the standard `age` tool.
public enum AgeFormat {
    public static let versionLine = "age-encryption.org/v1"
    public static let chunkSize = 64 * 1024
    static let tagSize = 16
    static let x25519Label = Data("age-encryption.org/v1/X25519".utf8)

    static func hkdf(_ ikm: Data, salt: Data, info: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: ikm), salt: salt, info: Data(info.utf8), outputByteCount: 32)
    }

    static func headerMAC(fileKey: Data, headerUpToDashes: Data) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: headerUpToDashes, using: hkdf(fileKey, salt: Data(), info: "header")))
    }

    /// The STREAM nonce: an 11-byte big-endian chunk counter and a last-chunk flag.
    static func streamNonce(_ index: UInt64, last: Bool) throws -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for i in 0..<8 { bytes[3 + i] = UInt8(truncatingIfNeeded: index >> (56 - 8 * UInt64(i))) }
        bytes[11] = last ? 1 : 0
        return try ChaChaPoly.Nonce(data: bytes)
    }

    static let zeroNonce: ChaChaPoly.Nonce = {
        // A 12-byte nonce is always valid; the fallback is never taken.
        (try? ChaChaPoly.Nonce(data: [UInt8](repeating: 0, count: 12))) ?? ChaChaPoly.Nonce()
    }()

    /// X25519 shared secret with the all-zero result (a low-order share) refused, as the specification requires.
    static func sharedSecret(_ priv: Curve25519.KeyAgreement.PrivateKey, _ pub: Curve25519.KeyAgreement.PublicKey) throws(AgeError) -> Data {
        guard let secret = try? priv.sharedSecretFromKeyAgreement(with: pub) else {
            throw .header("the X25519 share is a low-order point (all-zero shared secret)")
        }
        let bytes = secret.withUnsafeBytes { Data($0) }
        guard bytes.contains(where: { $0 != 0 }) else { throw .header("the X25519 share is a low-order point (all-zero shared secret)") }
        return bytes
    }

    /// One `-> X25519` stanza wrapping `fileKey` to `recipient`.
    static func wrap(_ fileKey: Data, to recipient: AgeRecipient) throws -> Stanza {
        let ephemeral = Curve25519.KeyAgreement.PrivateKey()
        let share = ephemeral.publicKey.rawRepresentation
        let secret = try sharedSecret(ephemeral, recipient.publicKey)
        let key = hkdf(secret, salt: share + recipient.publicKey.rawRepresentation, info: "age-encryption.org/v1/X25519")
        let box = try ChaChaPoly.seal(fileKey, using: key, nonce: zeroNonce)
        return Stanza(arguments: ["X25519", AgeBase64.encode(share)], body: box.ciphertext + box.tag)
    }

    /// The file key from an X25519 stanza, nil when `identity` is not its recipient.
    static func unwrap(_ stanza: Stanza, with identity: AgeIdentity) throws(AgeError) -> Data? {
        guard stanza.arguments.count == 2 else { throw .header("an X25519 stanza needs exactly one argument (found \(stanza.arguments.count - 1))") }
        guard let share = AgeBase64.decode(Substring(stanza.arguments[1])), share.count == 32,
              let sharePoint = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: share) else {
            throw .header("the X25519 share is not 32 bytes of canonical base64")
        }
        guard stanza.body.count == 32 else { throw .header("the X25519 stanza body is \(stanza.body.count) bytes, not a 16-byte wrapped file key") }
        let secret = try sharedSecret(identity.privateKey, sharePoint)
        let key = hkdf(secret, salt: share + identity.privateKey.publicKey.rawRepresentation, info: "age-encryption.org/v1/X25519")
        guard let box = try? ChaChaPoly.SealedBox(combined: zeroNonce.withUnsafeBytes { Data($0) } + stanza.body),
              let fileKey = try? ChaChaPoly.open(box, using: key) else { return nil }
        return fileKey
    }

    struct Stanza: Equatable {
        var arguments: [String]
        var body: Data

        var encoded: String {
            var out = "-> " + arguments.joined(separator: " ") + "\n"
            var text = Substring(AgeBase64.encode(body))
            // Every body ends with a line shorter than 64 columns, an empty one if need be.
            while text.count >= 64 {
                out += text.prefix(64) + "\n"
                text = text.dropFirst(64)
            }
            return out + text + "\n"
        }
    }

    /// A parsed header; `macInput` is the header up to and including `---`.
    struct Header {
        var stanzas: [Stanza]
        var mac: Data
        var macInput: Data
    }

    /// Parses a complete header (through the `--- MAC` line's newline) strictly, as the specification requires.
    static func parseHeader(_ bytes: Data) throws(AgeError) -> Header {
        guard !bytes.contains(13) else { throw .header("a header line ends with CR (lines end with LF only)") }
        guard bytes.allSatisfy({ $0 == 10 || (32...126).contains($0) }) else { throw .header("the header holds a byte that is not printable ASCII") }
        var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.last == "" else { throw .header("the header does not end with a newline") }
        lines.removeLast()
        guard let first = lines.first, first == versionLine else {
            let found = lines.first.map(String.init) ?? ""
            throw .header(found.hasPrefix("age-encryption.org/") ? "unsupported version \(found)" : "not an age file (no \(versionLine) line)")
        }
        var i = 1
        var stanzas: [Stanza] = []
        while i < lines.count, lines[i].hasPrefix("-> ") {
            let args = lines[i].dropFirst(3).split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard !args.isEmpty, args.allSatisfy({ !$0.isEmpty }) else { throw .header("a stanza has an empty argument") }
            i += 1
            var body = ""
            while true {
                guard i < lines.count, !lines[i].hasPrefix("-") else { throw .header("a stanza body does not end with a line shorter than 64 columns") }
                let line = lines[i]
                guard line.count <= 64 else { throw .header("a stanza body line is longer than 64 columns") }
                body += line
                i += 1
                if line.count < 64 { break }
            }
            guard let decoded = AgeBase64.decode(Substring(body)) else { throw .header("a stanza body is not canonical unpadded base64") }
            stanzas.append(Stanza(arguments: args, body: decoded))
        }
        guard i == lines.count - 1, lines[i].hasPrefix("---") else { throw .header("expected a stanza (-> …) or the MAC line (--- …)") }
        let footer = lines[i]
        guard footer.hasPrefix("--- "), let mac = AgeBase64.decode(footer.dropFirst(4)), mac.count == 32 else {
            throw .header("the MAC line is not `--- ` and 32 bytes of canonical base64")
        }
        guard !stanzas.isEmpty else { throw .header("the header has no recipient stanza") }
        return Header(stanzas: stanzas, mac: mac, macInput: Data(bytes.prefix(bytes.count - footer.count - 1 + 3)))
    }
}

/// Encrypts a stream to age recipients: feed plaintext with `update`, write out what it returns, end with `finish`.
public struct AgeEncryptor: Sendable {
    private let payloadKey: SymmetricKey
    private var pendingHeader: Data?
    private var buffer = Data()
    private var index: UInt64 = 0

    public init(recipients: [AgeRecipient]) throws {
        precondition(!recipients.isEmpty, "age needs at least one recipient")
        var generator = SystemRandomNumberGenerator()
        let fileKey = Data((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        var header = AgeFormat.versionLine + "\n"
        for r in recipients { header += try AgeFormat.wrap(fileKey, to: r).encoded }
        header += "---"
        let mac = AgeFormat.headerMAC(fileKey: fileKey, headerUpToDashes: Data(header.utf8))
        header += " " + AgeBase64.encode(mac) + "\n"
        let nonce = Data((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        payloadKey = AgeFormat.hkdf(fileKey, salt: nonce, info: "payload")
        pendingHeader = Data(header.utf8) + nonce
    }

    /// Encrypted bytes ready to store: the header and nonce first, then every chunk known not to be the last.
    public mutating func update(_ plaintext: Data) throws -> Data {
        var out = pendingHeader ?? Data()
        pendingHeader = nil
        buffer.append(plaintext)
        var offset = buffer.startIndex
        while buffer.endIndex - offset > AgeFormat.chunkSize {
            out.append(try seal(buffer[offset..<(offset + AgeFormat.chunkSize)], last: false))
            offset += AgeFormat.chunkSize
        }
        if offset != buffer.startIndex { buffer = Data(buffer[offset...]) }
        return out
    }

    /// Seals the rest as the last chunk (full-size allowed; empty only for an empty plaintext).
    public mutating func finish() throws -> Data {
        var out = pendingHeader ?? Data()
        pendingHeader = nil
        out.append(try seal(buffer, last: true))
        buffer = Data()
        return out
    }

    private mutating func seal(_ chunk: Data, last: Bool) throws -> Data {
        let box = try ChaChaPoly.seal(chunk, using: payloadKey, nonce: AgeFormat.streamNonce(index, last: last))
        index += 1
        return box.ciphertext + box.tag
    }
}

/// Decrypts an age stream with the operator's identities, releasing plaintext chunk by chunk as it authenticates.
/// Like the reference implementation, a full-size chunk is tried as a middle chunk first and then as the last one.
public struct AgeDecryptor: Sendable {
    private let identities: [AgeIdentity]
    private var buffer = Data()
    private var payloadKey: SymmetricKey?
    private var index: UInt64 = 0
    private var sawLast = false
    /// A failure found after plaintext was already released in the same call; thrown on the next call.
    private var pendingError: AgeError?
    /// A header larger than this without its MAC line is not an age header.
    static let headerLimit = 1 << 20

    public init(identities: [AgeIdentity]) { self.identities = identities }

    /// Whether `prefix` (the first bytes of an object) is an age file.
    public static func isAge(_ prefix: Data) -> Bool { prefix.starts(with: Data("age-encryption.org/".utf8)) }

    public mutating func update(_ data: Data) throws(AgeError) -> Data {
        if let pendingError { throw pendingError }
        buffer.append(data)
        if payloadKey == nil, !(try readHeader()) { return Data() }
        var out = Data()
        let sealed = AgeFormat.chunkSize + AgeFormat.tagSize
        var offset = buffer.startIndex
        do throws(AgeError) {
            while buffer.endIndex - offset >= sealed || (sawLast && buffer.endIndex > offset) {
                if sawLast { throw AgeError.payload(chunk: index, reason: "data follows the last chunk") }
                out.append(try openFull(buffer[offset..<(offset + sealed)]))
                offset += sealed
            }
        } catch {
            if offset != buffer.startIndex { buffer = Data(buffer[offset...]) }
            if out.isEmpty { throw error }
            pendingError = error
            return out
        }
        if offset != buffer.startIndex { buffer = Data(buffer[offset...]) }
        return out
    }

    public mutating func finish() throws(AgeError) -> Data {
        if let pendingError { throw pendingError }
        if payloadKey == nil, !(try readHeader()) {
            throw .header(buffer.isEmpty ? "the file is empty" : "the header or the payload nonce is cut off")
        }
        if sawLast {
            guard buffer.isEmpty else { throw .payload(chunk: index, reason: "data follows the last chunk") }
            return Data()
        }
        guard !buffer.isEmpty else { throw .payload(chunk: index, reason: "the payload has no last chunk (truncated)") }
        guard buffer.count >= AgeFormat.tagSize else { throw .payload(chunk: index, reason: "the last chunk is shorter than its tag (truncated)") }
        let out = try open(buffer, last: true)
        guard !out.isEmpty || index == 1 else { throw .payload(chunk: index - 1, reason: "the last chunk is empty though earlier chunks exist") }
        buffer = Data()
        sawLast = true
        return out
    }

    /// A full-size chunk: a middle chunk, or else a full last chunk.
    private mutating func openFull(_ sealed: Data) throws(AgeError) -> Data {
        if let plain = try? open(sealed, last: false) { return plain }
        let plain = try open(sealed, last: true)
        sawLast = true
        return plain
    }

    /// Parses the header and nonce once they are complete; false while more bytes are needed.
    private mutating func readHeader() throws(AgeError) -> Bool {
        let marker = Data("\n---".utf8)
        guard let dashes = buffer.range(of: marker) else {
            if buffer.count > AgeDecryptor.headerLimit { throw .header("no MAC line in the first \(AgeDecryptor.headerLimit) bytes") }
            if buffer.count >= 19, !AgeDecryptor.isAge(buffer.prefix(19)) { throw .header("not an age file (no \(AgeFormat.versionLine) line)") }
            return false
        }
        guard let end = buffer[dashes.upperBound...].firstIndex(of: 10) else { return false }
        let header = try AgeFormat.parseHeader(Data(buffer[buffer.startIndex...end]))
        guard buffer.endIndex - (end + 1) >= 16 else { return false }
        var fileKey: Data?
        search: for stanza in header.stanzas where stanza.arguments[0] == "X25519" {
            for identity in identities {
                if let key = try AgeFormat.unwrap(stanza, with: identity) { fileKey = key; break search }
            }
        }
        guard let fileKey, fileKey.count == 16 else { throw .noMatch }
        guard AgeFormat.headerMAC(fileKey: fileKey, headerUpToDashes: header.macInput) == header.mac else { throw .headerMAC }
        let nonce = Data(buffer[(end + 1)..<(end + 17)])
        payloadKey = AgeFormat.hkdf(fileKey, salt: nonce, info: "payload")
        buffer = Data(buffer[(end + 17)...])
        return true
    }

    private mutating func open(_ sealed: Data, last: Bool) throws(AgeError) -> Data {
        guard let payloadKey else { throw .header("no header") }
        let body = Data(sealed)
        do {
            let box = try ChaChaPoly.SealedBox(nonce: AgeFormat.streamNonce(index, last: last),
                                               ciphertext: body.prefix(body.count - AgeFormat.tagSize), tag: body.suffix(AgeFormat.tagSize))
            let plain = try ChaChaPoly.open(box, using: payloadKey)
            index += 1
            return plain
        } catch {
            throw .payload(chunk: index, reason: last ? "authentication failed on the last chunk present (truncated, or altered)"
                                                      : "authentication failed (altered, reordered, or a last chunk followed by more data)")
        }
    }
}
