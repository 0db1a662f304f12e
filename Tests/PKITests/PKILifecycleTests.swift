import Foundation
import Inventory
import PKI
import Testing
import TestSupport

@Suite("PKI lifecycle", .tags(.unit))
struct PKILifecycleTests {
    @Test("a second run writes nothing and leaves every file byte-identical")
    func idempotent() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inv = Fixture.inventory(controlPlanes: 3, workers: 2, dir: dir)
        let manager = PKIManager(inventory: inv, state: StateDirectory(inventory: inv))
        let first = try await manager.apply(now: fixedNow)
        #expect(first.written.count > 50)
        let before = try snapshot(manager.state.root)
        let second = try await manager.apply(now: fixedNow.addingTimeInterval(3600))
        #expect(second.written.isEmpty)
        #expect(second.issued.isEmpty)
        #expect(second.createdAuthorities.isEmpty)
        let after = try snapshot(manager.state.root)
        #expect(before.keys.sorted() == after.keys.sorted())
        for (path, (data, mtime)) in before {
            #expect(after[path]?.0 == data, "\(path)")
            #expect(after[path]?.1 == mtime, "\(path)")
        }
        let plan = try manager.plan(now: fixedNow)
        #expect(plan.reissues.isEmpty && plan.authoritiesToCreate.isEmpty && plan.needsSigning.isEmpty)
    }

    @Test("adding a control-plane host re-issues every apiserver certificate with the added SANs as reason")
    func controlPlaneAdded() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inv = Fixture.inventory(controlPlanes: 2, workers: 1, dir: dir)
        let state = StateDirectory(inventory: inv)
        _ = try await PKIManager(inventory: inv, state: state).apply(now: fixedNow)
        let caBefore = try Data(contentsOf: URL(fileURLWithPath: state.path("pki/ca.crt")))
        let keyBefore = try Data(contentsOf: URL(fileURLWithPath: state.path("pki/hosts/cp1/apiserver.key")))

        var grown = inv
        grown.hosts.insert(Fixture.host("cp3", "10.0.0.3", [.controlPlane, .etcd], internal: "192.168.0.3"), at: 2)
        let manager = PKIManager(inventory: grown, state: state)
        let plan = try manager.plan(now: fixedNow)
        let changed = Dictionary(uniqueKeysWithValues: plan.reissues.map { ($0.certificate.id, $0.reasons) })
        let added = IssueReason.sansChanged(added: [SubjectAltName("10.0.0.3"), SubjectAltName("192.168.0.3")], removed: [])
        #expect(changed["apiserver@cp1"] == [added])
        #expect(changed["apiserver@cp2"] == [added])
        #expect(changed["apiserver@cp3"] == [.missing])
        #expect(changed["etcd/server@cp3"] == [.missing])
        #expect(changed["etcd/server@cp1"] == nil)
        #expect(changed["admin.conf"] == nil)
        #expect(changed["apiserver@cp1"].map { $0.map(\.description) } == ["SANs changed: added 10.0.0.3, 192.168.0.3"])

        let result = try await manager.apply(now: fixedNow)
        #expect(Set(result.issued.map(\.certificate.id)) == Set(plan.reissues.map(\.certificate.id)))
        #expect(try Data(contentsOf: URL(fileURLWithPath: state.path("pki/ca.crt"))) == caBefore)
        // Renewal keeps the key; only the certificate changes.
        #expect(try Data(contentsOf: URL(fileURLWithPath: state.path("pki/hosts/cp1/apiserver.key"))) == keyBefore)
        #expect(try OpenSSLFacts(certPath: state.path("pki/hosts/cp1/apiserver.crt")).sans.contains("192.168.0.3"))
        #expect(try manager.plan(now: fixedNow).reissues.isEmpty)
    }

    @Test("changing the endpoint re-issues the apiservers and rewrites kubeconfigs with the new server")
    func endpointChanged() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inv = Fixture.inventory(controlPlanes: 1, workers: 1, dir: dir)
        let state = StateDirectory(inventory: inv)
        _ = try await PKIManager(inventory: inv, state: state).apply(now: fixedNow)
        var moved = inv
        moved.controlPlane.endpoint = "10.0.0.100:8443"
        let result = try await PKIManager(inventory: moved, state: state).apply(now: fixedNow)
        #expect(result.issued.map(\.certificate.id) == ["apiserver@cp1"])
        #expect(result.issued.first?.reasons == [.sansChanged(added: [SubjectAltName("10.0.0.100")], removed: [SubjectAltName("api.example.test")])])
        #expect(result.written.contains("kubeconfig/admin.conf"))
        #expect(result.written.contains("kubeconfig/hosts/w1/kubelet.conf"))
        #expect(!result.written.contains("kubeconfig/hosts/cp1/scheduler.conf"))
        let admin = try String(contentsOfFile: state.path("kubeconfig/admin.conf"), encoding: .utf8)
        #expect(admin.contains("server: \"https://10.0.0.100:8443\""))
    }

    @Test("leaves within renewBefore of expiry are re-issued; CAs are not")
    func expiryRenewal() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inv = Fixture.inventory(controlPlanes: 1, workers: 0, dir: dir)
        let manager = PKIManager(inventory: inv, state: StateDirectory(inventory: inv))
        _ = try await manager.apply(now: fixedNow)
        let later = fixedNow.addingTimeInterval(340 * 86_400)
        #expect(try manager.plan(now: later, renewBefore: .days(20)).reissues.isEmpty)
        let result = try await manager.apply(now: later, renewBefore: .days(30))
        let required = try CertificateCatalog.required(for: inv)
        #expect(result.issued.count == required.count)
        #expect(result.issued.allSatisfy { if case .expiresSoon = $0.reasons.first { return $0.reasons.count == 1 } else { return false } })
        #expect(result.createdAuthorities.isEmpty)
        #expect(!result.written.contains("pki/ca.crt"))
        let leaf = try OpenSSLFacts(certPath: manager.state.path("pki/hosts/cp1/apiserver.crt"))
        #expect(leaf.notAfter == "Dec  7 00:00:00 2027 GMT")
    }

    @Test("renew by name re-issues just that certificate on every host; an unknown name is an error")
    func renewByName() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inv = Fixture.inventory(controlPlanes: 2, workers: 0, dir: dir)
        let manager = PKIManager(inventory: inv, state: StateDirectory(inventory: inv))
        _ = try await manager.apply(now: fixedNow)
        let result = try await manager.apply(now: fixedNow, renew: .names(["apiserver", "etcd/peer@cp2"]))
        #expect(Set(result.issued.map(\.certificate.id)) == ["apiserver@cp1", "apiserver@cp2", "etcd/peer@cp2"])
        #expect(result.issued.allSatisfy { $0.reasons == [.requested] })
        await #expect { try await manager.apply(now: fixedNow, renew: .names(["nope"])) } throws: { ($0 as? PKIError)?.what == "unknown certificate" }
        let all = try await manager.apply(now: fixedNow, renew: .all)
        #expect(all.issued.count == (try CertificateCatalog.required(for: inv)).count)
    }

    @Test("a leaf swapped for one signed by another CA is re-issued with the reason")
    func foreignIssuer() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inv = Fixture.inventory(controlPlanes: 1, workers: 0, dir: dir)
        let state = StateDirectory(inventory: inv)
        let manager = PKIManager(inventory: inv, state: state)
        _ = try await manager.apply(now: fixedNow)
        let other = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: other) }
        let otherInv = Fixture.inventory(controlPlanes: 1, workers: 0, dir: other)
        let otherState = StateDirectory(inventory: otherInv)
        _ = try await PKIManager(inventory: otherInv, state: otherState).apply(now: fixedNow)
        for ext in [".crt", ".key"] {
            try state.write(try Data(contentsOf: URL(fileURLWithPath: otherState.path("pki/hosts/cp1/apiserver" + ext))),
                            to: "pki/hosts/cp1/apiserver" + ext, mode: ext == ".key" ? 0o600 : 0o644)
        }
        let plan = try manager.plan(now: fixedNow)
        #expect(plan.reissues.map(\.certificate.id) == ["apiserver@cp1"])
        #expect(plan.reissues.first?.reasons == [.issuerChanged])
    }

    @Test("certs list: sorted by expiry, warns within 30 days, errors once expired (fixed clock)")
    func listWithClock() async throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var inv = Fixture.inventory(controlPlanes: 1, workers: 1, dir: dir)
        inv.pki.leafValidity = .days(100)
        let manager = PKIManager(inventory: inv, state: StateDirectory(inventory: inv))
        _ = try await manager.apply(now: fixedNow)
        let fresh = try manager.list(now: fixedNow)
        #expect(fresh.count == 3 + (try CertificateCatalog.required(for: inv)).count)
        #expect(fresh.allSatisfy { $0.severity == .ok })
        #expect(fresh.map(\.notAfter) == fresh.map(\.notAfter).sorted())
        #expect(fresh.last?.name == "etcd/ca" || fresh.last?.name == "front-proxy-ca" || fresh.last?.name == "ca")
        let apiserver = try #require(fresh.first { $0.name == "apiserver" })
        #expect(apiserver.host == "cp1")
        #expect(apiserver.daysLeft == 100)
        #expect(apiserver.issuer == "kubernetes")
        #expect(apiserver.sans.contains(SubjectAltName("10.96.0.1")))

        let soon = try manager.list(now: fixedNow.addingTimeInterval(75 * 86_400))
        #expect(soon.filter { $0.severity == .warning }.count == fresh.count - 3)
        #expect(soon.filter { $0.severity == .ok }.map(\.name).sorted() == ["ca", "etcd/ca", "front-proxy-ca"])
        let late = try manager.list(now: fixedNow.addingTimeInterval(101 * 86_400))
        #expect(late.filter { $0.severity == .error }.count == fresh.count - 3)
        #expect(late.first { $0.name == "apiserver" }?.daysLeft == -1)
    }

    @Test("StateDirectory: atomic write reports no change for identical bytes and fixes a wrong mode")
    func stateDirectory() throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = StateDirectory(inventoryPath: dir.appendingPathComponent("inv.yaml").path, clusterName: "c1")
        #expect(state.root == dir.path + "/.capstan/c1")
        #expect(try state.write(Data("a".utf8), to: "x/y/secret", mode: 0o600))
        #expect(try !state.write(Data("a".utf8), to: "x/y/secret", mode: 0o600))
        #expect(state.mode("x") == 0o700 && state.mode("x/y") == 0o700 && state.mode("x/y/secret") == 0o600)
        chmod(state.path("x/y/secret"), 0o644)
        #expect(try state.write(Data("a".utf8), to: "x/y/secret", mode: 0o600))
        #expect(state.mode("x/y/secret") == 0o600)
        #expect(try state.read("missing") == nil)
        #expect(try state.remove("x/y/secret"))
        #expect(try !state.remove("x/y/secret"))
    }
}
