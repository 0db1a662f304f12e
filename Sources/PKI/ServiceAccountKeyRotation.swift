import Foundation

/// The service-account key rotation's state files, beside `pki/sa.key` and `pki/sa.pub`:
///
/// - `pki/sa-next.key` (0600): the next signing key while the API servers learn to verify with it;
/// - `pki/sa-retired.pub`: the previous signing key's public half while tokens it signed may still be in use;
/// - `pki/sa-rotation.json`: the step and its times.
///
/// `pki/sa.pub`, which every API server verifies tokens with (`--service-account-key-file` takes several
/// keys in one file), is always the signing key's public key followed by those two when present, so
/// `apply` in the middle of a rotation keeps the rotation's bundle.
public struct ServiceAccountRotation: Sendable, Equatable, Codable {
    public static let recordPath = "pki/sa-rotation.json"
    public static let nextKeyPath = "pki/sa-next.key"
    public static let retiredPath = "pki/sa-retired.pub"

    public enum Step: String, Sendable, Codable {
        /// Both keys verify; the old one signs.
        case verify
        /// The new key signs; the old one still verifies tokens it signed until they are renewed.
        case sign
    }

    public var step: Step
    public var startedAt: Date
    /// When the new key began signing (step `sign`).
    public var signingSince: Date?

    /// The public keys of `bundle` (an `sa.pub` read from a host) other than `signingKey`'s, nil when none.
    public static func extraVerificationKeys(bundle: String, signingKey: String) throws -> String? {
        let own = try KeyPair(pem: signingKey).publicKeyPEM()
        let blocks = bundle.components(separatedBy: "-----END PUBLIC KEY-----").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }.map { $0 + "\n-----END PUBLIC KEY-----\n" }
        let extra = blocks.filter { $0 != own }
        return extra.isEmpty ? nil : extra.joined()
    }

    public init(step: Step, startedAt: Date, signingSince: Date? = nil) {
        self.step = step
        self.startedAt = startedAt
        self.signingSince = signingSince
    }
}

extension PKIManager {
    /// The rotation in progress, nil when none.
    public func loadServiceAccountRotation() throws -> ServiceAccountRotation? {
        guard let data = try state.read(ServiceAccountRotation.recordPath) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do { return try decoder.decode(ServiceAccountRotation.self, from: data) } catch {
            throw PKIError("cannot read the service-account key rotation record", subject: state.path(ServiceAccountRotation.recordPath),
                           reason: "\(error)", hint: "restore it from a backup of the state directory")
        }
    }

    /// `pki/sa.pub` for `signing`: its public key, then the next key's and the retired one's when present.
    func serviceAccountVerificationPEM(signing: KeyPair) throws -> String {
        var pem = signing.publicKeyPEM()
        if let next = try readText(ServiceAccountRotation.nextKeyPath) {
            do { pem += try KeyPair(pem: next).publicKeyPEM() } catch {
                throw PKIError("cannot parse the next service-account key", subject: state.path(ServiceAccountRotation.nextKeyPath),
                               reason: "\(error)", hint: "remove it and \(ServiceAccountRotation.recordPath) to start the rotation again")
            }
        }
        if let retired = try readText(ServiceAccountRotation.retiredPath) { pem += retired }
        return pem
    }

    /// Step 1: a new key pair that verifies but does not sign yet. Returns the state paths written.
    public func beginServiceAccountRotation(now: Date) throws -> [String] {
        guard let current = try loadServiceAccountKey() else {
            throw PKIError("no service-account key to rotate", subject: state.path("pki/sa.key"), reason: "the state has none",
                           hint: "run `capstan apply` first")
        }
        let next = try KeyPair.generate(current.algorithm)
        var tx = StateDirectory.Transaction(state)
        _ = try tx.write(Data(try next.pem().utf8), to: ServiceAccountRotation.nextKeyPath, mode: 0o600)
        _ = try tx.write(Data((current.publicKeyPEM() + next.publicKeyPEM()).utf8), to: "pki/sa.pub", mode: 0o644)
        _ = try tx.write(try Self.encode(ServiceAccountRotation(step: .verify, startedAt: now)), to: ServiceAccountRotation.recordPath, mode: 0o600)
        try tx.commit()
        return tx.paths
    }

    /// Step 2: the next key signs; the old one's public half stays in the bundle. The retired key is written
    /// first (the transaction renames in staging order), so a crash part-way leaves it on disk, and running
    /// again takes it from there once `sa.key` is already the new key.
    public func signWithNextServiceAccountKey(now: Date) throws -> [String] {
        guard var record = try loadServiceAccountRotation(), record.step == .verify,
              let current = try loadServiceAccountKey(), let nextPEM = try readText(ServiceAccountRotation.nextKeyPath) else {
            throw PKIError("the service-account key rotation is not at its verify step", subject: state.path(ServiceAccountRotation.recordPath),
                           reason: "the record or the next key is missing", hint: "run `capstan certs rotate-sa-key` again")
        }
        let next = try KeyPair(pem: nextPEM)
        let alreadySigning = current.publicKeyPEM() == next.publicKeyPEM()
        guard let retired = alreadySigning ? try readText(ServiceAccountRotation.retiredPath) : current.publicKeyPEM() else {
            throw PKIError("the previous service-account key is lost", subject: state.path(ServiceAccountRotation.retiredPath),
                           reason: "sa.key is already the next key and the retired public key is missing",
                           hint: "restore the state directory from a backup")
        }
        record.step = .sign
        record.signingSince = now
        var tx = StateDirectory.Transaction(state)
        _ = try tx.write(Data(retired.utf8), to: ServiceAccountRotation.retiredPath, mode: 0o644)
        _ = try tx.write(Data(nextPEM.utf8), to: "pki/sa.key", mode: 0o600)
        _ = try tx.write(Data((next.publicKeyPEM() + retired).utf8), to: "pki/sa.pub", mode: 0o644)
        _ = try tx.write(try Self.encode(record), to: ServiceAccountRotation.recordPath, mode: 0o600)
        try tx.commit()
        _ = try state.remove(ServiceAccountRotation.nextKeyPath)
        return tx.paths + [ServiceAccountRotation.nextKeyPath]
    }

    /// Step 3: the retired key no longer verifies; the rotation is over.
    public func dropRetiredServiceAccountKey() throws -> [String] {
        guard try loadServiceAccountRotation()?.step == .sign, let signing = try loadServiceAccountKey() else {
            throw PKIError("the service-account key rotation is not at its sign step", subject: state.path(ServiceAccountRotation.recordPath),
                           reason: "the record is missing or at another step", hint: "run `capstan certs rotate-sa-key` again")
        }
        var tx = StateDirectory.Transaction(state)
        _ = try tx.write(Data(signing.publicKeyPEM().utf8), to: "pki/sa.pub", mode: 0o644)
        try tx.commit()
        _ = try state.remove(ServiceAccountRotation.retiredPath)
        _ = try state.remove(ServiceAccountRotation.recordPath)
        return tx.paths + [ServiceAccountRotation.retiredPath, ServiceAccountRotation.recordPath]
    }

    public static func encode(_ record: ServiceAccountRotation) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(record)
    }
}
