import Crypto
import Inventory
import Foundation

/// Why an age file could not be read, in the categories of the age specification (the C2SP test vectors
/// expect exactly these): the header does not parse, no identity unwraps a stanza, the header MAC does not
/// match, or the STREAM payload fails.
public enum AgeError: Error, Sendable, Equatable, CustomStringConvertible {
    case header(String)
    case noMatch
    case headerMAC
    case payload(chunk: UInt64, reason: String)
    case key(String)

    public var description: String {
        switch self {
        case let .header(why): return "age header: \(why)"
        case .noMatch: return "no identity matches any recipient stanza of the age header"
        case .headerMAC: return "the age header MAC does not match (the header was altered)"
        case let .payload(chunk, why): return "age payload chunk \(chunk): \(why)"
        case let .key(why): return why
        }
    }
}

/// An X25519 recipient, `age1…`: the public half the etcd hosts encrypt to.
public struct AgeRecipient: Sendable, Equatable, CustomStringConvertible {
    public let publicKey: Curve25519.KeyAgreement.PublicKey

    public init(publicKey: Curve25519.KeyAgreement.PublicKey) { self.publicKey = publicKey }

    public init(parsing text: String) throws(AgeError) {
        guard let (hrp, data) = Bech32.decode(text), hrp == "age", data.count == 32,
              let key = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: data) else {
            throw .key("'\(text)' is not an age X25519 recipient (age1… as `capstan backup keygen` or `age-keygen` prints it)")
        }
        publicKey = key
    }

    public var description: String { Bech32.encode(hrp: "age", data: publicKey.rawRepresentation) }

    public static func == (a: AgeRecipient, b: AgeRecipient) -> Bool { a.publicKey.rawRepresentation == b.publicKey.rawRepresentation }
}

/// An X25519 identity, `AGE-SECRET-KEY-1…`: the private half that only the operator holds.
public struct AgeIdentity: Sendable {
    public let privateKey: Curve25519.KeyAgreement.PrivateKey
    /// Where it came from, for messages (never its value).
    public let source: String

    public init(privateKey: Curve25519.KeyAgreement.PrivateKey = .init(), source: String = "generated") {
        self.privateKey = privateKey
        self.source = source
    }

    public init(parsing text: String, source: String) throws(AgeError) {
        guard let (hrp, data) = Bech32.decode(text), hrp == "AGE-SECRET-KEY-", data.count == 32,
              let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: data) else {
            throw .key("\(source): a line is not an age identity (AGE-SECRET-KEY-1…, upper case, as `capstan backup keygen` writes it)")
        }
        privateKey = key
        self.source = source
    }

    public var recipient: AgeRecipient { AgeRecipient(publicKey: privateKey.publicKey) }

    /// The identity line age-keygen writes (upper case).
    public var encoded: String { Bech32.encode(hrp: "age-secret-key-", data: privateKey.rawRepresentation).uppercased() }

    /// The identity file format age-keygen writes, which `age -d -i` reads.
    public func fileContents(created: Date) -> String {
        let stamp = ISO8601DateFormatter().string(from: created)
        return "# created: \(stamp)\n# public key: \(recipient)\n\(encoded)\n"
    }

    /// Every identity in an identity file: one per line, `#` comments and blank lines skipped.
    public static func load(path: String) throws(AgeError) -> [AgeIdentity] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .key("age identity file \(path) cannot be read (missing, or check its owner and permissions); make one with `capstan backup keygen --output \(path)`")
        }
        var out: [AgeIdentity] = []
        for (n, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            out.append(try AgeIdentity(parsing: line, source: "\(path):\(n + 1)"))
        }
        guard !out.isEmpty else { throw .key("age identity file \(path) holds no AGE-SECRET-KEY-1… line") }
        return out
    }
}

/// age's base64: the standard alphabet without padding, and only the canonical encoding is accepted.
enum AgeBase64 {
    static func encode(_ data: Data) -> String {
        var s = data.base64EncodedString()
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }

    static func decode(_ text: Substring) -> Data? {
        guard !text.contains("="), text.utf8.allSatisfy({ isAlphabet($0) }), text.count % 4 != 1 else { return nil }
        let padded = String(text) + String(repeating: "=", count: (4 - text.count % 4) % 4)
        guard let data = Data(base64Encoded: padded), encode(data) == text else { return nil }
        return data
    }

    private static func isAlphabet(_ c: UInt8) -> Bool {
        (65...90).contains(c) || (97...122).contains(c) || (48...57).contains(c) || c == 43 || c == 47
    }
}
