import Foundation
import Inventory
import PKI
import Testing
import TestSupport

/// kubeadm's requirements, written independently of the catalog: CN (with {host}), O, signer file, key
/// usages and EKUs as openssl prints them, and the SAN rule.
struct Expected: Sendable {
    var cn: String
    var orgs: String
    var signer: String
    var eku: Set<String>
    var sans: @Sendable (String, Inventory) -> Set<String>
}

let leafKU: Set<String> = ["Digital Signature", "Key Encipherment"]
let server: Set<String> = ["TLS Web Server Authentication"]
let client: Set<String> = ["TLS Web Client Authentication"]
let noSANs: @Sendable (String, Inventory) -> Set<String> = { _, _ in [] }

let kubeadmTable: [String: Expected] = [
    "apiserver": Expected(cn: "kube-apiserver", orgs: "", signer: "ca", eku: server, sans: { host, inv in
        var s: Set<String> = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
                              "10.96.0.1", "api.example.test", "extra.example.test", "10.9.9.9", host, "127.0.0.1", "localhost"]
        for cp in inv.controlPlaneHosts { s.insert(cp.address); s.insert(cp.clusterAddress) }
        return s
    }),
    "apiserver-kubelet-client": Expected(cn: "kube-apiserver-kubelet-client", orgs: "O=kubeadm:cluster-admins", signer: "ca", eku: client, sans: noSANs),
    "apiserver-etcd-client": Expected(cn: "kube-apiserver-etcd-client", orgs: "", signer: "etcd/ca", eku: client, sans: noSANs),
    "front-proxy-client": Expected(cn: "front-proxy-client", orgs: "", signer: "front-proxy-ca", eku: client, sans: noSANs),
    "etcd/server": Expected(cn: "{host}", orgs: "", signer: "etcd/ca", eku: server.union(client), sans: { host, inv in
        [host, inv.hosts.first { $0.name == host }!.clusterAddress, "localhost", "127.0.0.1"]
    }),
    "etcd/peer": Expected(cn: "{host}", orgs: "", signer: "etcd/ca", eku: server.union(client), sans: { host, inv in
        [host, inv.hosts.first { $0.name == host }!.clusterAddress]
    }),
    "etcd/healthcheck-client": Expected(cn: "kube-etcd-healthcheck-client", orgs: "", signer: "etcd/ca", eku: client, sans: noSANs),
    "admin.conf": Expected(cn: "kubernetes-admin", orgs: "O=kubeadm:cluster-admins", signer: "ca", eku: client, sans: noSANs),
    "super-admin.conf": Expected(cn: "kubernetes-super-admin", orgs: "O=system:masters", signer: "ca", eku: client, sans: noSANs),
    "controller-manager.conf": Expected(cn: "system:kube-controller-manager", orgs: "", signer: "ca", eku: client, sans: noSANs),
    "scheduler.conf": Expected(cn: "system:kube-scheduler", orgs: "", signer: "ca", eku: client, sans: noSANs),
    "kubelet.conf": Expected(cn: "system:node:{host}", orgs: "O=system:nodes", signer: "ca", eku: client, sans: noSANs),
    "kube-proxy.conf": Expected(cn: "system:kube-proxy", orgs: "", signer: "ca", eku: client, sans: noSANs),
    // Not kubeadm's (its kubelets self-sign, or use serverTLSBootstrap): the serving certificate Capstan issues.
    "kubelet-server": Expected(cn: "system:node:{host}", orgs: "O=system:nodes", signer: "ca", eku: server, sans: { host, inv in
        let spec = inv.hosts.first { $0.name == host }!
        return [host, spec.clusterAddress, spec.address]
    }),
]

let caCNs = ["ca": "kubernetes", "front-proxy-ca": "front-proxy-ca", "etcd/ca": "etcd-ca"]

