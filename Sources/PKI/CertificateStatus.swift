import Foundation
import Inventory
import X509

/// One line of `capstan certs list`: a certificate found in the state directory.
public struct CertificateStatus: Sendable, Equatable, Codable {
    public enum Severity: String, Sendable, Codable { case ok, warning, error }

    public var name: String
    public var host: String?
    public var commonName: String
    public var issuer: String
    public var sans: [SubjectAltName]
    public var notAfter: Date
    public var daysLeft: Int
    public var severity: Severity
    public var path: String
}

extension PKIManager {
    /// Certificates at or under this many days left are warned about.
    public static let warningDays = 30

    /// Every CA and leaf certificate in the state directory, soonest expiry first. Missing files are skipped.
    public func list(now: Date) throws -> [CertificateStatus] {
        var rows: [CertificateStatus] = []
        func add(name: String, host: String?, path: String) throws {
            guard let pem = try readText(path), let cert = try? Certificate.parseBundle(pem).first,
                  let facts = try? CertificateFacts(cert) else { return }
            let seconds = facts.notAfter.timeIntervalSince(now)
            let days = Int((seconds / 86_400).rounded(.down))
            let severity: CertificateStatus.Severity = seconds <= 0 ? .error : (seconds <= Double(Self.warningDays * 86_400) ? .warning : .ok)
            rows.append(CertificateStatus(name: name, host: host, commonName: facts.commonName, issuer: facts.issuerCommonName,
                                          sans: facts.sans, notAfter: facts.notAfter, daysLeft: days, severity: severity, path: path))
        }
        for ca in AuthorityName.allCases { try add(name: ca.rawValue, host: nil, path: Self.statePath(ca) + ".crt") }
        for req in try CertificateCatalog.required(for: inventory) { try add(name: req.name, host: req.host, path: req.certPath) }
        return rows.sorted { ($0.notAfter, $0.name, $0.host ?? "") < ($1.notAfter, $1.name, $1.host ?? "") }
    }
}
