import Foundation
import Inventory
import SwiftASN1
import X509

/// Builds CA certificates, leaves and CSRs from catalog data. Time comes in as `now`.
public enum CertificateFactory {
    /// Certificates start this much before `now`, so hosts whose clocks lag slightly accept them at once.
    public static let backdate: TimeInterval = 300

    public static func subject(commonName: String, organizations: [String]) throws -> DistinguishedName {
        try DistinguishedName {
            for org in organizations { OrganizationName(org) }
            CommonName(commonName)
        }
    }

    static func keyUsage(_ bits: [KeyUsageBit]) -> KeyUsage {
        KeyUsage(digitalSignature: bits.contains(.digitalSignature), keyEncipherment: bits.contains(.keyEncipherment),
                 keyCertSign: bits.contains(.keyCertSign))
    }

    static func generalName(_ san: SubjectAltName) -> GeneralName {
        switch san {
        case .dns(let name): return .dnsName(name)
        case .ip(let bytes): return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes)))
        }
    }

    /// A self-signed CA, valid from `now` (backdated) for `validity`.
    public static func makeAuthority(commonName: String, key: KeyPair, now: Date, validity: TimeSpan) throws -> Certificate {
        let name = try subject(commonName: commonName, organizations: [])
        let extensions = try Certificate.Extensions([
            Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: nil), critical: true),
            Certificate.Extension(keyUsage(CertificateCatalog.caUsage), critical: true),
            Certificate.Extension(SubjectKeyIdentifier(hash: key.publicKey), critical: false),
        ])
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: now - backdate, notValidAfter: now + TimeInterval(validity.seconds),
            issuer: name, subject: name, signatureAlgorithm: key.signatureAlgorithm,
            extensions: extensions, issuerPrivateKey: key.certificateKey
        )
    }

    /// A leaf for `required`, signed by `issuer`; never valid beyond the issuer.
    public static func makeLeaf(_ required: RequiredCertificate, publicKey: Certificate.PublicKey, issuer: Certificate,
                                issuerKey: KeyPair, now: Date, validity: TimeSpan) throws -> Certificate {
        var list: [Certificate.Extension] = [
            try Certificate.Extension(BasicConstraints.notCertificateAuthority, critical: true),
            try Certificate.Extension(keyUsage(required.spec.keyUsages), critical: true),
            try Certificate.Extension(ExtendedKeyUsage(required.spec.extendedKeyUsages.map(ekuUsage)), critical: false),
        ]
        if let ski = try issuer.extensions.subjectKeyIdentifier {
            list.append(try Certificate.Extension(AuthorityKeyIdentifier(keyIdentifier: ski.keyIdentifier), critical: false))
        }
        if !required.sans.isEmpty {
            list.append(try Certificate.Extension(SubjectAlternativeNames(required.sans.map(generalName)), critical: false))
        }
        let notAfter = min(now + TimeInterval(validity.seconds), issuer.notValidAfter)
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now - backdate, notValidAfter: notAfter, issuer: issuer.subject,
            subject: try subject(commonName: required.commonName, organizations: required.organizations),
            signatureAlgorithm: issuerKey.signatureAlgorithm, extensions: try Certificate.Extensions(list),
            issuerPrivateKey: issuerKey.certificateKey
        )
    }

    /// A PKCS#10 request carrying the subject, SANs and usages the leaf needs, for an offline CA to sign.
    public static func makeCSR(_ required: RequiredCertificate, key: KeyPair) throws -> CertificateSigningRequest {
        var list: [Certificate.Extension] = [
            try Certificate.Extension(keyUsage(required.spec.keyUsages), critical: true),
            try Certificate.Extension(ExtendedKeyUsage(required.spec.extendedKeyUsages.map(ekuUsage)), critical: false),
        ]
        if !required.sans.isEmpty {
            list.append(try Certificate.Extension(SubjectAlternativeNames(required.sans.map(generalName)), critical: false))
        }
        let attributes = try CertificateSigningRequest.Attributes([
            .init(ExtensionRequest(extensions: try Certificate.Extensions(list))),
        ])
        return try CertificateSigningRequest(
            version: .v1, subject: try subject(commonName: required.commonName, organizations: required.organizations),
            privateKey: key.certificateKey, attributes: attributes, signatureAlgorithm: key.signatureAlgorithm
        )
    }

    static func ekuUsage(_ bit: ExtendedKeyUsageBit) -> ExtendedKeyUsage.Usage {
        switch bit {
        case .serverAuth: return .serverAuth
        case .clientAuth: return .clientAuth
        }
    }
}

/// What Capstan compares on an existing certificate, read back from its DER.
public struct CertificateFacts: Sendable, Equatable {
    public var commonName: String
    public var organizations: [String]
    public var issuerCommonName: String
    public var sans: [SubjectAltName]
    public var keyUsages: Set<KeyUsageBit>
    public var extendedKeyUsages: Set<ExtendedKeyUsageBit>
    public var notBefore: Date
    public var notAfter: Date
    public var isCA: Bool

    public init(_ certificate: Certificate) throws {
        commonName = Self.attribute(.RDNAttributeType.commonName, in: certificate.subject).first ?? ""
        organizations = Self.attribute(.RDNAttributeType.organizationName, in: certificate.subject)
        issuerCommonName = Self.attribute(.RDNAttributeType.commonName, in: certificate.issuer).first ?? ""
        let ext = certificate.extensions
        sans = (try ext.subjectAlternativeNames ?? SubjectAlternativeNames()).compactMap { name -> SubjectAltName? in
            switch name {
            case .dnsName(let dns): return .dns(dns.lowercased())
            case .ipAddress(let octets): return .ip(Array(octets.bytes))
            default: return nil
            }
        }.sorted()
        var ku = Set<KeyUsageBit>()
        if let usage = try ext.keyUsage {
            if usage.digitalSignature { ku.insert(.digitalSignature) }
            if usage.keyEncipherment { ku.insert(.keyEncipherment) }
            if usage.keyCertSign { ku.insert(.keyCertSign) }
        }
        keyUsages = ku
        var eku = Set<ExtendedKeyUsageBit>()
        for usage in try ext.extendedKeyUsage ?? ExtendedKeyUsage() {
            if usage == .serverAuth { eku.insert(.serverAuth) }
            if usage == .clientAuth { eku.insert(.clientAuth) }
        }
        extendedKeyUsages = eku
        notBefore = certificate.notValidBefore
        notAfter = certificate.notValidAfter
        if case .isCertificateAuthority = try ext.basicConstraints { isCA = true } else { isCA = false }
    }

    static func attribute(_ oid: ASN1ObjectIdentifier, in name: DistinguishedName) -> [String] {
        name.flatMap { rdn in rdn.filter { $0.type == oid }.map { String(describing: $0.value) } }
    }
}

extension Certificate {
    /// Parses every certificate in a PEM bundle, leaf first.
    public static func parseBundle(_ pem: String) throws -> [Certificate] {
        try PEMDocument.parseMultiple(pemString: pem).filter { $0.discriminator == "CERTIFICATE" }.map { try Certificate(pemDocument: $0) }
    }

    public func pem() throws -> String { try serializeAsPEM().pemString + "\n" }

    public var isSelfSigned: Bool { issuer == subject && publicKey.isValidSignature(signature, for: self) }
}