/// Generates a PKI and checks everything with openssl; shared by the ECDSA and RSA tests.
func checkFullPKI(algorithm: KeyAlgorithm, controlPlanes: Int, workers: Int) async throws {
    let dir = try Fixture.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let inv = Fixture.inventory(controlPlanes: controlPlanes, workers: workers, algorithm: algorithm, dir: dir)
    let state = StateDirectory(inventory: inv)
    #expect(state.root == dir.path + "/.capstan/test")
    let result = try await PKIManager(inventory: inv, state: state).apply(now: fixedNow)
    let required = try CertificateCatalog.required(for: inv)
    #expect(Set(result.createdAuthorities) == Set(AuthorityName.allCases))
    #expect(result.issued.count == required.count)
    #expect(result.issued.allSatisfy { $0.reasons == [.missing] })

    // Expected counts: 4 per control plane, 3 per etcd member, admin/super-admin/kube-proxy, cm+scheduler per CP,
    // kubelet client and serving per node.
    #expect(required.count == 4 * controlPlanes + 3 * controlPlanes + 3 + 2 * controlPlanes + 2 * (controlPlanes + workers))
    #expect(Set(required.map(\.name)) == Set(kubeadmTable.keys))

    let keyLabel = algorithm == .ecdsaP256 ? "EC PRIVATE KEY" : "RSA PRIVATE KEY"
    for (file, cn) in caCNs {
        let facts = try OpenSSLFacts(certPath: state.path("pki/\(file).crt"))
        #expect(facts.subject == "CN=\(cn)")
        #expect(facts.isCA)
        #expect(facts.keyUsage == ["Digital Signature", "Key Encipherment", "Certificate Sign"])
        let key = try String(contentsOfFile: state.path("pki/\(file).key"), encoding: .utf8)
        #expect(key.hasPrefix("-----BEGIN \(keyLabel)-----"))
    }
    let saKey = try String(contentsOfFile: state.path("pki/sa.key"), encoding: .utf8)
    #expect(saKey.hasPrefix("-----BEGIN \(keyLabel)-----"))
    let pub = try run(["openssl", "pkey", "-in", state.path("pki/sa.key"), "-pubout"])
    #expect(pub.stdout == (try String(contentsOfFile: state.path("pki/sa.pub"), encoding: .utf8)))

    // Every leaf verifies against its CA, in one openssl call per CA.
    for ca in caCNs.keys {
        let leaves = required.filter { kubeadmTable[$0.name]!.signer == ca }.map { state.path($0.certPath) }
        let v = try run(["openssl", "verify", "-x509_strict", "-CAfile", state.path("pki/\(ca).crt")] + leaves)
        #expect(v.status == 0, "\(v.stderr)")
        #expect(v.stdout.components(separatedBy: ": OK").count - 1 == leaves.count)
    }

    for req in required {
        let exp = try #require(kubeadmTable[req.name])
        let facts = try OpenSSLFacts(certPath: state.path(req.certPath))
        let cn = exp.cn.replacingOccurrences(of: "{host}", with: req.host ?? "")
        #expect(facts.subject == (exp.orgs.isEmpty ? "CN=\(cn)" : "CN=\(cn),\(exp.orgs)"), "\(req.id)")
        #expect(facts.issuer == "CN=\(caCNs[exp.signer]!)", "\(req.id)")
        #expect(facts.keyUsage == leafKU, "\(req.id)")
        #expect(facts.extendedKeyUsage == exp.eku, "\(req.id)")
        #expect(!facts.isCA, "\(req.id)")
        #expect(facts.sans == exp.sans(req.host ?? "", inv), "\(req.id)")
        let key = try String(contentsOfFile: state.path(req.keyPath), encoding: .utf8)
        #expect(key.hasPrefix("-----BEGIN \(keyLabel)-----"), "\(req.id)")
        // The key belongs to the certificate.
        let certPub = try run(["openssl", "x509", "-in", state.path(req.certPath), "-noout", "-pubkey"]).stdout
        let keyPub = try run(["openssl", "pkey", "-in", state.path(req.keyPath), "-pubout"]).stdout
        #expect(certPub == keyPub, "\(req.id)")
    }
}

@Suite("PKI issuing", .tags(.unit))
struct PKIIssueTests {
    @Test("ECDSA PKI for 3 control planes and 2 workers matches kubeadm's table and verifies with openssl")
    func ecdsaFull() async throws {
        try await checkFullPKI(algorithm: .ecdsaP256, controlPlanes: 3, workers: 2)
    }

