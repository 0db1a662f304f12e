import Crypto
import _CryptoExtras
import Foundation
import Inventory
import SwiftASN1
import X509

/// A private key in one of the algorithms an inventory can choose, written as kubeadm writes keys:
/// SEC1 `EC PRIVATE KEY` for ECDSA and PKCS#1 `RSA PRIVATE KEY` for RSA.
public enum KeyPair: Sendable {
    case p256(P256.Signing.PrivateKey)
    case rsa(_RSA.Signing.PrivateKey)

    public static func generate(_ algorithm: KeyAlgorithm) throws -> KeyPair {
        switch algorithm {
        case .ecdsaP256: return .p256(P256.Signing.PrivateKey())
        case .rsa2048: return .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        case .rsa3072: return .rsa(try _RSA.Signing.PrivateKey(keySize: .bits3072))
        case .rsa4096: return .rsa(try _RSA.Signing.PrivateKey(keySize: .bits4096))
        }
    }

    /// Generates `count` keys spread over the cooperative thread pool (one thread per core): RSA key
    /// generation dominates the cost of a full PKI.
    public static func generate(_ algorithm: KeyAlgorithm, count: Int) async throws -> [KeyPair] {
        try await withThrowingTaskGroup(of: (Int, KeyPair).self) { group in
            for i in 0..<count { group.addTask { (i, try generate(algorithm)) } }
            var keys = [KeyPair?](repeating: nil, count: count)
            for try await (i, key) in group { keys[i] = key }
            return keys.compactMap { $0 }
        }
    }

    /// Reads a PEM private key (SEC1, PKCS#1 or PKCS#8).
    public init(pem: String) throws {
        let key = try Certificate.PrivateKey(pemEncoded: pem)
        if let rsa = try? _RSA.Signing.PrivateKey(pemRepresentation: pem) {
            self = .rsa(rsa)
        } else if let ec = try? P256.Signing.PrivateKey(pemRepresentation: pem) {
            self = .p256(ec)
        } else {
            throw PKIError("unsupported private key type", reason: "\(key.publicKey)", hint: "use an ECDSA P-256 or RSA key")
        }
    }

    public var algorithm: KeyAlgorithm {
        switch self {
        case .p256: return .ecdsaP256
        case .rsa(let key):
            switch key.keySizeInBits {
            case ...2048: return .rsa2048
            case ...3072: return .rsa3072
            default: return .rsa4096
            }
        }
    }

    public var certificateKey: Certificate.PrivateKey {
        switch self {
        case .p256(let key): return Certificate.PrivateKey(key)
        case .rsa(let key): return Certificate.PrivateKey(key)
        }
    }

    public var publicKey: Certificate.PublicKey { certificateKey.publicKey }

    /// The algorithm this key signs certificates with (SHA-256 in both cases, as kubeadm).
    public var signatureAlgorithm: Certificate.SignatureAlgorithm {
        switch self {
        case .p256: return .ecdsaWithSHA256
        case .rsa: return .sha256WithRSAEncryption
        }
    }

    /// `-----BEGIN EC PRIVATE KEY-----` (SEC1, RFC 5915) or `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1).
    public func pem() throws -> String {
        switch self {
        case .rsa(let key):
            return PEMDocument(type: "RSA PRIVATE KEY", derBytes: Array(key.derRepresentation)).pemString + "\n"
        case .p256(let key):
            var serializer = DER.Serializer()
            let curve: ASN1ObjectIdentifier = [1, 2, 840, 10045, 3, 1, 7]
            try serializer.appendConstructedNode(identifier: .sequence) { coder in
                try coder.serialize(1)
                try coder.serialize(ASN1OctetString(contentBytes: ArraySlice(key.rawRepresentation)))
                try coder.serialize(curve, explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific)
                try coder.serialize(ASN1BitString(bytes: ArraySlice(key.publicKey.x963Representation)),
                                    explicitlyTaggedWithTagNumber: 1, tagClass: .contextSpecific)
            }
            return PEMDocument(type: "EC PRIVATE KEY", derBytes: serializer.serializedBytes).pemString + "\n"
        }
    }

    /// `-----BEGIN PUBLIC KEY-----` (PKIX), as kubeadm writes `sa.pub`.
    public func publicKeyPEM() -> String {
        switch self {
        case .p256(let key): return key.publicKey.pemRepresentation + "\n"
        case .rsa(let key): return key.publicKey.pemRepresentation + "\n"
        }
    }
}
