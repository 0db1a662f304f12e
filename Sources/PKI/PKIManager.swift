import Foundation
import Inventory
import X509

/// Which leaves `apply` re-issues even when they are up to date.
public enum RenewSelection: Sendable, Equatable {
    case none
    case all
    /// Catalog names (`apiserver`, every host) or ids (`apiserver@cp1`).
    case names([String])
}

/// A certificate authority as loaded for signing.
public struct Authority: Sendable {
    public var name: AuthorityName
    /// The certificate that signs leaves (an intermediate when the user supplies one).
    public var certificate: Certificate
    /// Nil when the CA's key stays offline: leaves of this CA are requested as CSRs.
    public var key: KeyPair?
    /// Intermediates appended to every leaf bundle this CA signs.
    public var chain: [Certificate]
}

/// What `apply` did.
public struct PKIResult: Sendable {
    public var createdAuthorities: [AuthorityName] = []
    public var issued: [Reissue] = []
    /// Leaves of an offline CA: a key and CSR are in the state directory, waiting for a signed `.crt`.
    public var needsSigning: [RequiredCertificate] = []
    /// State paths actually written (relative), in write order.
    public var written: [String] = []

    /// What was written, one line each (the actions `apply` records): CAs, the service-account key,
    /// leaves, kubeconfigs.
    public var changes: [String] {
        createdAuthorities.map { "create CA \($0.rawValue)" }
            + (written.contains("pki/sa.key") ? ["create the service-account key pair"] : [])
            + issued.map(\.summary)
            + written.filter { $0.hasSuffix(".conf") }.map { "write \($0)" }
    }
}

/// The read-only view `plan` shows.
public struct PKIPlan: Sendable {
    public var authoritiesToCreate: [AuthorityName]
    /// `pki/sa.key` does not exist yet.
    public var createsServiceAccountKey: Bool
    public var reissues: [Reissue]
    public var needsSigning: [RequiredCertificate]
    /// Kubeconfigs `apply` rewrites although their client certificate stays (file missing, server changed).
    public var kubeconfigUpdates: [KubeconfigUpdate]

    /// What `apply` would write, one line each, as `PKIResult.changes` says it once done.
    public var changes: [String] {
        authoritiesToCreate.map { "create CA \($0.rawValue)" }
            + (createsServiceAccountKey ? ["create the service-account key pair"] : [])
            + reissues.map(\.summary)
            + kubeconfigUpdates.map { "write \($0.path) (\($0.reason))" }
    }

    /// Nothing to create, re-issue, sign or rewrite.
    public var isUpToDate: Bool {
        authoritiesToCreate.isEmpty && !createsServiceAccountKey && reissues.isEmpty && needsSigning.isEmpty && kubeconfigUpdates.isEmpty
    }
}

/// Loads or creates the cluster PKI in the state directory, kubeadm-compatible.
public struct PKIManager: Sendable {
    public var inventory: Inventory
    public var state: StateDirectory

    public init(inventory: Inventory, state: StateDirectory) {
        self.inventory = inventory
        self.state = state
    }

    static func statePath(_ authority: AuthorityName) -> String { "pki/" + authority.rawValue }

    /// Beside a CA certificate (`pki/etcd/ca.key-absent`): the state knows this CA without its key, on
    /// purpose (rebuilt from the hosts, which never hold the etcd CA key). The file says why; leaves this CA
    /// would have to sign become CSRs instead of a new CA being made.
    public static let keyAbsentSuffix = ".key-absent"
    public static func keyAbsentPath(_ authority: AuthorityName) -> String { statePath(authority) + keyAbsentSuffix }

    // MARK: reading

