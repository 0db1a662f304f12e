import Foundation
import Hosts
import Templates
import Testing
@testable import Workflows

private func runScript(_ path: String) throws -> (status: Int32, stderr: String) {
    try runCollectingStderr("/bin/sh", [path])
}

private func metric(_ text: String, _ name: String) -> Double? {
    text.split(separator: "\n").first { $0.hasPrefix(name + "{") }.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
}

@Suite("etcd-backup.sh against a real etcd", .serialized)
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
        let first = try await engine.sync(member: cluster.targets()[0], directory: work + "/backups", now: Date())
        #expect(first.stored.count == keep && first.skipped == ["etcd-snapshot-m1-copy.db"], "\(first.skipped)")
        #expect(first.stored.allSatisfy { $0.source.hasPrefix("sync:etcd-snapshot-m1-") && $0.totalKeys >= 1 })
        let second = try await engine.sync(member: cluster.targets()[0], directory: work + "/backups", now: Date())
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
