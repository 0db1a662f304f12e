import Foundation
import Testing
import TestSupport
import Lab

/// The etcd workflow end to end on real systemd-nspawn hosts, driven through the built `capstan`
/// binary; etcdctl on this machine and systemd on the hosts are the independent witnesses.
@Suite("etcd on lab hosts through capstan apply/status", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct EtcdClusterLabTests {
    let cp: [String] = ["control-plane", "etcd"]

    func scenario(_ name: String) -> String {
        Scratch.directory("etcd-lab") + "/" + name
    }

    func endpoints(_ lab: Lab, _ numbers: [Int]) -> [String] {
        numbers.map { "https://\(lab.layout.hostAddress($0)):2379" }
    }

    @Test("bare hosts → healthy 3-member cluster; put/get from outside with a client cert; a no-op re-apply writes and restarts nothing")
    func bootstrapAndNoOp() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let dir = scenario("stacked")
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "etcdlab", roles: [1: cp, 2: cp, 3: cp])

        let first = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory])
        #expect(first.succeeded, "apply failed: \(first.all)")
        print("MEASURED bare → healthy 3-member cluster: \(String(format: "%.2f", first.seconds)) s")

        let state = dir + "/.capstan/etcdlab"
        let put = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints(lab, [1, 2, 3]), ["put", "capstan/probe", "hello-\(getpid())"])
        #expect(put.succeeded, "put failed: \(put.all)")
        let get = try IntegrationLab.etcdctl(stateDir: state, certHost: "h2", endpoints: endpoints(lab, [3]), ["get", "capstan/probe", "--print-value-only"])
        #expect(get.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "hello-\(getpid())")
        let members = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints(lab, [1]), ["member", "list"])
        #expect(members.stdout.split(separator: "\n").count == 3)
        for name in ["h1", "h2", "h3"] { #expect(members.stdout.contains(", \(name), https://"), "\(name) missing: \(members.stdout)") }
        // Without a client certificate the cluster refuses (client-cert-auth).
        let anonymous = try IntegrationLab.run("/usr/bin/etcdctl", ["--endpoints=\(endpoints(lab, [1])[0])", "--cacert=\(state)/pki/etcd/ca.crt", "--dial-timeout=3s", "--command-timeout=5s", "get", "capstan/probe"], environment: ["ETCDCTL_API": "3"])
        #expect(!anonymous.succeeded)

        // The CA key never reaches a host; data dir is 0700 etcd; the member's key is the etcd user's.
        let perms = try lab.run(in: "h1", ["sh", "-c", "stat -c '%a %U' /var/lib/etcd /etc/kubernetes/pki/etcd/server.key; ls /etc/kubernetes/pki/etcd"])
        #expect(perms.stdout.contains("700 etcd\n600 etcd"), "\(perms.stdout)")
        #expect(!perms.stdout.contains("ca.key"))

        let before = try ["h1", "h2", "h3"].map { try IntegrationLab.startStamp(lab, $0) }
        let again = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory, "--output", "json"])
        #expect(again.succeeded, "\(again.all)")
        print("MEASURED no-op re-apply: \(String(format: "%.2f", again.seconds)) s")
        let after = try ["h1", "h2", "h3"].map { try IntegrationLab.startStamp(lab, $0) }
        #expect(before == after, "a member restarted")
        #expect(!before[0].contains("ActiveEnterTimestampMonotonic=0"))
        let actionLines = again.stdout.split(separator: "\n").filter { $0.contains("\"kind\":\"action\"") }
        #expect(actionLines.isEmpty, "no-op apply acted: \(actionLines)")
        #expect(again.stdout.contains("made 0 change(s)"))

        let (status, json) = try IntegrationLab.statusJSON(inventory)
        #expect(status.succeeded)
        #expect(json["healthy"] as? Bool == true)
        #expect(IntegrationLab.memberNames(json) == ["h1", "h2", "h3"])
        #expect(json["leader"] as? String != nil)

        // spec.etcd.extraArgs under a write load: the members restart one at a time (the leader last), each
        // runs with the flags, no acknowledged write is lost, and the next apply changes nothing.
        let tuned = dir + "/tuned.yaml"
        try (try String(contentsOfFile: inventory, encoding: .utf8)).replacingOccurrences(
            of: "    topology: stacked\n",
            with: "    topology: stacked\n    extraArgs: {auto-compaction-mode: periodic, auto-compaction-retention: 1h, snapshot-count: 5000}\n")
            .write(toFile: tuned, atomically: true, encoding: .utf8)
        let plan = try IntegrationLab.capstan(["plan", "--offline", "-i", tuned])
        #expect(plan.stdout.contains("etcd --snapshot-count=5000  (replaces Capstan's default 10000)"), "\(plan.stdout)")
        let eps = endpoints(lab, [1, 2, 3])
        let load = WriteLoad()
        load.start { key in
            ((try? IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: eps, ["put", key, "v"]))?.succeeded) ?? false
        }
        try #require(load.waitForAcknowledged(3), "the write load got no write through")
        let leader = json["leader"] as? String ?? ""
        let flagged = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", tuned])
        #expect(load.waitForAcknowledged(load.acknowledged.count + 3), "no write got through after the flag roll-out")
        let (acked, failed, gap) = load.finish()
        #expect(flagged.succeeded, "\(flagged.all)")
        print("MEASURED write load during an etcd flag roll-out: \(acked.count) acknowledged, \(failed) failed attempts, longest gap \(String(format: "%.2f", gap)) s")
        let restarts = flagged.stdout.split(separator: "\n").filter { $0.contains("systemctl restart etcd") }
        #expect(restarts.count == 3 && restarts.last?.contains("[\(leader)]") == true, "one restart per member, the leader last: \(restarts)")
        for host in ["h1", "h2", "h3"] {
            let line = try lab.run(in: host, ["sh", "-c", "tr '\\0' ' ' < /proc/$(systemctl show -p MainPID --value etcd.service)/cmdline"]).stdout
            #expect(line.contains("--auto-compaction-retention=1h") && line.contains("--snapshot-count=5000") && !line.contains("--snapshot-count=10000"), "\(host): \(line)")
        }
        let keys = try IntegrationLab.etcdctl(stateDir: state, certHost: "h2", endpoints: eps, ["get", "load/", "--prefix", "--keys-only"])
        let stored = Set(keys.stdout.split(separator: "\n").map(String.init).filter { !$0.isEmpty })
        #expect(acked.count > 10, "the load must have run")
        #expect(acked.filter { !stored.contains($0) }.isEmpty, "acknowledged writes lost")
        let settled = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", tuned])
        #expect(settled.stdout.contains("made 0 change(s)"), "\(settled.all)")
    }

    @Test("a powered-off member: the cluster serves, status shows it down (exit 1), apply refuses; powered on, it rejoins")
    func memberDownAndBack() throws {
        let lab = try IntegrationLab.lab()
        let dir = scenario("stacked")
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "etcdlab", roles: [1: cp, 2: cp, 3: cp])
        #expect(try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory]).succeeded)
        let state = dir + "/.capstan/etcdlab"

        try lab.stop(host: "h2")
        defer { try? lab.start(host: "h2") }
        let put = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints(lab, [1, 3]), ["put", "capstan/down", "still-serving"])
        #expect(put.succeeded, "\(put.all)")
        let (status, json) = try IntegrationLab.statusJSON(inventory)
        #expect(status.status == 1)
        let rows = (json["rows"] as? [[String: Any]]) ?? []
        let h2 = rows.first { $0["host"] as? String == "h2" }
        #expect(h2?["reachable"] as? Bool == false)
        #expect(h2?["healthy"] as? Bool == false)
        #expect(rows.filter { $0["healthy"] as? Bool == true }.count == 2)
        let text = try IntegrationLab.capstan(["status", "-i", inventory])
        #expect(text.stdout.contains("UNHEALTHY"))

        let refused = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("refusing to change etcd") && refused.stderr.contains("h2"), "\(refused.stderr)")

        try lab.start(host: "h2")
        // etcd is enabled, so it starts with the host and rejoins by itself; status turns healthy.
        var rejoined = false
        for _ in 0..<60 where !rejoined {
            rejoined = try IntegrationLab.statusJSON(inventory).0.succeeded
            if !rejoined { sleep(1) }
        }
        #expect(rejoined, "h2 did not rejoin within 60 s")
        let back = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory])
        #expect(back.succeeded, "\(back.all)")
        let get = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints(lab, [2]), ["get", "capstan/down", "--print-value-only", "--consistency=s"])
        #expect(get.stdout.contains("still-serving"), "h2 did not catch up: \(get.all)")
        let (ok, _) = try IntegrationLab.statusJSON(inventory)
        #expect(ok.succeeded)
    }

    @Test("scale 3 → 5 (learners, promoted) → 3 (removed before stopped, data moved aside)")
    func scaleUpAndDown() throws {
        let lab = try IntegrationLab.lab()
        let dir = scenario("stacked")
        let three = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "etcdlab", roles: [1: cp, 2: cp, 3: cp, 4: ["worker"], 5: ["worker"]])
        #expect(try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", three]).succeeded)
        let five = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "etcdlab", roles: [1: cp, 2: cp, 3: cp, 4: cp, 5: cp])
        let up = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", five])
        #expect(up.succeeded, "\(up.all)")
        #expect(up.stdout.contains("--learner"))
        #expect(up.stdout.contains("member promote h4") && up.stdout.contains("member promote h5"))
        let (s5, j5) = try IntegrationLab.statusJSON(five)
        #expect(s5.succeeded)
        #expect(IntegrationLab.memberNames(j5) == ["h1", "h2", "h3", "h4", "h5"])

        let back = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "etcdlab", roles: [1: cp, 2: cp, 3: cp, 4: ["worker"], 5: ["worker"]])
        let down = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", back])
        #expect(down.succeeded, "\(down.all)")
        // Each member leaves the member list before its etcd is stopped.
        let lines = down.stdout.split(separator: "\n").map(String.init)
        for host in ["h4", "h5"] {
            let removeAt = lines.firstIndex { $0.contains("member remove \(host) (") }
            let stopAt = lines.firstIndex { $0.contains("[\(host)]") && $0.contains("stop etcd and move /var/lib/etcd aside") }
            #expect(removeAt != nil && stopAt != nil && removeAt! < stopAt!, "\(host): remove must come before stop")
        }
        let (s3, j3) = try IntegrationLab.statusJSON(back)
        #expect(s3.succeeded)
        #expect(IntegrationLab.memberNames(j3) == ["h1", "h2", "h3"])
        for host in ["h4", "h5"] {
            let left = try lab.run(in: host, ["sh", "-c", "systemctl is-active etcd; ls -d /var/lib/etcd.removed-*/member"])
            #expect(left.stdout.hasPrefix("inactive"), "\(host): \(left.stdout)")
            #expect(left.stdout.contains("/var/lib/etcd.removed-"), "data of \(host) must be moved aside, not deleted")
        }
    }

    @Test("a dead first member (data wiped) is refused without --replace and replaced with it")
    func replaceFirstMember() throws {
        let lab = try IntegrationLab.lab()
        let dir = scenario("stacked")
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "etcdlab", roles: [1: cp, 2: cp, 3: cp])
        #expect(try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory]).succeeded)
        let state = dir + "/.capstan/etcdlab"
        _ = try IntegrationLab.etcdctl(stateDir: state, certHost: "h2", endpoints: endpoints(lab, [2, 3]), ["put", "capstan/replace", "kept"])
        let oldID = try IntegrationLab.etcdctl(stateDir: state, certHost: "h2", endpoints: endpoints(lab, [2]), ["member", "list"]).stdout
            .split(separator: "\n").first { $0.contains(", h1, ") }.map { String($0.split(separator: ",")[0]) }

        try lab.run(in: "h1", ["sh", "-c", "systemctl stop etcd; rm -rf /var/lib/etcd/member"])
        let refused = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("--replace"), "\(refused.stderr)")

        let replaced = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory, "--replace", "h1"])
        #expect(replaced.succeeded, "\(replaced.all)")
        let list = try IntegrationLab.etcdctl(stateDir: state, certHost: "h2", endpoints: endpoints(lab, [2]), ["member", "list"]).stdout
        let newID = list.split(separator: "\n").first { $0.contains(", h1, ") }.map { String($0.split(separator: ",")[0]) }
        #expect(newID != nil && newID != oldID, "h1 must be a new member: \(list)")
        let get = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints(lab, [1]), ["get", "capstan/replace", "--print-value-only", "--consistency=s"])
        #expect(get.stdout.contains("kept"))
    }

    @Test("a new etcd version: plain apply refuses; capstan upgrade apply rolls one member at a time, the leader last, each gated on health")
    func rollingUpgrade() throws {
        let lab = try IntegrationLab.lab()
        let dir = scenario("stacked")
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "etcdlab", roles: [1: cp, 2: cp, 3: cp])
        #expect(try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory]).succeeded)
        let (_, before) = try IntegrationLab.statusJSON(inventory)
        let leader = try #require(before["leader"] as? String)
        let upgraded = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "etcdlab", version: "3.5.1", roles: [1: cp, 2: cp, 3: cp])
        try IntegrationLab.addBackupStore(toInventory: upgraded)
        let refused = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", upgraded])
        #expect(!refused.succeeded && refused.all.contains("capstan upgrade apply"), "a plain apply never upgrades: \(refused.all)")
        let roll = try IntegrationLab.capstan(["upgrade", "apply", "-i", upgraded, "--to", "v1.31.4", "--yes", "--output", "json"])
        #expect(roll.succeeded, "\(roll.all)")
        let restarts = roll.stdout.split(separator: "\n").filter { $0.contains("\"kind\":\"action\"") && $0.contains("systemctl restart etcd") }
            .compactMap { line -> String? in
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
                return o["host"] as? String
            }
        #expect(restarts.count == 3)
        #expect(restarts.last == leader, "leader \(leader) must be last: \(restarts)")
        let (s, after) = try IntegrationLab.statusJSON(upgraded)
        #expect(s.succeeded)
        let versions = ((after["rows"] as? [[String: Any]]) ?? []).compactMap { $0["version"] as? String }
        #expect(versions == ["3.5.1", "3.5.1", "3.5.1"])
    }

    @Test("external topology: etcd on dedicated hosts, control plane elsewhere")
    func externalTopology() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let dir = scenario("external")
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "etcdext", topology: "external",
                                                   roles: [1: ["control-plane"], 2: ["etcd"], 3: ["etcd"], 4: ["etcd"], 5: ["worker"]])
        let r = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory])
        #expect(r.succeeded, "\(r.all)")
        let (s, json) = try IntegrationLab.statusJSON(inventory)
        #expect(s.succeeded)
        #expect(IntegrationLab.memberNames(json) == ["h2", "h3", "h4"])
        let h1 = try lab.run(in: "h1", ["sh", "-c", "systemctl is-active etcd; test -e /usr/local/bin/etcd && echo has-etcd; true"])
        #expect(!h1.stdout.contains("has-etcd"))
    }

    @Test("a tampered etcd archive is refused before anything reaches a host")
    func tamperedArtifact() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let dir = scenario("tampered")
        let artifacts = dir + "/artifacts"
        try? FileManager.default.removeItem(atPath: artifacts)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: LabLayout.artifactDirectory + "/etcd", toPath: artifacts + "/etcd")
        let archive = artifacts + "/etcd/v3.4.23/etcd-v3.4.23-linux-amd64.tar.gz"
        let handle = try #require(FileHandle(forUpdatingAtPath: archive))
        handle.seek(toFileOffset: 4096)
        handle.write(Data("tampered".utf8))
        try handle.close()
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "etcdbad", artifacts: artifacts, roles: [1: cp, 2: cp, 3: cp])
        let r = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory])
        #expect(r.status == 1)
        #expect(r.stderr.contains("checksum mismatch"), "\(r.stderr)")
        for host in ["h1", "h2", "h3"] {
            let bare = try lab.run(in: host, ["sh", "-c", "ls /usr/local/bin/etcd /etc/systemd/system/etcd.service /etc/kubernetes 2>&1; id etcd 2>&1; true"])
            #expect(bare.stdout.contains("No such file") && !bare.stdout.contains("uid="), "\(host) was touched: \(bare.stdout)")
        }
    }
}
