import Foundation
import Lab
import TestSupport
import Testing

/// The backup timer on real systemd hosts shipping age-encrypted snapshots to an S3 server (moto with
/// signature checking) on the lab bridge address, which the hosts reach; nothing on the hosts decrypts them.
@Suite("backup timer shipping to S3 on lab hosts", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"))
struct BackupShipLabTests {
    @Test("apply deploys write-only credentials; the timer ships an age-encrypted snapshot; list/verify and `age -d` + etcdctl read it; every member wiped, restore from S3 with the identity brings the data back; no host holds an identity")
    func timerShipsToS3() throws {
        let lab = try IntegrationLab.lab()
        try EtcdBackupLabTests().wipeAll(lab)
        let server = try S3TestServer(host: lab.layout.machineAddress)
        defer { server.stop() }
        let dir = EtcdBackupLabTests.root + "ship"
        let path = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "shiplab", roles: [1: ["control-plane", "etcd"], 2: ["control-plane", "etcd"], 3: ["control-plane", "etcd"]])
        let identity = dir + "/identity.txt"
        try? FileManager.default.removeItem(atPath: identity)
        let keygen = try IntegrationLab.capstan(["backup", "keygen", "--output", identity])
        try #require(keygen.succeeded, "\(keygen.all)")
        let recipient = keygen.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let policy = """
            topology: stacked
            backup:
              schedule: "*-*-* 02:00:00"
              keep: 2
              includePKI: false
              recipients: [\(recipient)]
              identityFile: \(identity)
              destination:
                s3:
                  endpoint: \(server.endpoint)
                  bucket: \(server.bucket)
                  prefix: shiplab/
                  pathStyle: true
                  credentialsFile: \(server.writerCredentials)
                  operatorCredentialsFile: \(server.operatorCredentials)

        """
        let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "    topology: stacked\n", with: policy)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        // The hosts get Debian's age binary (the timer encrypts with it); the identity stays here.
        for host in ["h1", "h2", "h3"] {
            let target = try lab.host(named: host).machinePath + "/usr/local/bin/age"
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.copyItem(atPath: "/usr/bin/age", toPath: target)
        }
        let apply = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", path])
        try #require(apply.succeeded, "apply failed: \(apply.all)")
        let mode = try lab.run(in: "h2", ["stat", "-c", "%a %U", "/etc/capstan/etcd-backup-s3.credentials"]).stdout
        #expect(mode.trimmingCharacters(in: .whitespacesAndNewlines) == "600 root")

        let state = dir + "/.capstan/shiplab"
        let endpoints = (1...3).map { "https://\(lab.layout.hostAddress($0)):2379" }
        #expect(try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints, ["put", "ship/before", "kept"]).succeeded)
        let run = try lab.run(in: "h1", ["systemctl", "start", "etcd-backup.service"])
        let journal = try lab.run(in: "h1", ["journalctl", "-u", "etcd-backup.service", "-n", "20", "--no-pager"]).stdout
        #expect(run.status == 0, "\(run.stderr) \(journal)")
        let list = try IntegrationLab.capstan(["backup", "list", "-i", path, "--output", "json"])
        #expect(list.succeeded, "\(list.all)")
        let entries = (try? JSONSerialization.jsonObject(with: Data(list.stdout.utf8))) as? [[String: Any]] ?? []
        try #require(entries.count == 1, "\(list.all)")
        let name = try #require(entries[0]["name"] as? String)
        let verify = try IntegrationLab.capstan(["backup", "verify", "-i", path, name])
        #expect(verify.succeeded && verify.stdout.contains("\(name): ok"), "\(verify.all)")

        let fetched = dir + "/fetched.age"
        #expect(try server.boto3("s3.download_file(B, 'shiplab/\(name).snapshot.db.age', '\(fetched)')").status == 0)
        #expect(try IntegrationLab.run("/usr/bin/age", ["-d", "-i", identity, "-o", dir + "/snapshot.db", fetched]).succeeded)
        let status = try IntegrationLab.run("/usr/bin/etcdctl", ["snapshot", "status", dir + "/snapshot.db", "-w", "json"], environment: ["ETCDCTL_API": "3"])
        #expect(status.succeeded && status.stdout.contains("\"revision\""), "\(status.all)")

        // Every member's data wiped; restore from S3 with the operator's identity: the data comes back.
        #expect(try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints, ["put", "ship/after", "gone"]).succeeded)
        let refused = try IntegrationLab.capstan(["backup", "restore", "-i", path, "--from", name])
        #expect(!refused.succeeded && refused.all.contains("--yes"), "\(refused.all)")
        let dry = try IntegrationLab.capstan(["backup", "restore", "-i", path, "--from", name, "--dry-run"])
        #expect(dry.succeeded && dry.stdout.contains("nothing changed"), "\(dry.all)")
        for host in ["h1", "h2", "h3"] { try lab.run(in: host, ["sh", "-c", "systemctl stop etcd && rm -rf /var/lib/etcd"]) }
        let restore = try IntegrationLab.capstan(["backup", "restore", "-i", path, "--from", name, "--yes"])
        #expect(restore.succeeded, "\(restore.all)")
        let before = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints, ["get", "ship/before", "--print-value-only"])
        #expect(before.stdout.contains("kept"), "\(before.all)")
        let after = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints, ["get", "ship/after", "--print-value-only"])
        #expect(after.succeeded && after.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(after.all)")

        for host in ["h1", "h2", "h3"] {
            // -I: text files only (the age binary itself carries the prefix as a string).
            let grep = try lab.run(in: host, ["sh", "-c", "grep -rlsI AGE-SECRET-KEY-1 /etc /root /usr/local /var/lib /var/backups 2>/dev/null; true"])
            #expect(grep.stdout.isEmpty, "\(host) holds an age identity: \(grep.stdout)")
        }
    }
}
