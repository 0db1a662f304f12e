import Foundation
import Testing
import TestSupport
import Lab

/// etcd backups end to end on a real 3-member TLS etcd on lab hosts, all through the built `capstan` binary;
/// etcdctl on this machine (with the healthcheck client certificate) and systemd on the hosts are the witnesses.
@Suite("etcd backups on lab hosts through capstan", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct EtcdBackupLabTests {
    let cp: [String] = ["control-plane", "etcd"]
    static let root = Scratch.directory("backup-lab") + "/"

    func endpoints(_ lab: Lab, _ numbers: [Int] = [1, 2, 3]) -> [String] {
        numbers.map { "https://\(lab.layout.hostAddress($0)):2379" }
    }

    /// Bare hosts: no etcd (IntegrationLab.wipe) and no backup timer, script, snapshots or state.
    func wipeAll(_ lab: Lab) throws {
        let names = lab.hosts.map(\.name)
        try IntegrationLab.wipe(lab, hosts: names)
        for host in names {
            try lab.run(in: host, ["sh", "-c", "systemctl disable --now etcd-backup.timer 2>/dev/null; systemctl stop etcd-backup.service 2>/dev/null; rm -rf /etc/systemd/system/etcd-backup.* /usr/local/lib/capstan /var/backups/etcd /var/lib/capstan/etcd-backup /var/lib/node_exporter /var/lib/etcd.capstan-pre-restore-*; systemctl daemon-reload; systemctl reset-failed etcd-backup.service 2>/dev/null; true"])
        }
    }

    /// A 3-member stacked inventory (h1-h3) with an encrypted local backup store under `directory`.
    func inventory(_ lab: Lab, directory: String, version: String = "3.4.23", schedule: String = "*-*-* 02:00:00",
                   keep: Int = 3, keyFile: String? = nil) throws -> String {
        let path = try IntegrationLab.writeInventory(lab, directory: directory, cluster: "bkplab", version: version, roles: [1: cp, 2: cp, 3: cp])
        let store = directory + "/store"
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        let key = keyFile ?? directory + "/backup.key"
        if !FileManager.default.fileExists(atPath: key) {
            #expect(try IntegrationLab.run("/usr/bin/openssl", ["rand", "-out", key, "32"]).succeeded)
        }
        let policy = """
            topology: stacked
            backup:
              schedule: "\(schedule)"
              randomizedDelay: 1s
              keep: \(keep)
              destination:
                local:
                  path: \(store)
              encryptionKeyFile: \(key)

        """
        let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "    topology: stacked\n", with: policy)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func json(_ text: String) -> Any? {
        guard let start = text.firstIndex(where: { $0 == "{" || $0 == "[" }) else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(text[start...].utf8))
    }

    func backupNow(_ inventory: String) throws -> (name: String, revision: Int64) {
        let r = try IntegrationLab.capstan(["backup", "now", "-i", inventory, "--output", "json"])
        #expect(r.succeeded, "backup now failed: \(r.all)")
        let manifest = json(r.stdout) as? [String: Any] ?? [:]
        let name = try #require(manifest["name"] as? String, "no manifest in \(r.stdout)")
        let revision = try #require((manifest["revision"] as? NSNumber)?.int64Value)
        return (name, revision)
    }

    func listNames(_ inventory: String) throws -> [String] {
        let r = try IntegrationLab.capstan(["backup", "list", "-i", inventory, "--output", "json"])
        #expect(r.succeeded, "\(r.all)")
        return ((json(r.stdout) as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }.sorted()
    }

    func snapshots(_ lab: Lab, _ host: String) throws -> [String] {
        try lab.run(in: host, ["sh", "-c", "ls -1 /var/backups/etcd/ 2>/dev/null | grep '^etcd-snapshot-' || true"]).stdout
            .split(separator: "\n").map(String.init).sorted()
    }

    /// The node-local snapshots while no backup run is active on `host`: a run that saved its snapshot and has
    /// not pruned yet holds one more than `keep` for a moment.
    func settledSnapshots(_ lab: Lab, _ host: String) throws -> [String] {
        // A oneshot run is "activating" while it runs.
        let idle = ["sh", "-c", #"s=$(systemctl show -p ActiveState --value etcd-backup.service); [ "$s" = inactive ] || [ "$s" = failed ]"#]
        for _ in 0..<50 {
            let before = try lab.run(in: host, idle).succeeded
            let listed = try snapshots(lab, host)
            if before, try lab.run(in: host, idle).succeeded { return listed }
            usleep(200_000)
        }
        return try snapshots(lab, host)
    }

    func waitHealthy(_ lab: Lab, state: String, seconds: Int = 60) throws -> Bool {
        for _ in 0..<seconds {
            if try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints(lab), ["endpoint", "health"]).succeeded { return true }
            sleep(1)
        }
        return false
    }

    @Test("TLS cluster: keys → backup now → verify → data wiped on every member → restore: keys back, 3/3 healthy with a leader, revision ≥ the backup's",
          arguments: ["3.4.23", "3.5.1"])
    func restoreRoundTrip(version: String) throws {
        let lab = try IntegrationLab.lab()
        try wipeAll(lab)
        let dir = Self.root + "restore-" + version
        let inventory = try inventory(lab, directory: dir, version: version)
        let apply = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory])
        try #require(apply.succeeded, "apply failed: \(apply.all)")
        let state = dir + "/.capstan/bkplab"
        let installed = try lab.run(in: "h1", ["/usr/local/bin/etcdctl", "version"]).stdout
        #expect(installed.contains(version), "\(installed)")

        for i in 0..<20 {
            let put = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints(lab), ["put", "bkp/key-\(i)", "value-\(i)"])
            #expect(put.succeeded, "\(put.all)")
        }
        let listed = try listNames(inventory)
        let dry = try IntegrationLab.capstan(["backup", "now", "--dry-run", "-i", inventory])
        #expect(dry.succeeded && dry.stdout.hasPrefix("would snapshot h") && dry.stdout.contains("revision ") && dry.stdout.contains("nothing written"), "\(dry.all)")
        #expect(try listNames(inventory) == listed, "backup now --dry-run stored something")
        let backup = try backupNow(inventory)
        let verify = try IntegrationLab.capstan(["backup", "verify", "-i", inventory, backup.name])
        #expect(verify.succeeded && verify.stdout.contains("\(backup.name): ok"), "\(verify.all)")
        // Written after the backup: a restore must not bring it back.
        #expect(try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints(lab), ["put", "bkp/after", "x"]).succeeded)

        for host in ["h1", "h2", "h3"] {
            try lab.run(in: host, ["sh", "-c", "systemctl stop etcd && rm -rf /var/lib/etcd"])
        }
        #expect(try !IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints(lab), ["endpoint", "health"]).succeeded)

        let restore = try IntegrationLab.capstan(["backup", "restore", "-i", inventory, "--from", backup.name, "--yes"])
        #expect(restore.succeeded, "restore failed: \(restore.all)")
        print("MEASURED restore of a 3-member etcd \(version): \(String(format: "%.2f", restore.seconds)) s")

        let keys = try IntegrationLab.etcdctl(stateDir: state, certHost: "h2", endpoints: endpoints(lab), ["get", "bkp/", "--prefix", "--keys-only"])
        let names = keys.stdout.split(separator: "\n").map(String.init)
        #expect(names.count == 20, "\(keys.all)")
        #expect(!names.contains("bkp/after"))
        let value = try IntegrationLab.etcdctl(stateDir: state, certHost: "h3", endpoints: endpoints(lab, [3]), ["get", "bkp/key-7", "--print-value-only"])
        #expect(value.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "value-7")

        let status = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints(lab), ["endpoint", "status", "-w", "json"])
        let rows = (json(status.stdout) as? [[String: Any]]) ?? []
        #expect(rows.count == 3, "\(status.all)")
        let revisions = rows.compactMap { (($0["Status"] as? [String: Any])?["header"] as? [String: Any])?["revision"] as? NSNumber }.map(\.int64Value)
        #expect(revisions.count == 3 && revisions.allSatisfy { $0 >= backup.revision }, "revisions \(revisions) vs backup \(backup.revision)")
        let leaders = Set(rows.compactMap { ($0["Status"] as? [String: Any])?["leader"] as? NSNumber })
        #expect(leaders.count == 1 && (leaders.first?.uint64Value ?? 0) != 0, "leaders \(leaders)")

        let (capstanStatus, statusJSON) = try IntegrationLab.statusJSON(inventory)
        #expect(capstanStatus.succeeded, "\(capstanStatus.all)")
        #expect(statusJSON["healthy"] as? Bool == true)
        #expect(IntegrationLab.memberNames(statusJSON) == ["h1", "h2", "h3"])
        #expect(statusJSON["leader"] as? String != nil)
        // Restored as the etcd user's, and a re-apply after the restore leaves etcd alone.
        #expect(try lab.run(in: "h2", ["stat", "-c", "%U %a", "/var/lib/etcd"]).stdout.contains("etcd 700"))
        let again = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory])
        #expect(again.succeeded && again.stdout.contains("made 0 change(s)"), "\(again.all)")
    }

    @Test("apply installs the schedule (dry run shows it, re-apply touches nothing); one member snapshots per run, keeps N, writes the metric; sync pulls them in")
    func scheduleAndSync() throws {
        let lab = try IntegrationLab.lab()
        try wipeAll(lab)
        let dir = Self.root + "schedule"
        let inventory = try inventory(lab, directory: dir, schedule: "*:*:0/5", keep: 3)
        let state = dir + "/.capstan/bkplab"

        let dry = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory, "--dry-run"])
        #expect(dry.succeeded, "\(dry.all)")
        for host in ["h1", "h2", "h3"] {
            #expect(dry.stdout.contains("[\(host)] create /etc/systemd/system/etcd-backup.timer"), "\(dry.stdout)")
            #expect(dry.stdout.contains("[\(host)] systemctl enable etcd-backup.timer"))
        }
        #expect(dry.stdout.contains("OnCalendar=*:*:0/5"))
        let apply = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory])
        try #require(apply.succeeded, "apply failed: \(apply.all)")
        for host in ["h1", "h2", "h3"] {
            let active = try lab.run(in: host, ["systemctl", "is-active", "etcd-backup.timer"])
            #expect(active.stdout.contains("active"), "\(host): \(active.stdout)")
        }
        let again = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory, "--output", "json"])
        #expect(again.succeeded && again.stdout.contains("made 0 change(s)"), "\(again.all)")
        #expect(!again.stdout.contains("\"kind\":\"action\""))
        let schedule = try IntegrationLab.capstan(["backup", "schedule", "-i", inventory])
        #expect(schedule.succeeded && schedule.stdout.contains("made 0 change(s) (nothing to do)"), "\(schedule.all)")

        sleep(32)
        let h1 = try settledSnapshots(lab, "h1")
        #expect(h1.count == 3, "keep 3 on h1: \(h1)")
        #expect(try snapshots(lab, "h2").isEmpty && snapshots(lab, "h3").isEmpty, "only the first healthy member snapshots")
        let saved = try lab.run(in: "h1", ["sh", "-c", "journalctl -u etcd-backup.service --no-pager | grep -c 'saved /var/backups/etcd/' || true"]).stdout
        let runs = Int(saved.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(runs >= 4, "the timer ran \(runs) times in 32 s, so pruning beyond 3 was not exercised")
        let skipped = try lab.run(in: "h2", ["sh", "-c", "journalctl -u etcd-backup.service --no-pager | grep -c 'skipped: h1 is the first healthy member' || true"]).stdout
        #expect((Int(skipped.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 1, "h2 never ran and skipped")
        let modes = try lab.run(in: "h1", ["sh", "-c", "stat -c %a /var/backups/etcd/etcd-snapshot-*.db | sort -u"]).stdout
        #expect(modes.trimmingCharacters(in: .whitespacesAndNewlines) == "600")
        let metrics = try lab.run(in: "h1", ["cat", "/var/lib/node_exporter/textfile_collector/capstan_etcd_backup.prom"]).stdout
        let success = metrics.split(separator: "\n").first { $0.hasPrefix("capstan_etcd_backup_last_success_timestamp_seconds{cluster=\"bkplab\",member=\"h1\"}") }
        let stamp = Double(success?.split(separator: " ").last ?? "") ?? 0
        #expect(abs(stamp - Date().timeIntervalSince1970) < 60, "\(metrics)")
        #expect(metrics.contains("capstan_etcd_backup_failures_total{cluster=\"bkplab\",member=\"h1\"} 0"))

        // h1's etcd down: the next run is taken by h2, the next healthy member in order.
        try lab.run(in: "h1", ["systemctl", "stop", "etcd"])
        // Start h2's run directly rather than waiting for a timer tick (the timer's firing is covered above by
        // h1's runs): it probes the dead h1 first, then takes the snapshot itself. `systemctl start` waits for the oneshot.
        // A write first (quorum holds with h2 and h3), so h2's snapshot is a new revision and not a copy of h1's.
        let put = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints(lab, [2, 3]), ["put", "takeover", "h2"])
        #expect(put.succeeded, "\(put.all)")
        let run = try lab.run(in: "h2", ["systemctl", "start", "etcd-backup.service"])
        let journal = try lab.run(in: "h2", ["sh", "-c", "journalctl -u etcd-backup.service --no-pager | tail -n 5"]).stdout
        #expect(run.succeeded, "h2's backup run failed: \(run.stderr)\n\(journal)")
        let h2 = try snapshots(lab, "h2")
        try lab.run(in: "h1", ["systemctl", "start", "etcd"])
        #expect(!h2.isEmpty, "h2 did not take over while h1's etcd was down")
        #expect(try waitHealthy(lab, state: state))

        for host in ["h1", "h2", "h3"] { try lab.run(in: host, ["systemctl", "stop", "etcd-backup.timer"]) }
        sleep(2) // a run the timer started just before may still be writing
        // Runs at an unchanged revision can write byte-identical files; the store keeps one backup per content.
        var checksums: [String] = []
        for host in ["h1", "h2", "h3"] {
            checksums += try lab.run(in: host, ["sh", "-c", "cd /var/backups/etcd 2>/dev/null && sha256sum etcd-snapshot-*.db || true"]).stdout
                .split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
        }
        let distinct = Set(checksums).count
        let listedBefore = try listNames(inventory)
        let drySync = try IntegrationLab.capstan(["backup", "sync", "--dry-run", "-i", inventory, "--output", "json"])
        let dryStored = ((json(drySync.stdout) as? [String: Any])?["wouldStore"] as? [String]) ?? []
        #expect(drySync.succeeded && dryStored.count == distinct, "backup sync --dry-run would store \(dryStored.count) of \(distinct) distinct: \(drySync.all)")
        #expect(try listNames(inventory) == listedBefore, "backup sync --dry-run stored something")
        let sync = try IntegrationLab.capstan(["backup", "sync", "-i", inventory, "--output", "json"])
        #expect(sync.succeeded, "\(sync.all)")
        let summary = json(sync.stdout) as? [String: Any] ?? [:]
        let stored = (summary["stored"] as? [String]) ?? []
        #expect(distinct >= 2 && stored.count == distinct, "synced \(stored.count) backups for \(distinct) distinct of \(checksums.count) node-local snapshots: \(sync.stdout)")
        #expect(stored.count + ((summary["skipped"] as? Int) ?? -1) == checksums.count, "\(sync.stdout)")
        let resync = try IntegrationLab.capstan(["backup", "sync", "-i", inventory, "--output", "json"])
        #expect(((json(resync.stdout) as? [String: Any])?["stored"] as? [String])?.isEmpty == true, "second sync stored again: \(resync.stdout)")
        #expect(try listNames(inventory).count == distinct)
        let verify = try IntegrationLab.capstan(["backup", "verify", "-i", inventory, "--all"])
        #expect(verify.succeeded, "\(verify.all)")
        // Nothing in the store is readable without the key.
        let storeFiles = try FileManager.default.contentsOfDirectory(atPath: dir + "/store").filter { $0.hasSuffix(".snapshot.db.enc") }
        #expect(storeFiles.count == distinct)
    }

    @Test("a tampered or truncated stored backup fails verify, a wrong key fails to decrypt, each with a clear error; verify works with no etcdctl here")
    func tamperTruncateWrongKey() throws {
        let lab = try IntegrationLab.lab()
        let dir = Self.root + "schedule"
        let inventory = try inventory(lab, directory: dir, schedule: "*:*:0/5", keep: 3)
        try #require(try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory]).succeeded)
        for host in ["h1", "h2", "h3"] { try lab.run(in: host, ["systemctl", "stop", "etcd-backup.timer"]) }
        let backup = try backupNow(inventory)
        let file = dir + "/store/" + backup.name + ".snapshot.db.enc"
        let original = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(original.count > 1000)

        var tampered = original
        tampered[original.count / 2] ^= 0x01
        try tampered.write(to: URL(fileURLWithPath: file))
        let t = try IntegrationLab.capstan(["backup", "verify", "-i", inventory, backup.name])
        #expect(t.status == 1)
        #expect(t.stdout.contains("\(backup.name): FAILED") && t.stdout.contains("tampered with"), "\(t.all)")

        try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: file))
        let cut = try IntegrationLab.capstan(["backup", "verify", "-i", inventory, backup.name])
        #expect(cut.status == 1)
        #expect(cut.stdout.contains("FAILED") && cut.stdout.contains("truncated"), "\(cut.all)")

        try original.write(to: URL(fileURLWithPath: file))
        #expect(try IntegrationLab.capstan(["backup", "verify", "-i", inventory, backup.name]).succeeded)

        let otherKey = dir + "/other.key"
        #expect(try IntegrationLab.run("/usr/bin/openssl", ["rand", "-out", otherKey, "32"]).succeeded)
        let wrong = dir + "/inventory-wrong-key.yaml"
        try String(contentsOfFile: inventory, encoding: .utf8).replacingOccurrences(of: dir + "/backup.key", with: otherKey)
            .write(toFile: wrong, atomically: true, encoding: .utf8)
        let w = try IntegrationLab.capstan(["backup", "verify", "-i", wrong, backup.name])
        #expect(w.status == 1)
        #expect(w.stdout.contains("encrypted with a different key than the one in \(otherKey)"), "\(w.all)")

        // No etcdutl/etcdctl on this machine's PATH: the decrypted copy is checked on a member.
        let remote = try IntegrationLab.run(IntegrationLab.capstanPath, ["backup", "verify", "-i", inventory, backup.name],
                                            environment: ["PATH": "/nonexistent"])
        #expect(remote.succeeded && remote.stdout.contains("\(backup.name): ok"), "\(remote.all)")
    }

    @Test("a failed backup (etcd stopped on every member) stores nothing and replaces or deletes no good backup, in the store or node-local")
    func failedBackupKeepsGoodOnes() throws {
        let lab = try IntegrationLab.lab()
        let dir = Self.root + "schedule"
        let inventory = try inventory(lab, directory: dir, schedule: "*:*:0/5", keep: 3)
        try #require(try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory]).succeeded)
        for host in ["h1", "h2", "h3"] { try lab.run(in: host, ["systemctl", "stop", "etcd-backup.timer"]) }
        try lab.run(in: "h1", ["systemctl", "start", "etcd-backup.service"])
        _ = try backupNow(inventory) // a good backup in the store, whichever tests ran before
        let storeBefore = try FileManager.default.contentsOfDirectory(atPath: dir + "/store").sorted()
        let listBefore = try listNames(inventory)
        let failuresBefore = try failures(lab)
        let localBefore = try lab.run(in: "h1", ["sh", "-c", "sha256sum /var/backups/etcd/etcd-snapshot-*.db"]).stdout
        #expect(!listBefore.isEmpty && !localBefore.isEmpty)

        for host in ["h1", "h2", "h3"] { try lab.run(in: host, ["systemctl", "stop", "etcd"]) }
        defer { for host in ["h1", "h2", "h3"] { _ = try? lab.run(in: host, ["systemctl", "start", "--no-block", "etcd"]) } }
        let failed = try IntegrationLab.capstan(["backup", "now", "-i", inventory])
        #expect(!failed.succeeded)
        #expect(failed.stderr.contains("no healthy etcd member"), "\(failed.all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/store").sorted() == storeBefore)
        #expect(try listNames(inventory) == listBefore)

        let unit = try lab.run(in: "h1", ["sh", "-c", "systemctl start etcd-backup.service; echo exit=$?"]).stdout
        #expect(unit.contains("exit=1") || !unit.contains("exit=0"), "\(unit)")
        #expect(try lab.run(in: "h1", ["sh", "-c", "sha256sum /var/backups/etcd/etcd-snapshot-*.db"]).stdout == localBefore)
        #expect(try lab.run(in: "h1", ["sh", "-c", "ls -A /var/backups/etcd | grep -c part || true"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        #expect(try failures(lab) == failuresBefore + 1, "the textfile metric did not count the failed run")

        for host in ["h1", "h2", "h3"] { try lab.run(in: host, ["systemctl", "start", "--no-block", "etcd"]) }
        #expect(try waitHealthy(lab, state: dir + "/.capstan/bkplab"))
        let verify = try IntegrationLab.capstan(["backup", "verify", "-i", inventory, "--all"])
        #expect(verify.succeeded, "\(verify.all)")
    }

    func failures(_ lab: Lab) throws -> Int {
        let metrics = try lab.run(in: "h1", ["cat", "/var/lib/node_exporter/textfile_collector/capstan_etcd_backup.prom"]).stdout
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("capstan_etcd_backup_failures_total{cluster=\"bkplab\",member=\"h1\"}") }
        return try #require(line.flatMap { Int($0.split(separator: " ").last ?? "") }, "\(metrics)")
    }

    @Test("restore is refused for a managed control plane with a one-line reason, before any host is contacted")
    func restoreRefusedWhenManaged() throws {
        let dir = Self.root + "managed"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "not a real CA\n".write(toFile: dir + "/eks-ca.crt", atomically: true, encoding: .utf8)
        try "abcdef.0123456789abcdef\n".write(toFile: dir + "/bootstrap-token", atomically: true, encoding: .utf8)
        let yaml = """
        apiVersion: capstan.dev/v1alpha1
        kind: Cluster
        metadata:
          name: shop-eks
        spec:
          kubernetesVersion: v1.30.8
          controlPlane:
            mode: managed
            managed:
              provider: eks
              apiEndpoint: https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com
              caFile: eks-ca.crt
              joinCredentials:
                bootstrapTokenFile: bootstrap-token
          hosts:
            - name: w1
              address: 192.0.2.10
              roles: [worker]

        """
        try yaml.write(toFile: dir + "/inventory.yaml", atomically: true, encoding: .utf8)
        let r = try IntegrationLab.capstan(["backup", "restore", "-i", dir + "/inventory.yaml", "--from", "shop-eks-20240101T000000Z"])
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        #expect(lines.count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("refusing to restore etcd: the control plane is managed by Amazon EKS"), "\(r.all)")
    }
}
