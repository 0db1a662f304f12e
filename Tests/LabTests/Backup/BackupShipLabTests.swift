import Foundation
import Lab
import TestSupport
import Testing

/// The backup timer on real systemd hosts shipping age-encrypted snapshots to an S3 server (moto with
/// signature checking) on the lab bridge address, which the hosts reach; nothing on the hosts decrypts them.
@Suite("backup timer shipping to S3 on lab hosts", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct BackupShipLabTests {
    @Test("apply deploys write-only credentials and publishes the PKI once; the timer ships an age-encrypted snapshot; list/verify and `age -d` + etcdctl read it; every member wiped, restore from S3 with the identity brings the data back, and again with the state directory removed too (PKI from the store, old client certificates work; a backup naming another cluster's PKI is refused before any host changes); no host holds an identity")
    func timerShipsToS3() throws {
        let lab = try IntegrationLab.lab()
        try EtcdBackupLabTests().wipeAll(lab)
        let server = try S3TestServer(host: lab.layout.machineAddress)
        defer { server.stop() }
        let dir = EtcdBackupLabTests.root + "ship"
        let (path, identity, apply) = try Self.applyShipping(lab, dir: dir, cluster: "shiplab", destination: """
                s3:
                  endpoint: \(server.endpoint)
                  bucket: \(server.bucket)
                  prefix: shiplab/
                  pathStyle: true
                  credentialsFile: \(server.writerCredentials)
                  operatorCredentialsFile: \(server.operatorCredentials)
        """)
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
        try #require(entries.count == 1, "\(list.all) \(journal)")
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

        // The state's PKI was published once, encrypted to the recipient, and the timer's manifest names it; a
        // re-apply publishes nothing new.
        let published = try server.boto3("print('\\n'.join(o['Key'] for o in s3.list_objects_v2(Bucket=B, Prefix='shiplab/').get('Contents', []) if '-pki-' in o['Key']))")
        #expect(published.output.split(separator: "\n").count == 1, "\(published.output)")
        #expect((entries[0]["includesPKI"] as? Bool) == true, "\(list.all)")
        let reapply = try IntegrationLab.capstan(["apply", "--only", "backup", "-i", path])
        #expect(reapply.succeeded && !reapply.all.contains("publish the PKI"), "\(reapply.all)")

        // An empty site: the state directory removed and every member wiped; the timer backup restores with only
        // the inventory, the identity and the store. The PKI comes back byte for byte, and clients holding the
        // old certificates (kept aside here, as a user's copies would be) work against the restored cluster.
        let oldPKI = dir + "/old/pki"
        try? FileManager.default.removeItem(atPath: dir + "/old")
        try FileManager.default.createDirectory(atPath: dir + "/old", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: state + "/pki", toPath: oldPKI)
        try FileManager.default.removeItem(atPath: dir + "/.capstan")
        // A backup in the store whose published PKI is another cluster's is refused after the PKI is fetched and
        // compared with the hosts, before any host changes; the state directory is left without a PKI.
        let foreign = try Self.plantForeignPKIBackup(server: server, dir: dir, realBackup: name, identity: identity)
        let refusedForeign = try IntegrationLab.capstan(["backup", "restore", "-i", path, "--from", foreign, "--yes"])
        #expect(refusedForeign.status == 2 && refusedForeign.all.contains("refusing to act"), "\(refusedForeign.all)")
        #expect(!FileManager.default.fileExists(atPath: state + "/pki"))
        let untouched = try IntegrationLab.etcdctl(stateDir: dir + "/old", certHost: "h1", endpoints: endpoints, ["get", "ship/after", "--print-value-only"])
        #expect(untouched.succeeded, "etcd was touched by a refused restore: \(untouched.all)")
        _ = try server.boto3("s3.delete_object(Bucket=B, Key='shiplab/\(foreign).manifest.json')")
        for host in ["h1", "h2", "h3"] { try lab.run(in: host, ["sh", "-c", "systemctl stop etcd && rm -rf /var/lib/etcd"]) }
        let emptyDry = try IntegrationLab.capstan(["backup", "restore", "-i", path, "--from", name, "--dry-run"])
        #expect(emptyDry.succeeded && emptyDry.stdout.contains("from the published PKI"), "\(emptyDry.all)")
        let empty = try IntegrationLab.capstan(["backup", "restore", "-i", path, "--from", name, "--yes"])
        #expect(empty.succeeded && empty.stdout.contains("restored the PKI state"), "\(empty.all)")
        let diff = try IntegrationLab.run("/usr/bin/diff", ["-r", oldPKI, state + "/pki"])
        #expect(diff.succeeded, "restored PKI differs: \(diff.all)")
        let back = try IntegrationLab.etcdctl(stateDir: dir + "/old", certHost: "h2", endpoints: endpoints, ["get", "ship/before", "--print-value-only"])
        #expect(back.succeeded && back.stdout.contains("kept"), "\(back.all)")
        let health = try IntegrationLab.etcdctl(stateDir: state, certHost: "h3", endpoints: endpoints, ["endpoint", "health"])
        #expect(health.succeeded, "\(health.all)")
        // The restored state is this cluster's: a plan against the hosts passes the identity check.
        let plan = try IntegrationLab.capstan(["plan", "-i", path])
        #expect(plan.succeeded, "\(plan.all)")

        for host in ["h1", "h2", "h3"] {
            // -I: text files only (the age binary itself carries the prefix as a string).
            let grep = try lab.run(in: host, ["sh", "-c", "grep -rlsI AGE-SECRET-KEY-1 /etc /root /usr/local /var/lib /var/backups 2>/dev/null; true"])
            #expect(grep.stdout.isEmpty, "\(host) holds an age identity: \(grep.stdout)")
        }
    }

    /// Stores `<realBackup>`'s snapshot again under a newer manifest whose published PKI is a stranger's (a
    /// fresh etcd CA), encrypted to the same recipient; returns the new backup's name.
    static func plantForeignPKIBackup(server: S3TestServer, dir: String, realBackup: String, identity: String) throws -> String {
        let work = dir + "/foreign"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work + "/pki/etcd", withIntermediateDirectories: true)
        let ca = try IntegrationLab.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                             "-subj", "/CN=etcd-ca", "-days", "1", "-keyout", work + "/pki/etcd/ca.key", "-out", work + "/pki/etcd/ca.crt"])
        try #require(ca.succeeded, "\(ca.all)")
        let recipient = try #require(try String(contentsOfFile: identity, encoding: .utf8).split(separator: "\n")
            .first { $0.hasPrefix("# public key: ") }?.dropFirst("# public key: ".count))
        let made = try IntegrationLab.run("/bin/sh", ["-c", "tar -C \(work) -cf \(work)/pki.tar pki && age -r \(recipient) -o \(work)/pki.tar.age \(work)/pki.tar"])
        try #require(made.succeeded, "\(made.all)")
        func digest(_ file: String) throws -> String { String(try IntegrationLab.run("/usr/bin/sha256sum", [file]).stdout.prefix(64)) }
        func size(_ file: String) throws -> Int { (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0 }
        let object = "shiplab-pki-foreign.pki.tar.age"
        let foreign = "shiplab-20990101T000000Z"
        #expect(try server.boto3("s3.download_file(B, 'shiplab/\(realBackup).manifest.json', '\(work)/real.json')").status == 0)
        var manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/real.json"))) as? [String: Any])
        manifest["name"] = foreign
        manifest["sharedPKI"] = ["name": object, "plaintextSHA256": try digest(work + "/pki.tar"), "plaintextSize": try size(work + "/pki.tar"),
                                 "storedSHA256": try digest(work + "/pki.tar.age"), "storedSize": try size(work + "/pki.tar.age")]
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: work + "/foreign.json"))
        #expect(try server.boto3("s3.upload_file('\(work)/pki.tar.age', B, 'shiplab/\(object)')").status == 0)
        #expect(try server.boto3("s3.upload_file('\(work)/foreign.json', B, 'shiplab/\(foreign).manifest.json')").status == 0)
        return foreign
    }

    /// What the store's authorized_keys entry allows the etcd hosts' upload key: internal-sftp only, starting
    /// in the backup directory, every request that reads, lists, removes, renames or changes attributes denied.
    static func uploadOnlyEntry(publicKey: String, directory: String) -> String {
        "restrict,command=\"internal-sftp -d \(directory) -P read,readdir,opendir,remove,rmdir,rename,posix-rename,setstat,fsetstat,lsetstat,symlink,hardlink,readlink,copy-data\" \(publicKey)"
    }

    @Test("the timer ships to an SFTP store (real sshd on a lab host) as an upload-only account: the backup is listed, verified and opened with `age -d`; the host's key cannot read, list, remove or rename there, nor run a command; the PKI is published there too; a host without age stops apply naming the package")
    func timerShipsToSFTP() throws {
        let lab = try IntegrationLab.lab()
        try EtcdBackupLabTests().wipeAll(lab)
        let dir = EtcdBackupLabTests.root + "ship-sftp"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)

        // h5 is the store: an account for the etcd hosts' uploads, its key limited by authorized_keys.
        let store = "/srv/etcd-backups"
        let uploadKey = dir + "/upload_key"
        #expect(try IntegrationLab.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "etcd-upload", "-f", uploadKey]).succeeded)
        let publicKey = try String(contentsOfFile: uploadKey + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let entry = Self.uploadOnlyEntry(publicKey: publicKey, directory: store)
        let setup = try lab.run(in: "h5", ["sh", "-c", """
            id etcdup >/dev/null 2>&1 || useradd -m -s /usr/sbin/nologin etcdup
            rm -rf \(store) && install -d -o etcdup -g root -m 2370 \(store)
            install -d -o etcdup -g etcdup -m 0700 /home/etcdup/.ssh
            printf '%s\\n' '\(entry)' > /home/etcdup/.ssh/authorized_keys
            chown etcdup:etcdup /home/etcdup/.ssh/authorized_keys && chmod 0600 /home/etcdup/.ssh/authorized_keys
            """])
        try #require(setup.status == 0, "\(setup.stderr)")
        let (path, identity, apply) = try Self.applyShipping(lab, dir: dir, cluster: "sftplab", destination: """
                sftp:
                  host: \(lab.layout.hostAddress(5))
                  path: \(store)
                  uploadUser: etcdup
                  uploadIdentityFile: \(uploadKey)
        """)
        try #require(apply.succeeded, "apply failed: \(apply.all)")
        #expect(apply.all.contains("publish the PKI"), "\(apply.all)")
        let mode = try lab.run(in: "h2", ["stat", "-c", "%a %U", "/etc/capstan/etcd-backup-sftp.key"]).stdout
        #expect(mode.trimmingCharacters(in: .whitespacesAndNewlines) == "600 root")

        let state = dir + "/.capstan/sftplab"
        let endpoints = (1...3).map { "https://\(lab.layout.hostAddress($0)):2379" }
        #expect(try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints, ["put", "sftp/before", "kept"]).succeeded)
        let run = try lab.run(in: "h1", ["systemctl", "start", "etcd-backup.service"])
        let journal = try lab.run(in: "h1", ["journalctl", "-u", "etcd-backup.service", "-n", "20", "--no-pager"]).stdout
        #expect(run.status == 0, "\(run.stderr) \(journal)")
        #expect(journal.contains("shipped: sftplab-"), "\(journal)")

        let list = try IntegrationLab.capstan(["backup", "list", "-i", path, "--output", "json"])
        let entries = (try? JSONSerialization.jsonObject(with: Data(list.stdout.utf8))) as? [[String: Any]] ?? []
        try #require(entries.count == 1, "\(list.all) \(journal)")
        let name = try #require(entries[0]["name"] as? String)
        #expect((entries[0]["includesPKI"] as? Bool) == true, "\(list.all)")
        let verify = try IntegrationLab.capstan(["backup", "verify", "-i", path, name])
        #expect(verify.succeeded && verify.stdout.contains("\(name): ok"), "\(verify.all)")
        let storeRoot = try lab.host(named: "h5").machinePath + store
        #expect(try IntegrationLab.run("/usr/bin/age", ["-d", "-i", identity, "-o", dir + "/snapshot.db", storeRoot + "/\(name).snapshot.db.age"]).succeeded)
        let status = try IntegrationLab.run("/usr/bin/etcdctl", ["snapshot", "status", dir + "/snapshot.db", "-w", "json"], environment: ["ETCDCTL_API": "3"])
        #expect(status.succeeded && status.stdout.contains("\"revision\""), "\(status.all)")

        // The upload key as the etcd host holds it: a new file goes up; reading, listing, removing and renaming
        // what is there are refused, and so is a shell command.
        let h5 = lab.layout.hostAddress(5)
        func sftp(_ batch: String) throws -> LocalProcess.Output {
            try lab.run(in: "h1", ["sh", "-c", "printf '\(batch)\\n' | sftp -b - -q -i /etc/capstan/etcd-backup-sftp.key -o BatchMode=yes -o IdentitiesOnly=yes -o UserKnownHostsFile=/etc/capstan/etcd-backup-sftp.known_hosts etcdup@\(h5)"])
        }
        #expect(try sftp("put /etc/hostname \(store)/probe").status == 0)
        #expect(FileManager.default.fileExists(atPath: storeRoot + "/probe"))
        let manifest = "\(store)/\(name).manifest.json"
        #expect(try sftp("get \(manifest) /tmp/stolen").status != 0)
        #expect(try lab.run(in: "h1", ["test", "-s", "/tmp/stolen"]).status != 0)
        #expect(try sftp("ls \(store)").status != 0)
        #expect(try sftp("rm \(manifest)").status != 0)
        #expect(try sftp("rename \(manifest) \(store)/moved").status != 0)
        #expect(try sftp("chmod 644 \(manifest)").status != 0)
        #expect(FileManager.default.fileExists(atPath: storeRoot + "/\(name).manifest.json"))
        let shell = try lab.run(in: "h1", ["ssh", "-i", "/etc/capstan/etcd-backup-sftp.key", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                                           "-o", "UserKnownHostsFile=/etc/capstan/etcd-backup-sftp.known_hosts", "etcdup@\(h5)", "id"])
        #expect(shell.status != 0 && !shell.stdout.contains("uid="), "\(shell.stdout) \(shell.stderr)")

        for host in ["h1", "h2", "h3"] {
            let grep = try lab.run(in: host, ["sh", "-c", "grep -rlsI AGE-SECRET-KEY-1 /etc /root /usr/local /var/lib /var/backups 2>/dev/null; true"])
            #expect(grep.stdout.isEmpty, "\(host) holds an age identity: \(grep.stdout)")
        }
        // A host without `age` gets Debian's package from its own repositories; the lab hosts have none
        // reachable, so apply stops naming the host and the package.
        try FileManager.default.removeItem(atPath: try lab.host(named: "h3").machinePath + "/usr/local/bin/age")
        let noAge = try IntegrationLab.capstan(["apply", "--only", "backup", "-i", path])
        #expect(!noAge.succeeded && noAge.all.contains("h3") && noAge.all.contains("apt-get install age"), "\(noAge.all)")
        _ = try lab.run(in: "h5", ["sh", "-c", "rm -rf \(store); userdel -r etcdup 2>/dev/null; true"])
    }

    /// A 3-member stacked inventory in `dir` whose timer ships to `destination` (the YAML under `destination:`),
    /// encrypted to a new identity kept here; the hosts get Debian's age binary (the timer encrypts with it);
    /// then `apply --only pki,etcd,backup`. Returns the inventory, the identity file and apply's run.
    static func applyShipping(_ lab: Lab, dir: String, cluster: String, destination: String) throws -> (String, String, IntegrationLab.Run) {
        let path = try IntegrationLab.writeInventory(lab, directory: dir, cluster: cluster, roles: [1: ["control-plane", "etcd"], 2: ["control-plane", "etcd"], 3: ["control-plane", "etcd"]])
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
        \(destination)

        """
        let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "    topology: stacked\n", with: policy)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        for host in ["h1", "h2", "h3"] {
            let target = try lab.host(named: host).machinePath + "/usr/local/bin/age"
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.copyItem(atPath: "/usr/bin/age", toPath: target)
        }
        return (path, identity, try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", path]))
    }
}
