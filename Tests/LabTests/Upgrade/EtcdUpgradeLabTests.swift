import Foundation
import Testing
import TestSupport
import Lab

/// `capstan upgrade` end to end on real systemd-nspawn hosts with real etcd 3.4.23 and 3.5.1; etcdctl
/// and curl on this machine are the independent witnesses (writes, reads, server and cluster versions).
@Suite("etcd upgrades on lab hosts through capstan upgrade", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct EtcdUpgradeLabTests {
    let cp: [String] = ["control-plane", "etcd"]
    let hosts = ["h1", "h2", "h3"]

    func scenario(_ name: String) -> String {
        Scratch.directory("upgrade-lab") + "/" + name
    }

    func endpoints(_ lab: Lab) -> [String] {
        [1, 2, 3].map { "https://\(lab.layout.hostAddress($0)):2379" }
    }

    /// A 3-member etcd 3.4.23 cluster from bare hosts, and the inventory asking for 3.5.1 (with an encrypted local backup store).
    func bootstrap(_ lab: Lab, _ name: String) throws -> (inventory: String, state: String) {
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let dir = scenario(name)
        try? FileManager.default.removeItem(atPath: dir)
        let old = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "upglab", roles: [1: cp, 2: cp, 3: cp])
        #expect(try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", old]).succeeded)
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "upglab", version: "3.5.1", roles: [1: cp, 2: cp, 3: cp])
        try IntegrationLab.addBackupStore(toInventory: inventory)
        return (inventory, dir + "/.capstan/upglab")
    }

    /// `{"etcdserver":"3.5.1","etcdcluster":"3.5.0"}` from /version of one member, or nil when it does not answer.
    func versions(_ state: String, _ endpoint: String) throws -> (server: String, cluster: String)? {
        let pki = state + "/pki"
        let r = try IntegrationLab.run("/usr/bin/curl", ["-s", "--max-time", "2", "--cacert", "\(pki)/etcd/ca.crt",
                                                        "--cert", "\(pki)/hosts/h1/etcd/healthcheck-client.crt", "--key", "\(pki)/hosts/h1/etcd/healthcheck-client.key",
                                                        endpoint + "/version"])
        guard r.succeeded, let o = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: String],
              let s = o["etcdserver"], let c = o["etcdcluster"] else { return nil }
        return (s, c)
    }

    /// Versions of every member once the cluster version has settled (etcd's leader raises it a few
    /// seconds after the last member runs the new server), at most 20 s.
    func settledVersions(_ lab: Lab, _ state: String) throws -> [(server: String, cluster: String)] {
        var last: [(server: String, cluster: String)] = []
        for _ in 0..<40 {
            last = try endpoints(lab).compactMap { try versions(state, $0) }
            if last.count == 3 && last.allSatisfy({ $0.cluster.hasPrefix("3.5") }) { break }
            usleep(500_000)
        }
        return last
    }

    func record(_ state: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: state + "/upgrade.json")))) as? [String: Any] ?? [:]
    }

    @Test("3.4.23 → 3.5.1 under a write load: plain apply refuses first; every acknowledged write readable; cluster version 3.5 only after the last member; rollback then points to the restore")
    func upgradeUnderLoad() throws {
        let lab = try IntegrationLab.lab()
        let (inventory, state) = try bootstrap(lab, "load")
        let eps = endpoints(lab)

        let plain = try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory])
        #expect(!plain.succeeded)
        #expect(plain.all.contains("capstan upgrade apply"), "plain apply must point to the upgrade command")

        let plan = try IntegrationLab.capstan(["upgrade", "plan", "-i", inventory, "--to", "v1.31.4", "--output", "json"])
        #expect(plan.succeeded, "\(plan.all)")
        let planned = (try? JSONSerialization.jsonObject(with: Data(plan.stdout.utf8))) as? [String: Any] ?? [:]
        let steps = (planned["steps"] as? [[String: Any]]) ?? []
        let leader = planned["etcdLeader"] as? String
        #expect(steps.count == 3)
        #expect((steps.last?["hosts"] as? [String]) == [leader ?? "?"], "leader last: \(steps)")

        let load = WriteLoad()
        load.start { key in
            ((try? IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: eps, ["put", key, "v"]))?.succeeded) ?? false
        }
        try #require(load.waitForAcknowledged(3), "the write load got no write through")
        // Sample server and cluster versions of every member while the upgrade runs.
        let samples = LockedSamples()
        let sampler = Thread {
            while !samples.stopped {
                var row: [(String, String)] = []
                for ep in eps { if let v = try? versions(state, ep) { row.append(v) } }
                samples.add(row)
                usleep(300_000)
            }
        }
        sampler.start()
        let upgrade = try IntegrationLab.capstan(["upgrade", "apply", "-i", inventory, "--to", "v1.31.4", "--yes"])
        sleep(3)
        samples.stop()
        #expect(load.waitForAcknowledged(load.acknowledged.count + 3), "no write got through after the upgrade")
        let (acked, failed, gap) = load.finish()
        #expect(upgrade.succeeded, "\(upgrade.all)")
        print("write load: \(acked.count) acknowledged, \(failed) failed attempts (client retries), longest gap between acknowledged writes \(String(format: "%.2f", gap))s")

        let keys = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: eps, ["get", "load/", "--prefix", "--keys-only"])
        let stored = Set(keys.stdout.split(separator: "\n").map(String.init).filter { !$0.isEmpty })
        let missing = acked.filter { !stored.contains($0) }
        #expect(acked.count > 20, "the load must have run during the upgrade")
        #expect(missing.isEmpty, "acknowledged writes lost: \(missing.prefix(10))")
        #expect(gap < 15, "no quorum loss: writes resumed within seconds of each restart")

        let rows = samples.rows
        let early = rows.filter { row in row.contains { $0.1.hasPrefix("3.5") } && row.contains { $0.0.hasPrefix("3.4") } }
        #expect(early.isEmpty, "cluster version 3.5 while a member still ran 3.4: \(early.prefix(3))")
        #expect(rows.contains { row in row.contains { $0.1.hasPrefix("3.4") } }, "the sampler saw the 3.4 cluster")
        let final = try settledVersions(lab, state)
        #expect(final.count == 3 && final.allSatisfy { $0.0 == "3.5.1" && $0.1.hasPrefix("3.5") }, "\(final)")

        let rec = record(state)
        #expect(rec["status"] as? String == "completed")
        let point = try #require((rec["rollbackPoint"] as? [String: Any])?["backup"] as? String)
        #expect(FileManager.default.fileExists(atPath: state + "/backups/" + point + ".manifest.json") || ((try? FileManager.default.contentsOfDirectory(atPath: state + "/backups")) ?? []).contains { $0.hasPrefix(point) })

        #expect(try IntegrationLab.capstan(["apply", "--only", "pki,etcd,backup", "-i", inventory]).succeeded, "after the upgrade the inventory matches what runs")
        let rollback = try IntegrationLab.capstan(["upgrade", "rollback", "-i", inventory, "--yes"])
        #expect(!rollback.succeeded)
        #expect(rollback.all.contains("capstan backup restore -i \(inventory) --from \(point)"), "\(rollback.all)")
    }

    @Test("a member that cannot start on 3.5.1 stops the upgrade there; the others stay healthy; fixed, a re-run finishes")
    func failingMemberStops() throws {
        let lab = try IntegrationLab.lab()
        let (inventory, state) = try bootstrap(lab, "fail")
        let (_, status) = try IntegrationLab.statusJSON(inventory)
        let leader = try #require(status["leader"] as? String)
        let victim = try #require(hosts.first { $0 != leader })
        // Deterministic failure on the new version only: the unit refuses to start any etcd but 3.4.
        let dropIn = "/etc/systemd/system/etcd.service.d"
        try lab.run(in: victim, ["sh", "-c", "mkdir -p \(dropIn) && printf '[Service]\\nExecStartPre=/bin/sh -c \"/usr/local/bin/etcd --version | grep -q \\\"Version: 3.4\\\"\"\\n' > \(dropIn)/capstan-test-fail.conf && systemctl daemon-reload"])

        let upgrade = try IntegrationLab.capstan(["upgrade", "apply", "-i", inventory, "--to", "v1.31.4", "--yes", "--health-timeout", "20"])
        #expect(!upgrade.succeeded)
        #expect(upgrade.stderr.contains("stopped at \(victim)"), "\(upgrade.stderr)")
        #expect(upgrade.stderr.contains("to resume") && upgrade.stderr.contains("capstan upgrade rollback"))
        #expect(record(state)["status"] as? String == "failed")
        #expect(record(state)["stoppedAt"] as? String == victim)

        let others = [1, 2, 3].filter { lab.layout.hostName($0) != victim }.map { "https://\(lab.layout.hostAddress($0)):2379" }
        let health = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: others, ["endpoint", "health"])
        #expect(health.succeeded, "the remaining members serve: \(health.all)")
        #expect(try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: others, ["put", "after/failure", "ok"]).succeeded)
        let leaderVersion = try versions(state, "https://\(lab.layout.hostAddress(Int(leader.dropFirst()) ?? 1)):2379")
        #expect(leaderVersion?.server == "3.4.23", "the leader is last and was not touched")

        try lab.run(in: victim, ["sh", "-c", "rm -f \(dropIn)/capstan-test-fail.conf && systemctl daemon-reload"])
        let resume = try IntegrationLab.capstan(["upgrade", "apply", "-i", inventory, "--to", "v1.31.4", "--yes"])
        #expect(resume.succeeded, "\(resume.all)")
        #expect(resume.stdout.contains("resuming the upgrade"))
        #expect(record(state)["status"] as? String == "completed")
        let final = try settledVersions(lab, state)
        #expect(final.count == 3 && final.allSatisfy { $0.0 == "3.5.1" })
    }

    @Test("capstan killed (SIGKILL) mid-upgrade: a re-run continues with the same rollback point and finishes")
    func resumeAfterKill() throws {
        let lab = try IntegrationLab.lab()
        let (inventory, state) = try bootstrap(lab, "kill")
        // Kill right after the first member's restart is under way.
        let killed = try IntegrationLab.capstanKilled(["upgrade", "apply", "-i", inventory, "--to", "v1.31.4", "--yes"], timeoutSeconds: 180) {
            $0.contains("systemctl restart etcd") ? "first member restarting" : nil
        }
        #expect(killed.byKill, "capstan ended before the first restart: \(killed.output)")
        let before = record(state)
        #expect(before["status"] as? String == "in-progress")
        let point = (before["rollbackPoint"] as? [String: Any])?["backup"] as? String

        let resume = try IntegrationLab.capstan(["upgrade", "apply", "-i", inventory, "--to", "v1.31.4", "--yes"])
        #expect(resume.succeeded, "\(resume.all)")
        #expect(resume.stdout.contains("resuming the upgrade"))
        let after = record(state)
        #expect(after["status"] as? String == "completed")
        #expect((after["rollbackPoint"] as? [String: Any])?["backup"] as? String == point, "the same rollback point")
        let final = try settledVersions(lab, state)
        #expect(final.count == 3 && final.allSatisfy { $0.0 == "3.5.1" && $0.1.hasPrefix("3.5") }, "\(final)")
    }
}

final class LockedSamples: @unchecked Sendable {
    private let lock = NSLock()
    private var data: [[(String, String)]] = []
    private var done = false
    func add(_ row: [(String, String)]) { lock.withLock { data.append(row) } }
    func stop() { lock.withLock { done = true } }
    var stopped: Bool { lock.withLock { done } }
    var rows: [[(String, String)]] { lock.withLock { data } }
}
