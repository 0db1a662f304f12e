import Foundation
import Inventory
import X509

/// Why a leaf is (re-)issued; `plan` prints these.
public enum IssueReason: Sendable, Equatable, CustomStringConvertible {
    case missing
    case keyMissing
    case keyMismatch
    case keyAlgorithmChanged(from: KeyAlgorithm, to: KeyAlgorithm)
    case subjectChanged(from: String, to: String)
    case sansChanged(added: [SubjectAltName], removed: [SubjectAltName])
    case usageChanged
    /// Not signed by the current CA (the CA was replaced, or the file was swapped).
    case issuerChanged
    case expired(notAfter: Date)
    case expiresSoon(notAfter: Date)
    /// Asked for by `capstan certs renew`.
    case requested

    public var description: String {
        switch self {
        case .missing: return "certificate missing"
        case .keyMissing: return "private key missing"
        case .keyMismatch: return "certificate does not match its private key"
        case .keyAlgorithmChanged(let from, let to): return "key algorithm changed from \(from.rawValue) to \(to.rawValue)"
        case .subjectChanged(let from, let to): return "subject changed from \"\(from)\" to \"\(to)\""
        case .sansChanged(let added, let removed):
            var parts: [String] = []
            if !added.isEmpty { parts.append("added " + added.map(\.description).joined(separator: ", ")) }
            if !removed.isEmpty { parts.append("removed " + removed.map(\.description).joined(separator: ", ")) }
            return "SANs changed: " + parts.joined(separator: "; ")
        case .usageChanged: return "key usages or extended key usages differ from the catalog"
        case .issuerChanged: return "not signed by the current CA"
        case .expired(let date): return "expired on \(PKIFormat.date(date))"
        case .expiresSoon(let date): return "expires on \(PKIFormat.date(date))"
        case .requested: return "renewal requested"
        }
    }
}

/// A leaf that must be (re-)issued, and why.
public struct Reissue: Sendable, Equatable {
    public var certificate: RequiredCertificate
    public var reasons: [IssueReason]

    public init(certificate: RequiredCertificate, reasons: [IssueReason]) {
        self.certificate = certificate
        self.reasons = reasons
    }
}

/// A leaf as found in the state directory.
public struct ExistingCertificate: Sendable {
    /// The first certificate of the `.crt` bundle; nil when the file is missing.
    public var certificate: Certificate?
    /// The public key of the `.key` file; nil when missing.
    public var keyPublicKey: Certificate.PublicKey?
    public var keyAlgorithm: KeyAlgorithm?

    public init(certificate: Certificate?, keyPublicKey: Certificate.PublicKey?, keyAlgorithm: KeyAlgorithm?) {
        self.certificate = certificate
        self.keyPublicKey = keyPublicKey
        self.keyAlgorithm = keyAlgorithm
    }
}

enum PKIFormat {
    static func date(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }
}

extension PKIManager {
    /// Which leaves must be (re-)issued and why: a pure function of what the inventory requires, what
    /// the state holds, the current CAs and the clock. An empty list means the PKI is up to date.
    ///
    /// `algorithm`: the inventory's key algorithm; a key of another algorithm is replaced (nil: keep keys).
    public static func reissues(required: [RequiredCertificate], existing: [String: ExistingCertificate],
                                authorities: [AuthorityName: Certificate], algorithm: KeyAlgorithm?,
                                now: Date, renewBefore: TimeSpan) -> [Reissue] {
        required.compactMap { req in
            let reasons = reasons(for: req, existing: existing[req.id], authority: req.signer.flatMap { authorities[$0] },
                                  algorithm: algorithm, now: now, renewBefore: renewBefore)
            return reasons.isEmpty ? nil : Reissue(certificate: req, reasons: reasons)
        }
    }

    static func reasons(for req: RequiredCertificate, existing: ExistingCertificate?, authority: Certificate?,
                        algorithm: KeyAlgorithm?, now: Date, renewBefore: TimeSpan) -> [IssueReason] {
        guard let cert = existing?.certificate else { return [.missing] }
        guard let facts = try? CertificateFacts(cert) else { return [.missing] }
        var reasons: [IssueReason] = []
        if let keyPublic = existing?.keyPublicKey {
            if keyPublic != cert.publicKey { reasons.append(.keyMismatch) }
            if let algorithm, let have = existing?.keyAlgorithm, have != algorithm {
                reasons.append(.keyAlgorithmChanged(from: have, to: algorithm))
            }
        } else {
            reasons.append(.keyMissing)
        }
        let want = subjectText(cn: req.commonName, orgs: req.organizations)
        let have = subjectText(cn: facts.commonName, orgs: facts.organizations)
        if want != have { reasons.append(.subjectChanged(from: have, to: want)) }
        let wantSANs = Set(req.sans), haveSANs = Set(facts.sans)
        if wantSANs != haveSANs {
            reasons.append(.sansChanged(added: wantSANs.subtracting(haveSANs).sorted(), removed: haveSANs.subtracting(wantSANs).sorted()))
        }
        if facts.keyUsages != Set(req.spec.keyUsages) || facts.extendedKeyUsages != Set(req.spec.extendedKeyUsages) || facts.isCA {
            reasons.append(.usageChanged)
        }
        if let authority {
            if cert.issuer != authority.subject || !authority.publicKey.isValidSignature(cert.signature, for: cert) {
                reasons.append(.issuerChanged)
            }
        }
        if facts.notAfter <= now {
            reasons.append(.expired(notAfter: facts.notAfter))
        } else if facts.notAfter.timeIntervalSince(now) < TimeInterval(renewBefore.seconds) {
            reasons.append(.expiresSoon(notAfter: facts.notAfter))
        }
        return reasons
    }

    static func subjectText(cn: String, orgs: [String]) -> String {
        (orgs.sorted().map { "O=\($0)" } + ["CN=\(cn)"]).joined(separator: ", ")
    }
}

extension Reissue {
    /// One line for plans and action lists: what is issued and why.
    public var summary: String {
        "issue \(certificate.id) (\(reasons.map(\.description).joined(separator: "; ")))"
    }
}