    func readText(_ relative: String) throws -> String? {
        try state.read(relative).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The CA files, for external CAs the user's files; nil entries mean "not there yet".
    func loadAuthority(_ name: AuthorityName) throws -> Authority? {
        if name == .cluster, let external = inventory.pki.externalCA {
            let certPath = InventoryLoader.resolve(external.certFile, relativeTo: inventory.sourcePath)
            guard let data = FileManager.default.contents(atPath: certPath) else {
                throw PKIError("cannot read the external CA certificate", subject: certPath, reason: "file missing or unreadable",
                               hint: "check pki.externalCA.certFile in the inventory")
            }
            let bundle: [Certificate]
            do { bundle = try Certificate.parseBundle(String(decoding: data, as: UTF8.self)) } catch {
                throw PKIError("cannot parse the external CA certificate", subject: certPath, reason: "\(error)", hint: "give a PEM file with the CA certificate first")
            }
            guard let signing = bundle.first else {
                throw PKIError("no certificate in the external CA file", subject: certPath, reason: "no CERTIFICATE block found", hint: "give a PEM file with the CA certificate first")
            }
            guard case .isCertificateAuthority = try signing.extensions.basicConstraints else {
                throw PKIError("the external CA certificate is not a CA", subject: certPath, reason: "basicConstraints CA:TRUE is missing", hint: "give the CA or intermediate certificate, not a leaf")
            }
            var key: KeyPair?
            if let keyFile = external.keyFile {
                let keyPath = InventoryLoader.resolve(keyFile, relativeTo: inventory.sourcePath)
                guard let keyData = FileManager.default.contents(atPath: keyPath) else {
                    throw PKIError("cannot read the external CA key", subject: keyPath, reason: "file missing or unreadable", hint: "check pki.externalCA.keyFile, or remove it to sign leaves offline")
                }
                let loaded: KeyPair
                do { loaded = try KeyPair(pem: String(decoding: keyData, as: UTF8.self)) } catch {
                    throw PKIError("cannot parse the external CA key", subject: keyPath, reason: "\(error)", hint: "give an unencrypted PEM ECDSA P-256 or RSA key")
                }
                guard loaded.publicKey == signing.publicKey else {
                    throw PKIError("external CA key does not match its certificate", subject: keyPath, reason: "public keys differ", hint: "give the key of the first certificate in \(certPath)")
                }
                key = loaded
            }
            return Authority(name: name, certificate: signing, key: key, chain: bundle.filter { !$0.isSelfSigned })
        }
        let base = Self.statePath(name)
        guard let certPEM = try readText(base + ".crt") else {
            if state.exists(base + ".key") {
                throw PKIError("CA certificate missing but its key exists", subject: state.path(base + ".crt"), reason: "refusing to replace a CA key",
                               hint: "restore \(base).crt from a backup, or remove \(base).key to create a new CA (every certificate changes)")
            }
            return nil
        }
        guard let certificate = try Certificate.parseBundle(certPEM).first else {
            throw PKIError("cannot parse CA certificate", subject: state.path(base + ".crt"), reason: "no CERTIFICATE block", hint: "restore it from a backup")
        }
        guard let keyPEM = try readText(base + ".key") else {
            if state.exists(base + Self.keyAbsentSuffix) {
                // Imported from the hosts without its key (`capstan state import`): it verifies, it does not sign.
                return Authority(name: name, certificate: certificate, key: nil, chain: [])
            }
            throw PKIError("CA key missing", subject: state.path(base + ".key"), reason: "the certificate exists without its key",
                           hint: "restore \(base).key from a backup; for an offline cluster CA set pki.externalCA")
        }
        let key = try KeyPair(pem: keyPEM)
        guard key.publicKey == certificate.publicKey else {
            throw PKIError("CA key does not match its certificate", subject: state.path(base + ".key"), reason: "public keys differ", hint: "restore the matching pair from a backup")
        }
        return Authority(name: name, certificate: certificate, key: key, chain: [])
    }

    func loadExisting(_ req: RequiredCertificate) throws -> ExistingCertificate {
        let cert = try readText(req.certPath).flatMap { try? Certificate.parseBundle($0).first }
        let key = try readText(req.keyPath).flatMap { try? KeyPair(pem: $0) }
        return ExistingCertificate(certificate: cert, keyPublicKey: key?.publicKey, keyAlgorithm: key?.algorithm)
    }

    func selected(_ selection: RenewSelection, from required: [RequiredCertificate]) throws -> Set<String> {
        switch selection {
        case .none: return []
        case .all: return Set(required.map(\.id))
        case .names(let names):
            var ids = Set<String>()
            for name in names {
                let matches = required.filter { $0.name == name || $0.id == name }
                guard !matches.isEmpty else {
                    let known = Array(Set(required.map(\.name))).sorted().joined(separator: ", ")
                    throw PKIError("unknown certificate", subject: name, reason: "not in this cluster's catalog", hint: "use one of: \(known) (optionally @host)")
                }
                ids.formUnion(matches.map(\.id))
            }
            return ids
        }
    }

    /// Compares state with the inventory; writes nothing.
    public func plan(now: Date, renewBefore: TimeSpan = .days(30), renew: RenewSelection = .none) throws -> PKIPlan {
        let required = try CertificateCatalog.required(for: inventory)
        var authorities: [AuthorityName: Certificate] = [:]
        var toCreate: [AuthorityName] = []
        var offline = Set<AuthorityName>()
        for name in AuthorityName.allCases {
            if let a = try loadAuthority(name) {
                authorities[name] = a.certificate
                if a.key == nil { offline.insert(name) }
            } else { toCreate.append(name) }
        }
        var existing: [String: ExistingCertificate] = [:]
        for req in required { existing[req.id] = try loadExisting(req) }
        var reissues = Self.reissues(required: required, existing: existing, authorities: authorities,
                                     algorithm: inventory.pki.keyAlgorithm, now: now, renewBefore: renewBefore)
        Self.addRequested(try selected(renew, from: required), required: required, to: &reissues)
        let pending = reissues.filter { $0.certificate.signer.map(offline.contains) ?? false }.map(\.certificate)
        let reissued = Set(reissues.map(\.certificate.id))
        let kubeconfigs = toCreate.contains(.cluster) ? [] : try kubeconfigUpdates(required.filter { !reissued.contains($0.id) })
        return PKIPlan(authoritiesToCreate: toCreate, createsServiceAccountKey: !state.exists("pki/sa.key"),
                       reissues: reissues.filter { !pending.contains($0.certificate) }, needsSigning: pending,
                       kubeconfigUpdates: kubeconfigs)
    }

    static func addRequested(_ ids: Set<String>, required: [RequiredCertificate], to reissues: inout [Reissue]) {
        for req in required where ids.contains(req.id) {
            if let i = reissues.firstIndex(where: { $0.certificate.id == req.id }) {
                reissues[i].reasons.append(.requested)
            } else {
                reissues.append(Reissue(certificate: req, reasons: [.requested]))
            }
        }
    }

    // MARK: writing

    /// Loads or creates the CAs and the service-account key, (re-)issues every leaf that is missing,
    /// out of date or requested, and renders the kubeconfigs. A second run with the same inventory
    /// writes nothing.
    public func apply(now: Date, renewBefore: TimeSpan = .days(30), renew: RenewSelection = .none) async throws -> PKIResult {
        let required = try CertificateCatalog.required(for: inventory)
        let algorithm = inventory.pki.keyAlgorithm
        var result = PKIResult()
        // Every file of this run is staged here and made durable together at the end (see Transaction).
        var tx = StateDirectory.Transaction(state)
        try state.ensureDirectory("pki")

        // Authorities: load, or create the missing ones, and a missing service-account key, in parallel.
        var authorities: [AuthorityName: Authority] = [:]
        var missing: [AuthorityName] = []
        for name in AuthorityName.allCases {
            if let a = try loadAuthority(name) { authorities[name] = a } else { missing.append(name) }
        }
        let existingSAKey = try loadServiceAccountKey()
        let caValidity = inventory.pki.caValidity
        enum Generated: Sendable { case authority(Authority), serviceAccount(KeyPair) }
        var created: [Authority] = []
        var saKey = existingSAKey
        try await withThrowingTaskGroup(of: Generated.self) { group in
            for name in missing {
                group.addTask {
                    let key = try KeyPair.generate(algorithm)
                    let cn = CertificateCatalog.spec(named: name.rawValue)?.commonName ?? name.rawValue
                    let cert = try CertificateFactory.makeAuthority(commonName: cn, key: key, now: now, validity: caValidity)
                    return .authority(Authority(name: name, certificate: cert, key: key, chain: []))
                }
            }
            if existingSAKey == nil { group.addTask { .serviceAccount(try KeyPair.generate(algorithm)) } }
            for try await generated in group {
                switch generated {
                case .authority(let a): created.append(a)
                case .serviceAccount(let key): saKey = key
                }
            }
        }
        created.sort { $0.name.rawValue < $1.name.rawValue }
        for a in created {
            authorities[a.name] = a
            result.createdAuthorities.append(a.name)
            if let key = a.key { try stage(try key.pem(), to: Self.statePath(a.name) + ".key", mode: 0o600, in: &tx, into: &result) }
            try stage(try a.certificate.pem(), to: Self.statePath(a.name) + ".crt", mode: 0o644, in: &tx, into: &result)
        }
        if let external = inventory.pki.externalCA, let a = authorities[.cluster] {
            // The cluster CA files the hosts receive are the user's: the signing certificate and its chain.
            let path = InventoryLoader.resolve(external.certFile, relativeTo: inventory.sourcePath)
            let bundle = try Certificate.parseBundle(String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self))
            try stage(try bundle.map { try $0.pem() }.joined(), to: "pki/ca.crt", mode: 0o644, in: &tx, into: &result)
            if let key = a.key { try stage(try key.pem(), to: "pki/ca.key", mode: 0o600, in: &tx, into: &result) }
        }
        for a in authorities.values where a.key != nil && a.certificate.notValidAfter <= now {
            throw PKIError("CA expired", subject: a.name.rawValue, reason: "not valid after \(PKIFormat.date(a.certificate.notValidAfter))",
                           hint: "rotate the CA (capstan certs rotate) before issuing leaves")
        }

        if let saKey {
            if existingSAKey == nil { try stage(try saKey.pem(), to: "pki/sa.key", mode: 0o600, in: &tx, into: &result) }
            try stage(try serviceAccountVerificationPEM(signing: saKey), to: "pki/sa.pub", mode: 0o644, in: &tx, into: &result)
        }

        // Leaves.
        var existing: [String: ExistingCertificate] = [:]
        for req in required { existing[req.id] = try loadExisting(req) }
        var reissues = Self.reissues(required: required, existing: existing,
                                     authorities: authorities.mapValues(\.certificate), algorithm: algorithm,
                                     now: now, renewBefore: renewBefore)
        Self.addRequested(try selected(renew, from: required), required: required, to: &reissues)

        struct Issued: Sendable { var id: String; var keyPEM: String?; var certPEM: String?; var csrPEM: String? }
        let leafValidity = inventory.pki.leafValidity
        let jobs: [(Reissue, Authority, KeyPair?)] = try reissues.compactMap { item in
            guard let signer = item.certificate.signer, let authority = authorities[signer] else { return nil }
            // Keep a key that matches the inventory's algorithm: renewals then change only the certificate.
            var key: KeyPair?
            if let pem = try readText(item.certificate.keyPath), let k = try? KeyPair(pem: pem), k.algorithm == algorithm { key = k }
            return (item, authority, key)
        }
        var pending: [RequiredCertificate] = []
        var work: [(Reissue, Authority, KeyPair?)] = []
        for job in jobs {
            let (item, authority, key) = job
            if authority.key == nil {
                pending.append(item.certificate)
                // Keep a pending CSR that still asks for exactly this certificate, so re-runs change nothing.
                if let key, let csrPEM = try readText(item.certificate.csrPath),
                   let csr = try? CertificateSigningRequest(pemEncoded: csrPEM),
                   csr.publicKey == key.publicKey, try csrMatches(csr, item.certificate) {
                    continue
                }
            }
            work.append(job)
        }
        let issued = try await withThrowingTaskGroup(of: Issued.self) { group in
            for (item, authority, existingKey) in work {
                let req = item.certificate
                group.addTask {
                    let key = try existingKey ?? KeyPair.generate(algorithm)
                    let keyPEM = existingKey == nil ? try key.pem() : nil
                    guard let signerKey = authority.key else {
                        let csr = try CertificateFactory.makeCSR(req, key: key)
                        return Issued(id: req.id, keyPEM: keyPEM, certPEM: nil, csrPEM: try csr.serializeAsPEM().pemString + "\n")
                    }
                    let cert = try CertificateFactory.makeLeaf(req, publicKey: key.publicKey, issuer: authority.certificate,
                                                                issuerKey: signerKey, now: now, validity: leafValidity)
                    let bundle = try ([cert] + authority.chain).map { try $0.pem() }.joined()
                    return Issued(id: req.id, keyPEM: keyPEM, certPEM: bundle, csrPEM: nil)
                }
            }
            var out: [String: Issued] = [:]
            for try await i in group { out[i.id] = i }
            return out
        }
        for (item, _, _) in work {
            let req = item.certificate
            guard let i = issued[req.id] else { continue }
            if let keyPEM = i.keyPEM { try stage(keyPEM, to: req.keyPath, mode: 0o600, in: &tx, into: &result) }
            if let csrPEM = i.csrPEM { try stage(csrPEM, to: req.csrPath, mode: 0o644, in: &tx, into: &result) }
            if let certPEM = i.certPEM {
                try stage(certPEM, to: req.certPath, mode: 0o644, in: &tx, into: &result)
                result.issued.append(item)
            }
        }
        result.needsSigning = pending

        try renderKubeconfigs(required.filter { req in !pending.contains(req) }, in: &tx, into: &result)
        try tx.commit()
        return result
    }

