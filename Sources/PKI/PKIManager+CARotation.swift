import Foundation
import Inventory
import X509

/// A CA rotation in progress, recorded in `<state>/rotation.json` so an interrupted run continues where
/// it stopped. Phases, in order:
/// - `trust`: a new CA exists beside the old one; hosts receive a trust bundle (signing CA first, then
///   the other) and restart one at a time. Leaves are still the old CA's.
/// - `leaves`: the new CA signs; every leaf it owns is re-issued and rolled out host by host. The bundle
///   still trusts the old CA, so clients holding old certificates keep working.
/// - `untrust`: the old CA leaves the bundle; hosts restart one at a time; old certificates stop working.
public struct CARotationRecord: Sendable, Equatable, Codable {
    public enum Phase: String, Sendable, Codable, CaseIterable, Comparable {
        case trust, leaves, untrust
        public static func < (a: Phase, b: Phase) -> Bool {
            allCases.firstIndex(of: a) ?? 0 < allCases.firstIndex(of: b) ?? 0
        }
    }

    public var authority: AuthorityName
    public var phase: Phase
    public var startedAt: Date
    /// SHA-256 fingerprints of the CA certificates, for the report and to detect a swapped state.
    public var oldFingerprint: String
    public var newFingerprint: String
    /// Hosts whose files are pushed and whose services restarted healthy in the current phase.
    public var doneHosts: [String]

    public init(authority: AuthorityName, phase: Phase, startedAt: Date, oldFingerprint: String, newFingerprint: String, doneHosts: [String] = []) {
        self.authority = authority
        self.phase = phase
        self.startedAt = startedAt
        self.oldFingerprint = oldFingerprint
        self.newFingerprint = newFingerprint
        self.doneHosts = doneHosts
    }
}

extension PKIManager {
    public static let rotationRecordPath = "rotation.json"

    /// `pki/etcd/ca-next` (the new CA until it signs) and `pki/etcd/ca-previous` (the old CA kept while
    /// its certificates are still trusted).
    static func nextPath(_ name: AuthorityName) -> String { statePath(name) + "-next" }
    static func previousPath(_ name: AuthorityName) -> String { statePath(name) + "-previous" }

    public func loadRotation() throws -> CARotationRecord? {
        guard let data = try state.read(Self.rotationRecordPath) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do { return try decoder.decode(CARotationRecord.self, from: data) } catch {
            throw PKIError("cannot read the CA rotation record", subject: state.path(Self.rotationRecordPath), reason: "\(error)",
                           hint: "restore it from a backup, or remove it only if no rotation is in progress")
        }
    }