    @Test("RSA-2048 PKI matches kubeadm's table with PKCS#1 RSA PRIVATE KEY files")
    func rsaFull() async throws {
        try await checkFullPKI(algorithm: .rsa2048, controlPlanes: 1, workers: 1)
    }

    @Test("RSA-3072 keys have 3072 bits")
    func rsa3072() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inv = Fixture.inventory(controlPlanes: 1, workers: 0, algorithm: .rsa3072, dir: dir)
        let state = StateDirectory(inventory: inv)
        _ = try await PKIManager(inventory: inv, state: state).apply(now: fixedNow)
        let r = try run(["openssl", "rsa", "-in", state.path("pki/hosts/cp1/apiserver.key"), "-check", "-noout", "-text"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("Private-Key: (3072 bit, 2 primes)"))
    }

    @Test("validity: CAs and leaves start 5 minutes before now and end after the inventory's validity")
    func validity() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var inv = Fixture.inventory(controlPlanes: 1, workers: 0, dir: dir)
        inv.pki.caValidity = .days(1000)
        inv.pki.leafValidity = .days(90)
        let state = StateDirectory(inventory: inv)
        _ = try await PKIManager(inventory: inv, state: state).apply(now: fixedNow)
        let ca = try OpenSSLFacts(certPath: state.path("pki/ca.crt"))
        #expect(ca.notBefore == "Dec 31 23:55:00 2025 GMT")
        #expect(ca.notAfter == "Sep 27 00:00:00 2028 GMT")
        let leaf = try OpenSSLFacts(certPath: state.path("pki/hosts/cp1/apiserver.crt"))
        #expect(leaf.notBefore == "Dec 31 23:55:00 2025 GMT")
        #expect(leaf.notAfter == "Apr  1 00:00:00 2026 GMT")
    }

    @Test("state directory is 0700 throughout, keys and kubeconfigs 0600, certificates 0644")
    func permissions() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inv = Fixture.inventory(controlPlanes: 1, workers: 1, dir: dir)
        let state = StateDirectory(inventory: inv)
        _ = try await PKIManager(inventory: inv, state: state).apply(now: fixedNow)
        var checked = 0
        let e = try #require(FileManager.default.enumerator(atPath: state.root))
        for case let rel as String in e {
            let mode = try #require(state.mode(rel))
            var isDir: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: state.path(rel), isDirectory: &isDir))
            if isDir.boolValue { #expect(mode == 0o700, "\(rel)") }
            else if rel.hasSuffix(".key") || rel.hasSuffix(".conf") { #expect(mode == 0o600, "\(rel)") }
            else { #expect(mode == 0o644, "\(rel)") }
            checked += 1
        }
        #expect(state.mode("") == 0o700)
        #expect(checked > 30)
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: state.path("pki")).contains { $0.hasPrefix(".tmp-") }))
    }

    @Test("kubeconfigs are accepted by kubectl and embed a client certificate that verifies against ca.crt")
    func kubeconfigs() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inv = Fixture.inventory(controlPlanes: 1, workers: 1, dir: dir)
        let state = StateDirectory(inventory: inv)
        _ = try await PKIManager(inventory: inv, state: state).apply(now: fixedNow)
        let expected: [String: (server: String, user: String)] = [
            "kubeconfig/admin.conf": ("https://api.example.test:6443", "kubernetes-admin"),
            "kubeconfig/super-admin.conf": ("https://api.example.test:6443", "kubernetes-super-admin"),
            "kubeconfig/kube-proxy.conf": ("https://api.example.test:6443", "system:kube-proxy"),
            "kubeconfig/hosts/cp1/controller-manager.conf": ("https://192.168.0.1:6443", "system:kube-controller-manager"),
            "kubeconfig/hosts/cp1/scheduler.conf": ("https://192.168.0.1:6443", "system:kube-scheduler"),
            "kubeconfig/hosts/cp1/kubelet.conf": ("https://api.example.test:6443", "system:node:cp1"),
            "kubeconfig/hosts/w1/kubelet.conf": ("https://api.example.test:6443", "system:node:w1"),
        ]
        for (path, want) in expected {
            let conf = state.path(path)
            let view = try run(["kubectl", "--kubeconfig", conf, "config", "view", "-o", "jsonpath={.clusters[0].cluster.server} {.users[0].name} {.current-context}"])
            #expect(view.status == 0, "\(path): \(view.stderr)")
            #expect(view.stdout == "\(want.server) \(want.user) \(want.user)@test", "\(path)")
            let raw = try run(["kubectl", "--kubeconfig", conf, "config", "view", "--raw", "-o", "jsonpath={.users[0].user.client-certificate-data}"])
            let pem = try #require(Data(base64Encoded: raw.stdout))
            let certFile = dir.appendingPathComponent("client.crt")
            try pem.write(to: certFile)
            let v = try run(["openssl", "verify", "-CAfile", state.path("pki/ca.crt"), certFile.path])
            #expect(v.status == 0, "\(path): \(v.stdout) \(v.stderr)")
            let cn = try OpenSSLFacts(certPath: certFile.path).subject
            #expect(cn.hasPrefix("CN=\(want.user)"), "\(path)")
        }
    }

    @Test("host file mapping: kubeadm paths; workers get no CA key; the etcd CA key never leaves the state")
    func hostFiles() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inv = Fixture.inventory(controlPlanes: 1, workers: 1, dir: dir)
        let required = try CertificateCatalog.required(for: inv)
        let cp = PKIManager.hostFiles(for: inv.hosts[0], required: required, inventory: inv)
        let worker = PKIManager.hostFiles(for: inv.hosts[1], required: required, inventory: inv)
        let cpPaths = Dictionary(uniqueKeysWithValues: cp.map { ($0.remotePath, $0) })
        #expect(cpPaths["/etc/kubernetes/pki/apiserver.crt"]?.statePath == "pki/hosts/cp1/apiserver.crt")
        #expect(cpPaths["/etc/kubernetes/pki/etcd/server.key"]?.statePath == "pki/hosts/cp1/etcd/server.key")
        #expect(cpPaths["/etc/kubernetes/pki/etcd/server.key"]?.mode == 0o600)
        #expect(cpPaths["/etc/kubernetes/pki/ca.key"] != nil)
        #expect(cpPaths["/etc/kubernetes/admin.conf"]?.statePath == "kubeconfig/admin.conf")
        #expect(cpPaths["/etc/kubernetes/kubelet.conf"]?.statePath == "kubeconfig/hosts/cp1/kubelet.conf")
        #expect(cpPaths["/etc/kubernetes/super-admin.conf"] == nil)
        #expect(!cp.contains { $0.statePath.hasSuffix("etcd/ca.key") })
        #expect(Set(worker.map(\.remotePath)) == ["/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/kubelet.conf", "/etc/kubernetes/kube-proxy.conf",
                                                   "/etc/kubernetes/pki/kubelet-server.crt", "/etc/kubernetes/pki/kubelet-server.key"])
        #expect(worker.first { $0.remotePath == "/etc/kubernetes/pki/kubelet-server.key" }?.mode == 0o600)
        #expect(worker.first { $0.remotePath == "/etc/kubernetes/kubelet.conf" }?.statePath == "kubeconfig/hosts/w1/kubelet.conf")
    }

    @Test("a managed cluster and a host name with '/' are refused with a clear error")
    func refusals() throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var inv = Fixture.inventory(controlPlanes: 1, workers: 0, dir: dir)
        inv.controlPlane.mode = .managed
        #expect { try CertificateCatalog.required(for: inv) } throws: { ($0 as? PKIError)?.what == "no PKI for a managed cluster" }
        var bad = Fixture.inventory(controlPlanes: 1, workers: 0, dir: dir)
        bad.hosts[0].name = "../evil"
        #expect { try CertificateCatalog.required(for: bad) } throws: { ($0 as? PKIError)?.what == "invalid host name for the PKI layout" }
        var ep = Fixture.inventory(controlPlanes: 1, workers: 0, dir: dir)
        ep.controlPlane.endpoint = "api:notaport"
        #expect { try CertificateCatalog.required(for: ep) } throws: { ($0 as? PKIError)?.what == "invalid control-plane endpoint" }
    }
}
