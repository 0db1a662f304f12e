import Foundation
import Inventory
import PKI
import TestSupport
import Testing

/// A fixed clock for every test: 2026-01-01T00:00:00Z.
let fixedNow = Date(timeIntervalSince1970: 1_767_225_600)

enum Fixture {
    static func host(_ name: String, _ ip: String, _ roles: Set<Role>, internal clusterIP: String? = nil) -> HostSpec {
        HostSpec(name: name, address: ip, internalAddress: clusterIP, roles: roles)
    }

    /// `controlPlanes` stacked control-plane+etcd hosts (10.0.0.1…), `workers` workers (10.0.1.1…).
    static func inventory(controlPlanes: Int = 3, workers: Int = 2, algorithm: KeyAlgorithm = .ecdsaP256,
                          endpoint: String? = "api.example.test:6443", dir: URL, externalCA: ExternalCA? = nil) -> Inventory {
        var hosts: [HostSpec] = []
        for i in 1...max(controlPlanes, 1) where controlPlanes > 0 {
            hosts.append(host("cp\(i)", "10.0.0.\(i)", [.controlPlane, .etcd], internal: "192.168.0.\(i)"))
        }
        for i in 0..<workers { hosts.append(host("w\(i + 1)", "10.0.\(1 + i / 250).\(1 + i % 250)", [.worker])) }
        return Inventory(
            name: "test", kubernetesVersion: SemanticVersion(1, 31, 4),
            controlPlane: ControlPlaneSpec(endpoint: endpoint, extraSANs: ["extra.example.test", "10.9.9.9"]),
            pki: PKISpec(keyAlgorithm: algorithm, externalCA: externalCA),
            hosts: hosts, sourcePath: dir.appendingPathComponent("inventory.yaml").path
        )
    }

    static func tempDir() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Runs a verifier executable (openssl, kubectl) found on PATH.
@discardableResult
func run(_ args: [String], cwd: URL? = nil) throws -> ProgramRun {
    try runProgram(args, in: cwd?.path)
}

/// Every regular file under `root` with its bytes and modification time.
func snapshot(_ root: String) throws -> [String: (Data, Date)] {
    var out: [String: (Data, Date)] = [:]
    guard let e = FileManager.default.enumerator(atPath: root) else { return out }
    for case let rel as String in e {
        let full = root + "/" + rel
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue else { continue }
        let attrs = try FileManager.default.attributesOfItem(atPath: full)
        out[rel] = (try Data(contentsOf: URL(fileURLWithPath: full)), attrs[.modificationDate] as? Date ?? .distantPast)
    }
    return out
}

/// What openssl (not Capstan's parser) says about a certificate.
struct OpenSSLFacts {
    var subject: String
    var issuer: String
    var sans: Set<String>
    var keyUsage: Set<String>
    var extendedKeyUsage: Set<String>
    var isCA: Bool
    var notBefore: String
    var notAfter: String

    init(certPath: String) throws {
        let r = try run(["openssl", "x509", "-in", certPath, "-noout", "-nameopt", "RFC2253", "-subject", "-issuer", "-startdate", "-enddate",
                         "-ext", "subjectAltName,keyUsage,extendedKeyUsage,basicConstraints"])
        guard r.status == 0 else { throw PKIError("openssl x509 failed", subject: certPath, reason: r.stderr, hint: "") }
        subject = ""; issuer = ""; notBefore = ""; notAfter = ""
        sans = []; keyUsage = []; extendedKeyUsage = []; isCA = false
        var section = ""
        for raw in r.stdout.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("subject=") { subject = String(line.dropFirst(8)); continue }
            if line.hasPrefix("issuer=") { issuer = String(line.dropFirst(7)); continue }
            if line.hasPrefix("notBefore=") { notBefore = String(line.dropFirst(10)); continue }
            if line.hasPrefix("notAfter=") { notAfter = String(line.dropFirst(9)); continue }
            if line.hasPrefix("X509v3 ") { section = line; continue }
            let items = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if section.contains("Subject Alternative Name") {
                sans.formUnion(items.map { $0.replacingOccurrences(of: "DNS:", with: "").replacingOccurrences(of: "IP Address:", with: "") })
            } else if section.contains("Extended Key Usage") {
                extendedKeyUsage.formUnion(items)
            } else if section.contains("Key Usage") {
                keyUsage.formUnion(items)
            } else if section.contains("Basic Constraints") {
                isCA = items.contains("CA:TRUE")
            }
        }
    }
}
