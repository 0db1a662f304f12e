import Foundation
import Hosts

/// What Capstan needs to know about a private key file before connecting: its key type.
enum PrivateKeyFile {
    enum Kind: Equatable { case rsa, ed25519, ecdsa, dsa, other(String) }

    /// Reads the key type from an OpenSSH (`openssh-key-v1`, whose public part is never encrypted)
    /// or PEM private key file. nil when the file is unreadable or not a key.
    static func kind(atPath path: String) -> Kind? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        if text.contains("BEGIN RSA PRIVATE KEY") { return .rsa }
        if text.contains("BEGIN EC PRIVATE KEY") { return .ecdsa }
        if text.contains("BEGIN DSA PRIVATE KEY") { return .dsa }
        guard text.contains("BEGIN OPENSSH PRIVATE KEY") else { return nil }
        let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        guard let blob = Data(base64Encoded: body) else { return nil }
        var reader = Reader(bytes: [UInt8](blob))
        guard reader.skip(prefix: Array("openssh-key-v1\0".utf8)),
              reader.string() != nil, reader.string() != nil, reader.string() != nil,  // cipher, kdf, kdf options
              reader.uint32() != nil,
              let publicKey = reader.string()
        else { return nil }
        var inner = Reader(bytes: publicKey)
        guard let typeBytes = inner.string() else { return nil }
        let type = String(decoding: typeBytes, as: UTF8.self)
        switch type {
        case "ssh-rsa": return .rsa
        case "ssh-ed25519": return .ed25519
        case "ssh-dss": return .dsa
        default: return type.hasPrefix("ecdsa-sha2-") ? .ecdsa : .other(type)
        }
    }

    private struct Reader {
        var bytes: [UInt8]
        var offset = 0

        mutating func skip(prefix: [UInt8]) -> Bool {
            guard bytes.count >= prefix.count, Array(bytes[0..<prefix.count]) == prefix else { return false }
            offset = prefix.count
            return true
        }

        mutating func uint32() -> UInt32? {
            guard offset + 4 <= bytes.count else { return nil }
            let v = bytes[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            offset += 4
            return v
        }

        mutating func string() -> [UInt8]? {
            guard let n = uint32(), offset + Int(n) <= bytes.count else { return nil }
            defer { offset += Int(n) }
            return Array(bytes[offset..<offset + Int(n)])
        }
    }
}

extension HostEndpoint.Authentication {
    var label: String {
        switch self {
        case .privateKey(let path, _): return "key \(path)"
        case .agent: return "ssh-agent"
        case .password: return "password"
        }
    }
}

/// Refuses, before any connection, what libssh2 cannot do here: RSA user keys below libssh2 1.11.
func checkAuthenticationSupported(_ methods: [HostEndpoint.Authentication], host: String) throws {
    guard !SSH.supportsRSASHA2 else { return }
    for case .privateKey(let path, _) in methods where PrivateKeyFile.kind(atPath: path) == .rsa {
        throw HostError.unsupported(host: host, reason: "the RSA key \(path) cannot be used: libssh2 \(SSH.libraryVersion) signs RSA authentication only with SHA-1 ssh-rsa, which OpenSSH 8.8+ servers refuse. Use an ed25519 or ECDSA key (ssh-keygen -t ed25519), or set `transport: openssh` for this host")
    }
}
