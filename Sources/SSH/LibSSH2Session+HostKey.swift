import CLibSSH2
import Crypto
import Foundation
import Hosts

/// A server's host key as presented during the handshake.
struct PresentedHostKey {
    var blob: Data
    var type: Int32

    var typeName: String {
        switch type {
        case LIBSSH2_HOSTKEY_TYPE_RSA: return "ssh-rsa"
        case LIBSSH2_HOSTKEY_TYPE_DSS: return "ssh-dss"
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return "ecdsa-sha2-nistp256"
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return "ecdsa-sha2-nistp384"
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return "ecdsa-sha2-nistp521"
        case LIBSSH2_HOSTKEY_TYPE_ED25519: return "ssh-ed25519"
        default: return "unknown"
        }
    }

    var knownHostTypeMask: Int32 {
        switch type {
        case LIBSSH2_HOSTKEY_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA
        case LIBSSH2_HOSTKEY_TYPE_DSS: return LIBSSH2_KNOWNHOST_KEY_SSHDSS
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521
        case LIBSSH2_HOSTKEY_TYPE_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519
        default: return LIBSSH2_KNOWNHOST_KEY_UNKNOWN
        }
    }

    var fingerprint: String { HostKeyFingerprint.sha256(blob) }
}

public enum HostKeyFingerprint {
    /// OpenSSH's `SHA256:` fingerprint: base64 of the SHA-256 of the key blob, without padding.
    public static func sha256(_ blob: Data) -> String {
        let digest = Data(SHA256.hash(data: blob))
        var text = digest.base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return "SHA256:" + text
    }
}

/// The name known_hosts uses for a host: `address`, or `[address]:port` off port 22.
func knownHostsName(address: String, port: Int) -> String {
    port == 22 ? address : "[\(address)]:\(port)"
}

extension LibSSH2Session {
    func presentedHostKey() throws -> PresentedHostKey {
        var length = 0
        var type: Int32 = 0
        guard let key = libssh2_session_hostkey(raw, &length, &type), length > 0 else {
            throw HostError.connectFailed(host: host, address: host, reason: "server sent no host key: \(lastError().text)")
        }
        return PresentedHostKey(blob: Data(bytes: key, count: length), type: type)
    }

    /// Checks the server's key against an OpenSSH known_hosts file (plain, hashed `|1|salt|hash` and
    /// `[host]:port` entries, through libssh2's knownhost API). Unknown keys are appended only under
    /// `accept-new`; a changed key is always refused.
    func verifyHostKey(address: String, port: Int, file: String, policy: HostEndpoint.KnownHostsPolicy) throws {
        let key = try presentedHostKey()
        guard let hosts = libssh2_knownhost_init(raw) else {
            throw HostError.connectFailed(host: host, address: address, reason: "cannot check the host key: \(lastError().text)")
        }
        defer { libssh2_knownhost_free(hosts) }

        let lines = Self.readKnownHosts(file)
        for line in lines {
            // Lines libssh2 cannot parse (certificate authorities, security-key types) are skipped one by
            // one; `libssh2_knownhost_readfile` would stop at the first and miss every entry after it.
            _ = line.text.withCString { libssh2_knownhost_readline(hosts, $0, strlen($0), LIBSSH2_KNOWNHOST_FILE_OPENSSH) }
        }

        var found: UnsafeMutablePointer<libssh2_knownhost>?
        let typeMask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | key.knownHostTypeMask
        let check = key.blob.withUnsafeBytes { buffer in
            libssh2_knownhost_checkp(hosts, address, Int32(port), buffer.baseAddress?.assumingMemoryBound(to: CChar.self), buffer.count, typeMask, &found)
        }
        switch check {
        case LIBSSH2_KNOWNHOST_CHECK_MATCH:
            return
        case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
            let storedBase64 = found.flatMap { $0.pointee.key.map { String(cString: $0) } } ?? ""
            let storedBlob = Data(base64Encoded: storedBase64) ?? Data()
            let name = knownHostsName(address: address, port: port)
            let sameKey = lines.filter { $0.keyBase64 == storedBase64 }
            let lineNumber = (sameKey.first { $0.hosts.split(separator: ",").contains(Substring(name)) || $0.hosts.hasPrefix("|1|") } ?? sameKey.first)?.number ?? 0
            throw HostError.hostKeyChanged(
                host: host, keyType: key.typeName, expected: HostKeyFingerprint.sha256(storedBlob),
                presented: key.fingerprint, knownHostsFile: file, line: lineNumber)
        case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
            guard policy == .acceptNew else {
                throw HostError.hostKeyUnknown(host: host, keyType: key.typeName, fingerprint: key.fingerprint, knownHostsFile: file)
            }
            try Self.append(knownHostsName(address: address, port: port) + " \(key.typeName) \(key.blob.base64EncodedString())\n", to: file, host: host)
        default:
            throw HostError.connectFailed(host: host, address: address, reason: "cannot check the host key against \(file): \(lastError().text)")
        }
    }

    struct KnownHostsLine {
        var number: Int
        var text: String
        var hosts: String
        var keyBase64: String
    }

    static func readKnownHosts(_ file: String) -> [KnownHostsLine] {
        guard let data = FileManager.default.contents(atPath: file) else { return [] }
        var result: [KnownHostsLine] = []
        for (index, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            var fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.first?.hasPrefix("@") == true { fields.removeFirst() }
            let key = fields.count >= 3 ? String(fields[2]) : ""
            result.append(KnownHostsLine(number: index + 1, text: trimmed + "\n", hosts: fields.first.map(String.init) ?? "", keyBase64: key))
        }
        return result
    }

    static func append(_ line: String, to file: String, host: String) throws {
        let directory = (file as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        var text = line
        if let existing = FileManager.default.contents(atPath: file), let last = existing.last, last != UInt8(ascii: "\n") {
            text = "\n" + text
        }
        let fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        guard fd >= 0 else {
            throw HostError.connectFailed(host: host, address: host, reason: "cannot add the host key to \(file): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else {
            throw HostError.connectFailed(host: host, address: host, reason: "cannot add the host key to \(file): \(String(cString: strerror(errno)))")
        }
    }
}
