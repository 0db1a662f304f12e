import Foundation
import Hosts
import PKI
import Templates

/// Secrets encrypted at rest: the keys of the API servers' EncryptionConfiguration, in the state directory
/// (`pki/secrets-encryption.json`, 0600: inside `pki/`, so the PKI published to the backup store and
/// `includePKI` snapshots carry the keys their Secrets need), and the key rotation in progress if any.
///
/// Provider: secretbox (XSalsa20-Poly1305, 32-byte keys), which upstream recommends over aescbc and which,
/// unlike aesgcm, needs no rotation every 200,000 writes. `identity` comes last, so Secrets written before
/// encryption was turned on stay readable until a rewrite (`capstan secrets rotate-key`) encrypts them.
/// KMS v2 (a key held by an external KMS plugin) is not configured by Capstan.
public struct SecretsEncryption: Sendable, Equatable, Codable {
    public static let path = "pki/secrets-encryption.json"
    /// Where each API server reads the configuration (0600: it holds the keys).
    public static let hostPath = "/etc/kubernetes/encryption-config.yaml"

    public struct Key: Sendable, Equatable, Codable {
        public var name: String
        /// 32 random bytes, base64.
        public var secret: String
        public var created: Date
    }

    /// The steps of `secrets rotate-key`, each ending with every API server restarted on the step's
    /// configuration (host by host, health-gated) before the next begins.
    public enum Step: String, Sendable, Codable {
        /// The new key is a reader on every API server; the old one still writes.
        case reader
        /// The new key writes; the old one still reads.
        case writer
        /// Every Secret has been rewritten through the API, so with the new key.
        case rewritten
        /// The old key is being dropped; the rotation ends once every API server has only the new one.
        case dropping
    }

    public struct Rotation: Sendable, Equatable, Codable {
        public var from: String
        public var to: String
        public var step: Step
        public var startedAt: Date
    }

    /// In provider order: the first key writes, all read.
    public var keys: [Key]
    public var rotation: Rotation?

    /// The key Secrets are written with now.
    public var writer: String { keys.first?.name ?? "identity" }

    /// A fresh key named for the time it was made (`key-20261203T064501`); the secret from the system's
    /// cryptographic random source.
    public static func newKey(now: Date) -> Key {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss"
        return Key(name: "key-" + formatter.string(from: now), secret: Data(bytes).base64EncodedString(), created: now)
    }

    /// The first configuration of a cluster: one key.
    public static func initial(now: Date) -> SecretsEncryption { SecretsEncryption(keys: [newKey(now: now)], rotation: nil) }

    /// The next state of a rotation; `starting` a new one when none is in progress. Nil once the rotation
    /// is over (the old key dropped everywhere).
    public func advanced(now: Date) throws -> SecretsEncryption? {
        guard let rotation else {
            guard let current = keys.first else { throw WorkflowError.stateFile("the Secrets encryption record has no key") }
            var new = Self.newKey(now: now)
            if new.name == current.name { new.name += "b" }
            return SecretsEncryption(keys: [current, new], rotation: Rotation(from: current.name, to: new.name, step: .reader, startedAt: now))
        }
        func pair() throws -> (old: Key, new: Key) {
            guard let old = keys.first(where: { $0.name == rotation.from }), let new = keys.first(where: { $0.name == rotation.to }) else {
                throw WorkflowError.stateFile("the Secrets encryption record's rotation names keys it does not hold (\(rotation.from), \(rotation.to))")
            }
            return (old, new)
        }
        var next = rotation
        switch rotation.step {
        case .reader:
            next.step = .writer
            let (old, new) = try pair()
            return SecretsEncryption(keys: [new, old], rotation: next)
        case .writer:
            next.step = .rewritten
            let (old, new) = try pair()
            return SecretsEncryption(keys: [new, old], rotation: next)
        case .rewritten:
            next.step = .dropping
            return SecretsEncryption(keys: [try pair().new], rotation: next)
        case .dropping:
            return nil
        }
    }

    /// The file every API server reads, rendered from `kubernetes/encryption-config.yaml`.
    public func file(clusterName: String, renderer: TemplateRenderer) throws -> ManagedFile {
        let context = EncryptionConfigContext(clusterName: clusterName, keys: keys.map { .init(name: $0.name, secret: $0.secret) })
        return ManagedFile(path: Self.hostPath, text: try renderer.render("kubernetes/encryption-config.yaml", context: context),
                           attributes: FileAttributes(mode: 0o600), secret: true)
    }

    /// The record rebuilt from an API server's configuration file (`state import`): its keys in the file's
    /// order. Two keys mean a rotation was under way; key names carry the time they were made, so the later
    /// one is the rotation's new key, and the step is `reader` while the old key still writes, `writer`
    /// otherwise (the rewrite has to be done again, which is harmless).
    public static func imported(from text: String, now: Date) throws -> SecretsEncryption {
        var keys: [Key] = []
        var name: String?
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.hasPrefix("- name:") { name = String(line.dropFirst("- name:".count)).trimmingCharacters(in: .whitespaces) }
            if line.hasPrefix("secret:"), let current = name {
                keys.append(Key(name: current, secret: String(line.dropFirst("secret:".count)).trimmingCharacters(in: .whitespaces), created: now))
                name = nil
            }
        }
        switch keys.count {
        case 1:
            return SecretsEncryption(keys: keys, rotation: nil)
        case 2:
            let (old, new) = keys[0].name < keys[1].name ? (keys[0], keys[1]) : (keys[1], keys[0])
            return SecretsEncryption(keys: keys, rotation: Rotation(from: old.name, to: new.name, step: keys[0].name == old.name ? .reader : .writer, startedAt: now))
        default:
            throw WorkflowError.unexpectedAnswer("\(hostPath) holds \(keys.count) secretbox key(s); Capstan writes one, or two during a rotation")
        }
    }

    /// The recorded keys; nil before the PKI phase first made them.
    public static func load(_ state: StateDirectory) throws -> SecretsEncryption? {
        let data: Data?
        do { data = try state.read(path) } catch {
            throw WorkflowError.stateFile("cannot read \(state.path(path)): \(error); check the state directory's permissions", cause: error)
        }
        guard let data else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do { return try decoder.decode(SecretsEncryption.self, from: data) } catch {
            throw WorkflowError.stateFile("cannot read the Secrets encryption keys \(state.path(path)): \(error); restore the file from a backup of the state directory (without it the API servers cannot read the Secrets in etcd)", cause: error)
        }
    }

    /// The record's bytes as the state keeps them.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }

    /// Records the keys atomically (0600).
    public func save(in state: StateDirectory) throws {
        do {
            _ = try state.write(try encoded(), to: Self.path, mode: 0o600)
        } catch {
            throw WorkflowError.stateFile("cannot write \(state.path(Self.path)): \(error); check the state directory's permissions and free space", cause: error)
        }
    }
}