    static func encode(_ record: CARotationRecord) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(record)
    }

    /// Records progress (the hosts done in the current phase), atomically.
    public func saveRotation(_ record: CARotationRecord) throws {
        try state.write(try Self.encode(record), to: Self.rotationRecordPath, mode: 0o600)
    }

    func requireRotatable(_ name: AuthorityName) throws -> Authority {
        if name == .cluster, inventory.pki.externalCA != nil {
            throw PKIError("cannot rotate the cluster CA", subject: name.rawValue, reason: "it is the external CA named in pki.externalCA",
                           hint: "rotate it with its owner, then point pki.externalCA at the new files")
        }
        guard let authority = try loadAuthority(name), authority.key != nil else {
            throw PKIError("cannot rotate CA \(name.rawValue)", subject: state.path(Self.statePath(name) + ".crt"), reason: "the CA does not exist in the state yet",
                           hint: "run capstan apply first")
        }
        return authority
    }

    /// Phase `trust`: creates the new CA (or reuses one an interrupted run created), keeps the old one
    /// as `-previous`, writes the bundle old + new as the CA certificate hosts receive, and records the
    /// rotation — the record last, so a crash before it leaves no half-started rotation.
    public func beginCARotation(_ name: AuthorityName, now: Date) throws -> CARotationRecord {
        if let existing = try loadRotation() { return existing }
        let old = try requireRotatable(name)
        guard let oldKey = old.key else { throw PKIError("CA key missing", subject: name.rawValue, reason: "no key", hint: "restore it from a backup") }
        let next: (cert: Certificate, key: KeyPair)
        if let certPEM = try readText(Self.nextPath(name) + ".crt"), let keyPEM = try readText(Self.nextPath(name) + ".key"),
           let cert = try Certificate.parseBundle(certPEM).first, let key = try? KeyPair(pem: keyPEM), key.publicKey == cert.publicKey,
           cert.publicKey != old.certificate.publicKey {
            next = (cert, key)
        } else {
            let key = try KeyPair.generate(inventory.pki.keyAlgorithm)
            let cn = CertificateCatalog.spec(named: name.rawValue)?.commonName ?? name.rawValue
            next = (try CertificateFactory.makeAuthority(commonName: cn, key: key, now: now, validity: inventory.pki.caValidity), key)
        }
        let record = CARotationRecord(authority: name, phase: .trust, startedAt: now,
                                      oldFingerprint: try CertificateSummary(old.certificate).sha256,
                                      newFingerprint: try CertificateSummary(next.cert).sha256)
        var tx = StateDirectory.Transaction(state)
        try tx.write(Data(try next.key.pem().utf8), to: Self.nextPath(name) + ".key", mode: 0o600)
        try tx.write(Data(try next.cert.pem().utf8), to: Self.nextPath(name) + ".crt", mode: 0o644)
        try tx.write(Data(try oldKey.pem().utf8), to: Self.previousPath(name) + ".key", mode: 0o600)
        try tx.write(Data(try old.certificate.pem().utf8), to: Self.previousPath(name) + ".crt", mode: 0o644)
        try tx.write(Data((try old.certificate.pem() + next.cert.pem()).utf8), to: Self.statePath(name) + ".crt", mode: 0o644)
        try tx.write(try Self.encode(record), to: Self.rotationRecordPath, mode: 0o600)
        try tx.commit()
        return record
    }

    func rotationPair(_ name: AuthorityName, _ which: String) throws -> (cert: Certificate, key: KeyPair) {
        let base = which == "next" ? Self.nextPath(name) : Self.previousPath(name)
        guard let certPEM = try readText(base + ".crt"), let cert = try Certificate.parseBundle(certPEM).first,
              let keyPEM = try readText(base + ".key") else {
            throw PKIError("CA rotation files missing", subject: state.path(base + ".crt"), reason: "the rotation record says a rotation is in progress",
                           hint: "restore \(base).crt/.key from a backup of the state directory")
        }
        return (cert, try KeyPair(pem: keyPEM))
    }

    /// Phase `leaves`: the new CA signs (bundle new + old), then every leaf not signed by it is re-issued.
    /// Safe to repeat: leaves already signed by the new CA are kept.
    public func promoteNextCA(_ record: CARotationRecord, now: Date) async throws -> (CARotationRecord, PKIResult) {
        let name = record.authority
        let next = try rotationPair(name, "next")
        let previous = try rotationPair(name, "previous")
        var updated = record
        if record.phase < .leaves {
            updated.phase = .leaves
            updated.doneHosts = []
        }
        var tx = StateDirectory.Transaction(state)
        try tx.write(Data(try next.key.pem().utf8), to: Self.statePath(name) + ".key", mode: 0o600)
        try tx.write(Data((try next.cert.pem() + previous.cert.pem()).utf8), to: Self.statePath(name) + ".crt", mode: 0o644)
        try tx.write(try Self.encode(updated), to: Self.rotationRecordPath, mode: 0o600)
        try tx.commit()
        let result = try await apply(now: now)
        return (updated, result)
    }

    /// Phase `untrust`: the bundle holds the new CA only.
    public func dropPreviousCA(_ record: CARotationRecord) throws -> CARotationRecord {
        let name = record.authority
        let next = try rotationPair(name, "next")
        var updated = record
        if record.phase < .untrust {
            updated.phase = .untrust
            updated.doneHosts = []
        }
        var tx = StateDirectory.Transaction(state)
        try tx.write(Data(try next.cert.pem().utf8), to: Self.statePath(name) + ".crt", mode: 0o644)
        try tx.write(try Self.encode(updated), to: Self.rotationRecordPath, mode: 0o600)
        try tx.commit()
        return updated
    }

    /// The rotation is over: the record goes first (a crash after it leaves only stale staging files,
    /// which the next rotation ignores), then the old CA's key and the staging files.
    public func finishCARotation(_ record: CARotationRecord) throws {
        let name = record.authority
        try state.remove(Self.rotationRecordPath)
        for path in [Self.previousPath(name) + ".key", Self.previousPath(name) + ".crt", Self.nextPath(name) + ".key", Self.nextPath(name) + ".crt"] {
            try state.remove(path)
        }
    }
}