    func csrMatches(_ csr: CertificateSigningRequest, _ req: RequiredCertificate) throws -> Bool {
        guard csr.subject == (try CertificateFactory.subject(commonName: req.commonName, organizations: req.organizations)) else { return false }
        let requested = try csr.attributes.extensionRequest?.extensions.subjectAlternativeNames
        let sans = (requested ?? SubjectAlternativeNames()).compactMap { name -> SubjectAltName? in
            switch name {
            case .dnsName(let d): return .dns(d.lowercased())
            case .ipAddress(let o): return .ip(Array(o.bytes))
            default: return nil
            }
        }
        return Set(sans) == Set(req.sans)
    }

    /// The service-account key in the state, or nil when there is none yet.
    func loadServiceAccountKey() throws -> KeyPair? {
        guard let pem = try readText("pki/sa.key") else { return nil }
        do { return try KeyPair(pem: pem) } catch {
            throw PKIError("cannot parse the service-account key", subject: state.path("pki/sa.key"), reason: "\(error)",
                           hint: "restore it from a backup; a new key invalidates every service-account token")
        }
    }

    func stage(_ text: String, to relative: String, mode: mode_t, in tx: inout StateDirectory.Transaction,
               into result: inout PKIResult) throws {
        if try tx.write(Data(text.utf8), to: relative, mode: mode) { result.written.append(relative) }
    }
}
