import Foundation
import Inventory
import PKI
import Testing
import TestSupport

@Suite("service-account key rotation in the state: verify, sign, drop", .tags(.unit))
struct ServiceAccountRotationTests {
    func text(_ state: StateDirectory, _ path: String) throws -> String? {
        try state.read(path).map { String(decoding: $0, as: UTF8.self) }
    }

    func publicKeys(_ pem: String?) -> [String] {
        (pem ?? "").components(separatedBy: "-----END PUBLIC KEY-----\n").filter { !$0.isEmpty }.map { $0 + "-----END PUBLIC KEY-----\n" }
    }

    /// A one-host PKI in a temporary directory.
    func applied() async throws -> (URL, PKIManager) {
        let dir = try Fixture.tempDir()
        let inv = Fixture.inventory(controlPlanes: 1, workers: 0, dir: dir)
        let manager = PKIManager(inventory: inv, state: StateDirectory(inventory: inv))
        _ = try await manager.apply(now: fixedNow)
        return (dir, manager)
    }

    @Test("sa.pub holds both keys from verify to drop, apply keeps the bundle mid-rotation, and the old key signs until step 2")
    func steps() async throws {
        let (dir, manager) = try await applied()
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = manager.state
        let oldKey = try #require(try text(state, "pki/sa.key"))
        let oldPub = try #require(try text(state, "pki/sa.pub"))
        #expect(try manager.loadServiceAccountRotation() == nil)

        _ = try manager.beginServiceAccountRotation(now: fixedNow)
        #expect(try text(state, "pki/sa.key") == oldKey)
        let bundle = publicKeys(try text(state, "pki/sa.pub"))
        #expect(bundle.count == 2 && bundle[0] == oldPub && bundle[1] != oldPub)
        #expect(state.mode(ServiceAccountRotation.nextKeyPath) == 0o600)
        #expect(try manager.loadServiceAccountRotation()?.step == .verify)
        // What `state import` reads from a host's sa.pub in the middle of a rotation: the key besides the signing one.
        #expect(try ServiceAccountRotation.extraVerificationKeys(bundle: try #require(try text(state, "pki/sa.pub")), signingKey: oldKey) == bundle[1])
        #expect(try ServiceAccountRotation.extraVerificationKeys(bundle: oldPub, signingKey: oldKey) == nil)
        // apply in the middle of the rotation writes nothing: the bundle is what it would make.
        let midway = try await manager.apply(now: fixedNow)
        #expect(!midway.written.contains("pki/sa.pub"), "\(midway.written)")

        _ = try manager.signWithNextServiceAccountKey(now: fixedNow.addingTimeInterval(60))
        let newKey = try #require(try text(state, "pki/sa.key"))
        #expect(newKey != oldKey && !state.exists(ServiceAccountRotation.nextKeyPath))
        #expect(publicKeys(try text(state, "pki/sa.pub")) == [bundle[1], oldPub])
        #expect(try text(state, ServiceAccountRotation.retiredPath) == oldPub)
        #expect(try manager.loadServiceAccountRotation()?.signingSince == fixedNow.addingTimeInterval(60))
        #expect(!(try await manager.apply(now: fixedNow)).written.contains("pki/sa.pub"))

        _ = try manager.dropRetiredServiceAccountKey()
        #expect(publicKeys(try text(state, "pki/sa.pub")) == [bundle[1]])
        #expect(try manager.loadServiceAccountRotation() == nil && !state.exists(ServiceAccountRotation.retiredPath))
        #expect(throws: PKIError.self) { _ = try manager.dropRetiredServiceAccountKey() }
    }

    @Test("a sign step cut off after sa.key was replaced takes the old public key from sa-retired.pub when run again")
    func signResumes() async throws {
        let (dir, manager) = try await applied()
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = manager.state
        let oldPub = try #require(try text(state, "pki/sa.pub"))
        _ = try manager.beginServiceAccountRotation(now: fixedNow)
        // What a crash between the renames of step 2 leaves: the retired key and the new sa.key, the record still at verify.
        let next = try #require(try state.read(ServiceAccountRotation.nextKeyPath))
        _ = try state.write(Data(oldPub.utf8), to: ServiceAccountRotation.retiredPath, mode: 0o644)
        _ = try state.write(next, to: "pki/sa.key", mode: 0o600)
        _ = try manager.signWithNextServiceAccountKey(now: fixedNow)
        let bundle = publicKeys(try text(state, "pki/sa.pub"))
        #expect(bundle.count == 2 && bundle[1] == oldPub && bundle[0] != oldPub)
    }
}
