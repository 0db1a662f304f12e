import Foundation
import Inventory
import PKI
import Testing
import TestSupport

/// A root CA and an intermediate made with the openssl CLI, as an operator would bring them.
struct OpenSSLCA {
    var dir: URL
    var rootCert: String { dir.appendingPathComponent("root.crt").path }
    var rootKey: String { dir.appendingPathComponent("root.key").path }
    var interCert: String { dir.appendingPathComponent("inter.crt").path }
    var interKey: String { dir.appendingPathComponent("inter.key").path }
    var bundle: String { dir.appendingPathComponent("inter-bundle.crt").path }

    init(dir: URL) throws {
        self.dir = dir
        let ext = dir.appendingPathComponent("ca.ext")
        try "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyCertSign\nsubjectKeyIdentifier=hash\n".write(to: ext, atomically: true, encoding: .utf8)
        for args in [
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", rootKey, "-out", rootCert,
             "-days", "3650", "-subj", "/CN=corp-root", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,digitalSignature"],
            ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", interKey, "-out", dir.appendingPathComponent("inter.csr").path,
             "-subj", "/CN=corp-kubernetes-intermediate"],
            ["openssl", "x509", "-req", "-in", dir.appendingPathComponent("inter.csr").path, "-CA", rootCert, "-CAkey", rootKey, "-CAcreateserial",
             "-days", "3000", "-extfile", ext.path, "-out", interCert],
        ] {
            let r = try run(args)
            guard r.status == 0 else { throw PKIError("openssl failed", subject: args.joined(separator: " "), reason: r.stderr, hint: "") }
        }
        let text = try String(contentsOfFile: interCert, encoding: .utf8) + String(contentsOfFile: rootCert, encoding: .utf8)
        try text.write(toFile: bundle, atomically: true, encoding: .utf8)
    }
}

@Suite("PKI with an external CA", .tags(.unit))
struct PKIExternalCATests {
    @Test("with the intermediate's key: leaves are signed by it, bundles carry the chain, openssl verifies to the root")
    func withKey() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = try OpenSSLCA(dir: dir)
        // Relative paths resolve against the inventory's directory.
        let inv = Fixture.inventory(controlPlanes: 1, workers: 1, dir: dir, externalCA: ExternalCA(certFile: "inter-bundle.crt", keyFile: "inter.key"))
        let state = StateDirectory(inventory: inv)
        let manager = PKIManager(inventory: inv, state: state)
        let result = try await manager.apply(now: Date())
        #expect(Set(result.createdAuthorities) == [.frontProxy, .etcd])
        #expect(result.needsSigning.isEmpty)
        let clusterSigned = try CertificateCatalog.required(for: inv).filter { $0.signer == .cluster }
        #expect(clusterSigned.count == 11)
        for req in clusterSigned {
            let path = state.path(req.certPath)
            let v = try run(["openssl", "verify", "-x509_strict", "-CAfile", ca.rootCert, "-untrusted", path, path])
            #expect(v.status == 0, "\(req.id): \(v.stdout) \(v.stderr)")
            let bundle = try String(contentsOfFile: path, encoding: .utf8)
            #expect(bundle.components(separatedBy: "BEGIN CERTIFICATE").count - 1 == 2, "\(req.id)")
            #expect(try OpenSSLFacts(certPath: path).issuer == "CN=corp-kubernetes-intermediate")
        }
        #expect(try String(contentsOfFile: state.path("pki/ca.crt"), encoding: .utf8).components(separatedBy: "BEGIN CERTIFICATE").count - 1 == 2)
        #expect(state.mode("pki/ca.key") == 0o600)
        let again = try await manager.apply(now: Date())
        #expect(again.written.isEmpty)
    }

    @Test("without the key: CSRs for the leaves (openssl req -verify), then signed certificates dropped in place are accepted")
    func withoutKey() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = try OpenSSLCA(dir: dir)
        let inv = Fixture.inventory(controlPlanes: 1, workers: 1, dir: dir, externalCA: ExternalCA(certFile: ca.rootCert))
        let state = StateDirectory(inventory: inv)
        let manager = PKIManager(inventory: inv, state: state)
        let clusterSigned = try CertificateCatalog.required(for: inv).filter { $0.signer == .cluster }

        let plan = try manager.plan(now: Date())
        #expect(Set(plan.needsSigning.map(\.id)) == Set(clusterSigned.map(\.id)))
        let first = try await manager.apply(now: Date())
        #expect(Set(first.needsSigning.map(\.id)) == Set(clusterSigned.map(\.id)))
        #expect(!state.exists("pki/ca.key"))
        #expect(!state.exists("kubeconfig/admin.conf"))
        // etcd and front-proxy leaves do not wait for the offline CA.
        #expect(state.exists("pki/hosts/cp1/etcd/server.crt"))

        for req in clusterSigned {
            let csr = state.path(req.csrPath)
            let v = try run(["openssl", "req", "-in", csr, "-noout", "-verify"])
            #expect(v.status == 0 && (v.stdout + v.stderr).contains("verify OK"), "\(req.id)")
            let text = try run(["openssl", "req", "-in", csr, "-noout", "-text"]).stdout
            #expect(text.contains("CN = \(req.commonName)") || text.contains("CN=\(req.commonName)"), "\(req.id)")
        }
        let apiserverCSR = try run(["openssl", "req", "-in", state.path("pki/hosts/cp1/apiserver.csr"), "-noout", "-text"]).stdout
        #expect(apiserverCSR.contains("DNS:kubernetes.default.svc.cluster.local"))
        #expect(apiserverCSR.contains("IP Address:10.96.0.1"))

        // A re-run keeps the pending keys and CSRs.
        let pendingRun = try await manager.apply(now: Date())
        #expect(pendingRun.written.isEmpty)
        #expect(pendingRun.needsSigning.count == clusterSigned.count)

        // A certificate signed by another CA is not accepted.
        let strangerDir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: strangerDir) }
        let stranger = try OpenSSLCA(dir: strangerDir)
        let apiserver = try #require(clusterSigned.first { $0.name == "apiserver" })
        try sign(csr: state.path(apiserver.csrPath), caCert: stranger.rootCert, caKey: stranger.rootKey, out: state.path(apiserver.certPath))
        #expect(try manager.plan(now: Date()).needsSigning.contains(apiserver))

        // The operator signs every CSR with the offline CA and drops the certificates in place.
        for req in clusterSigned {
            try sign(csr: state.path(req.csrPath), caCert: ca.rootCert, caKey: ca.rootKey, out: state.path(req.certPath))
        }
        let accepted = try await manager.apply(now: Date())
        #expect(accepted.needsSigning.isEmpty)
        #expect(accepted.issued.isEmpty)
        #expect(accepted.written.contains("kubeconfig/admin.conf"))
        let view = try run(["kubectl", "--kubeconfig", state.path("kubeconfig/admin.conf"), "config", "view"])
        #expect(view.status == 0)
        let final = try await manager.apply(now: Date())
        #expect(final.written.isEmpty)
    }

    func sign(csr: String, caCert: String, caKey: String, out: String) throws {
        let r = try run(["openssl", "x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey, "-CAcreateserial", "-days", "365",
                         "-copy_extensions", "copy", "-out", out])
        guard r.status == 0 else { throw PKIError("openssl x509 -req failed", subject: csr, reason: r.stderr, hint: "") }
    }
}
