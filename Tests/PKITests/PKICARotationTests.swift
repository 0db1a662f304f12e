import Foundation
import Inventory
import PKI
import Testing
import TestSupport

@Suite("etcd CA rotation in the state directory", .tags(.unit))
struct PKICARotationTests {
    func setup() async throws -> (PKIManager, URL) {
        let dir = try Fixture.tempDir()
        let manager = PKIManager(inventory: Fixture.inventory(controlPlanes: 3, workers: 1, dir: dir), state: StateDirectory(inventory: Fixture.inventory(controlPlanes: 3, workers: 1, dir: dir)))
        _ = try await manager.apply(now: fixedNow)
        return (manager, dir)
    }

    func pem(_ m: PKIManager, _ path: String) throws -> String {
        String(decoding: try #require(try m.state.read(path)), as: UTF8.self)
    }

    @Test("trust → leaves → untrust: bundle old+new, then new signs every etcd leaf (openssl verifies), then the bundle is the new CA only")
    func threePhases() async throws {
        let (m, dir) = try await setup()
        let oldCA = try pem(m, "pki/etcd/ca.crt")
        let oldServer = try pem(m, "pki/hosts/cp1/etcd/server.crt")
        let oldClusterCA = try pem(m, "pki/ca.crt")

        let trust = try m.beginCARotation(.etcd, now: fixedNow)
        #expect(trust.phase == .trust)
        let bundle = try CertificateSummary.bundle(pem: try pem(m, "pki/etcd/ca.crt"))
        #expect(bundle.count == 2)
        #expect(bundle[0].sha256 == trust.oldFingerprint && bundle[1].sha256 == trust.newFingerprint)
        #expect(try pem(m, "pki/hosts/cp1/etcd/server.crt") == oldServer, "trust phase must not touch leaves")
        #expect(try m.loadRotation() == trust)
        // Starting again while one is recorded returns the record instead of a second new CA.
        #expect(try m.beginCARotation(.etcd, now: fixedNow) == trust)

        let (leaves, result) = try await m.promoteNextCA(trust, now: fixedNow)
        #expect(leaves.phase == .leaves)
        let issuedNames = Set(result.issued.map(\.certificate.name))
        #expect(issuedNames == ["etcd/server", "etcd/peer", "etcd/healthcheck-client", "apiserver-etcd-client"])
        #expect(result.issued.count == 3 * 4)
        let swapped = try CertificateSummary.bundle(pem: try pem(m, "pki/etcd/ca.crt"))
        #expect(swapped.map(\.sha256) == [trust.newFingerprint, trust.oldFingerprint])
        #expect(try pem(m, "pki/ca.crt") == oldClusterCA, "other CAs stay")
        // openssl: the new server certificate verifies against the new CA alone, not against the old one.
        let newCAFile = dir.appendingPathComponent("new-ca.pem"), oldCAFile = dir.appendingPathComponent("old-ca.pem")
        try String(try pem(m, "pki/etcd/ca-next.crt")).write(to: newCAFile, atomically: true, encoding: .utf8)
        try oldCA.write(to: oldCAFile, atomically: true, encoding: .utf8)
        let server = m.state.path("pki/hosts/cp1/etcd/server.crt")
        #expect(try run(["openssl", "verify", "-CAfile", newCAFile.path, server]).status == 0)
        #expect(try run(["openssl", "verify", "-CAfile", oldCAFile.path, server]).status != 0)
        // Repeating the promotion (a resumed run) re-issues nothing.
        let (_, again) = try await m.promoteNextCA(leaves, now: fixedNow)
        #expect(again.issued.isEmpty)

        let untrust = try m.dropPreviousCA(leaves)
        #expect(untrust.phase == .untrust)
        #expect(try CertificateSummary.bundle(pem: try pem(m, "pki/etcd/ca.crt")).map(\.sha256) == [trust.newFingerprint])
        try m.finishCARotation(untrust)
        #expect(try m.loadRotation() == nil)
        #expect(!m.state.exists("pki/etcd/ca-previous.key") && !m.state.exists("pki/etcd/ca-next.key"))
        // The PKI is consistent with the new CA: nothing to re-issue.
        #expect(try m.plan(now: fixedNow).reissues.isEmpty)
    }

    @Test("a rotation record survives a reload and progress (done hosts) is kept")
    func recordRoundTrip() async throws {
        let (m, _) = try await setup()
        var record = try m.beginCARotation(.etcd, now: fixedNow)
        record.doneHosts = ["cp1", "cp2"]
        try m.saveRotation(record)
        #expect(try m.loadRotation()?.doneHosts == ["cp1", "cp2"])
        #expect(m.state.mode(PKIManager.rotationRecordPath) == 0o600)
        #expect(m.state.mode("pki/etcd/ca-next.key") == 0o600)
    }

    @Test("a leaf issued with a clock in the past is reported expired and re-issued at the real time")
    func expiredLeaf() async throws {
        let (m, _) = try await setup()
        let past = fixedNow.addingTimeInterval(-400 * 86_400)
        _ = try await m.apply(now: past, renew: .names(["etcd/healthcheck-client@cp2"]))
        let summary = try CertificateSummary(pem: try pem(m, "pki/hosts/cp2/etcd/healthcheck-client.crt"))
        #expect(summary.severity(at: fixedNow) == .error)
        #expect(summary.daysLeft(at: fixedNow) < 0)
        let plan = try m.plan(now: fixedNow)
        #expect(plan.reissues.map(\.certificate.id) == ["etcd/healthcheck-client@cp2"])
        _ = try await m.apply(now: fixedNow)
        #expect(try CertificateSummary(pem: try pem(m, "pki/hosts/cp2/etcd/healthcheck-client.crt")).severity(at: fixedNow) == .ok)
    }

    @Test("summary fields agree with openssl: serial, SHA-256 fingerprint, kubeconfig client certificate")
    func summaryMatchesOpenSSL() async throws {
        let (m, _) = try await setup()
        let path = m.state.path("pki/hosts/cp1/etcd/server.crt")
        let s = try CertificateSummary(pem: try pem(m, "pki/hosts/cp1/etcd/server.crt"))
        let out = try run(["openssl", "x509", "-in", path, "-noout", "-serial", "-fingerprint", "-sha256"]).stdout
        #expect(out.contains("serial=" + s.serial.uppercased()), "\(out) vs \(s.serial)")
        #expect(out.contains("Fingerprint=" + s.sha256), "\(out) vs \(s.sha256)")
        #expect(s.commonName == "cp1" && s.issuer == "etcd-ca")
        #expect(s.sans.contains("127.0.0.1"))
        let admin = try #require(try CertificateSummary.kubeconfigClient(try pem(m, "kubeconfig/admin.conf")))
        #expect(admin.commonName == "kubernetes-admin")
    }
}
