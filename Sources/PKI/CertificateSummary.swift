import Crypto
import Foundation
import SwiftASN1
import X509

/// What `capstan certs check` shows about a certificate read from a host or the state: the fields an
/// operator compares by eye, and a SHA-256 fingerprint over the DER to compare exactly.
public struct CertificateSummary: Sendable, Equatable, Codable {
    public var commonName: String
    public var issuer: String
    public var sans: [String]
    public var notBefore: Date
    public var notAfter: Date
    /// Lowercase hex without separators, as etcd logs and `openssl x509 -serial` (case aside) print it.
    public var serial: String
    /// Uppercase hex pairs joined by `:`, as `openssl x509 -fingerprint -sha256` prints it.
    public var sha256: String

    public init(_ certificate: Certificate) throws {
        let facts = try CertificateFacts(certificate)
        commonName = facts.commonName
        issuer = facts.issuerCommonName
        sans = facts.sans.map(\.description)
        notBefore = facts.notBefore
        notAfter = facts.notAfter
        // As an integer, like openssl: no leading zero bytes (DER adds one when the top bit is set).
        let bytes = Array(certificate.serialNumber.bytes.drop { $0 == 0 })
        serial = bytes.isEmpty ? "00" : bytes.map { String(format: "%02x", $0) }.joined()
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        sha256 = SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02X", $0) }.joined(separator: ":")
    }

    /// The first certificate of a PEM text (a bundle's leaf or signing CA).
    public init(pem: String) throws {
        guard let first = try Certificate.parseBundle(pem).first else {
            throw PKIError("no certificate found", reason: "no CERTIFICATE block in the PEM text", hint: "check that the file holds a PEM certificate")
        }
        try self.init(first)
    }

    /// Every certificate of a PEM bundle, in file order.
    public static func bundle(pem: String) throws -> [CertificateSummary] {
        try Certificate.parseBundle(pem).map { try CertificateSummary($0) }
    }

    /// The client certificate embedded in a kubeconfig (`client-certificate-data`), nil when there is none.
    public static func kubeconfigClient(_ text: String) throws -> CertificateSummary? {
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("client-certificate-data:") else { continue }
            let value = trimmed.dropFirst("client-certificate-data:".count).trimmingCharacters(in: .whitespaces)
            guard let data = Data(base64Encoded: value) else {
                throw PKIError("cannot decode client-certificate-data", reason: "not base64", hint: "re-issue the kubeconfig (capstan certs renew NAME)")
            }
            return try CertificateSummary(pem: String(decoding: data, as: UTF8.self))
        }
        return nil
    }

    /// Whole days left at `now` (negative once expired).
    public func daysLeft(at now: Date) -> Int { Int((notAfter.timeIntervalSince(now) / 86_400).rounded(.down)) }

    /// `error` when expired, `warning` within `PKIManager.warningDays`, else `ok`.
    public func severity(at now: Date) -> CertificateStatus.Severity {
        let seconds = notAfter.timeIntervalSince(now)
        if seconds <= 0 { return .error }
        return seconds <= Double(PKIManager.warningDays * 86_400) ? .warning : .ok
    }
}
