import Foundation
import Inventory
import Lab
import PKI
import Testing
import TestSupport

/// A copied inventory (no state directory beside it) or another cluster's state directory must never
/// touch a running cluster: every host-changing command is refused before it writes, and etcd keeps its
/// quorum and data. Real etcd on lab hosts; etcdctl on this machine is the witness.
@Suite("Cluster identity on lab hosts: copies of the inventory are refused", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct ClusterIdentityLabTests {
    let cp = ["control-plane", "etcd"]
    let hosts = ["h1", "h2", "h3"]

    func scenario(_ name: String) -> String { Scratch.directory("identity-lab") + "/" + name }

    func endpoints(_ lab: Lab) -> [String] { [1, 2, 3].map { "https://\(lab.layout.hostAddress($0)):2379" } }

    /// What a refused command must leave exactly as it was: every file under /etc/kubernetes and
    /// /etc/capstan (path and hash) and etcd's start stamp, per host.
    func fingerprint(_ lab: Lab) throws -> [String: String] {
        var out: [String: String] = [:]
        for host in hosts {
            let files = try lab.run(in: host, ["sh", "-c", "find /etc/kubernetes /etc/capstan -type f -exec sha256sum {} + 2>/dev/null | sort"]).stdout
            out[host] = files + (try IntegrationLab.startStamp(lab, host))
        }
        return out
    }

    func copyInventory(_ inventory: String, to name: String) throws -> String {
        let dir = scenario(name)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let copy = dir + "/inventory.yaml"
        try? FileManager.default.removeItem(atPath: copy)
        try FileManager.default.copyItem(atPath: inventory, toPath: copy)
        return copy
    }

    func readKeys(_ lab: Lab, state: String) throws -> Int {
        let r = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints(lab), ["get", "identity/", "--prefix", "--keys-only"])
        return r.stdout.split(separator: "\n").filter { !$0.isEmpty }.count
    }

    @Test("plan, apply, certs rotate, backup restore and upgrade apply from a copy with an empty or a foreign state are refused with no change; state import, then apply: 0 changes")
    func copiesRefused() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let dir = scenario("original")
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "idlab", roles: [1: cp, 2: cp, 3: cp])
        try IntegrationLab.addBackupStore(toInventory: inventory)
        let first = try IntegrationLab.capstan(["apply", "--only", "pki,etcd", "-i", inventory])
        try #require(first.succeeded, "apply failed: \(first.all)")
        let state = dir + "/.capstan/idlab"
        for i in 0..<30 {
            let put = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: endpoints(lab), ["put", "identity/k\(i)", "v\(i)"])
            try #require(put.succeeded, "\(put.all)")
        }
        let backup = try IntegrationLab.capstan(["backup", "now", "-i", inventory])
        try #require(backup.succeeded, "\(backup.all)")
        let uid = try #require(try StateDirectory(root: state).clusterRecord()?.uid)
        for host in hosts {
            #expect(try lab.run(in: host, ["cat", ClusterRecord.hostPath]).stdout.contains(uid))
        }
        let status = try IntegrationLab.capstan(["status", "-i", inventory])
        #expect(status.succeeded && status.stdout.contains("identity: uid \(uid)"), "\(status.all)")

        let copy = try copyInventory(inventory, to: "copy")
        // Another cluster's state directory: a complete PKI of its own, made without touching a host.
        let foreign = scenario("foreign-state")
        let loaded = try InventoryLoader.loadOrThrow(path: copy).0
        _ = try runAsync { try await PKIManager(inventory: loaded, state: StateDirectory(root: foreign)).apply(now: Date()) }
        try StateDirectory(root: foreign).saveClusterRecord(ClusterRecord.new(cluster: "idlab"))

        let before = try fingerprint(lab)
        let commands: [[String]] = [
            ["plan", "-i", copy],
            ["apply", "--only", "pki,etcd", "-i", copy],
            ["certs", "rotate", "-i", copy, "--yes"],
            ["backup", "restore", "-i", copy, "--from", "idlab-any"],
            ["upgrade", "apply", "-i", copy, "--to", "v1.31.4", "--yes"],
        ]
        for stateDir in [nil, foreign] {
            for command in commands {
                let args = command + (stateDir.map { ["--state-dir", $0] } ?? [])
                let r = try IntegrationLab.capstan(args)
                #expect(r.status == 2, "\(args): expected the refusal (exit 2), got \(r.status): \(r.all)")
                #expect(r.all.contains("do not belong to the cluster in the state directory") || r.all.contains("another cluster"), "\(args): \(r.all)")
                #expect(r.all.contains(uid), "\(args): the hosts' uid is not named: \(r.all)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: scenario("copy") + "/.capstan/idlab/pki"), "a refused command created a PKI")
        #expect(try fingerprint(lab) == before, "a refused command changed a host")
        let health = try IntegrationLab.statusJSON(inventory)
        #expect(health.1["healthy"] as? Bool == true, "\(health.0.all)")
        #expect(try readKeys(lab, state: state) == 30)

        // A CA planted on one host (an etcd CA of another cluster) is refused for the original state too.
        let planted = try String(contentsOfFile: foreign + "/pki/etcd/ca.crt", encoding: .utf8)
        let saved = try lab.run(in: "h2", ["cat", "/etc/kubernetes/pki/etcd/ca.crt"]).stdout
        func place(_ text: String) throws {
            let b64 = Data(text.utf8).base64EncodedString()
            try lab.run(in: "h2", ["sh", "-c", "echo \(b64) | base64 -d > /etc/kubernetes/pki/etcd/ca.crt"])
        }
        try place(planted)
        let plantedBefore = try fingerprint(lab)
        let refusedPlant = try IntegrationLab.capstan(["apply", "--only", "pki,etcd", "-i", inventory])
        #expect(refusedPlant.status == 2 && refusedPlant.all.contains("h2: /etc/kubernetes/pki/etcd/ca.crt holds CA"), "\(refusedPlant.all)")
        #expect(try fingerprint(lab) == plantedBefore)
        try place(saved)

        // Rebuild the state from h1, then apply from the copy: nothing changes on any host.
        let copyState = scenario("copy") + "/.capstan/idlab"
        func stateFiles() -> [String] { (FileManager.default.enumerator(atPath: copyState)?.allObjects as? [String] ?? []).sorted() }
        let filesBefore = stateFiles()
        let dryImport = try IntegrationLab.capstan(["state", "import", "--dry-run", "-i", copy, "--from", "h1"])
        #expect(dryImport.succeeded && dryImport.stdout.hasPrefix("would import ") && dryImport.stdout.contains("dry run: nothing written"), "\(dryImport.all)")
        #expect(stateFiles() == filesBefore, "state import --dry-run wrote into the state directory")
        let imported = try IntegrationLab.capstan(["state", "import", "-i", copy, "--from", "h1"])
        #expect(imported.succeeded, "\(imported.all)")
        #expect(imported.stdout.contains("pki/etcd/ca.key"), "the missing etcd CA key is not named: \(imported.stdout)")
        let unchanged = try fingerprint(lab)
        let again = try IntegrationLab.capstan(["apply", "--only", "pki,etcd", "-i", copy, "--output", "json"])
        #expect(again.succeeded, "\(again.all)")
        let actions = again.stdout.split(separator: "\n").filter { $0.contains("\"kind\":\"action\"") }
        // The hosts carry only etcd's PKI (this lab applied pki,etcd), so the PKI phase makes the cluster and
        // front-proxy CAs in the state directory (state actions); nothing of etcd's, and nothing on a host.
        let hostActions = actions.filter { !$0.contains("\"host\":\"state\"") }
        #expect(hostActions.isEmpty, "apply after import acted on a host: \(hostActions)")
        #expect(!actions.contains { $0.contains("etcd") }, "apply after import re-made etcd's PKI: \(actions)")
        #expect(try fingerprint(lab) == unchanged)
        #expect(try readKeys(lab, state: scenario("copy") + "/.capstan/idlab") == 30)
    }

    @Test("a changed etcd leaf reaches running members one at a time, each between health gates (leader last)")
    func liveReloadedLeavesOneAtATime() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let dir = scenario("leaves")
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "idleaf", roles: [1: cp, 2: cp, 3: cp])
        let first = try IntegrationLab.capstan(["apply", "--only", "pki,etcd", "-i", inventory])
        try #require(first.succeeded, "\(first.all)")
        let renew = try IntegrationLab.capstan(["certs", "renew", "-i", inventory, "etcd/server"])
        try #require(renew.succeeded, "\(renew.all)")
        let r = try IntegrationLab.capstan(["apply", "--only", "pki,etcd", "-i", inventory, "--output", "json"])
        #expect(r.succeeded, "\(r.all)")
        // The sequence of actions: per host, its server certificate, then its restart; never all certificates first.
        let events = r.stdout.split(separator: "\n").compactMap { line -> (String, String)? in
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  object["kind"] as? String == "action", let host = object["host"] as? String, let message = object["message"] as? String else { return nil }
            if message.contains("etcd/server.crt") { return (host, "cert") }
            if message.hasPrefix("systemctl restart etcd") { return (host, "restart") }
            return nil
        }
        #expect(events.count == 6, "\(events)")
        for i in stride(from: 0, to: events.count - 1, by: 2) {
            #expect(events[i].1 == "cert" && events[i + 1].1 == "restart" && events[i].0 == events[i + 1].0, "\(events)")
        }
        let health = try IntegrationLab.statusJSON(inventory)
        #expect(health.1["healthy"] as? Bool == true)
    }

    @Test("SIGKILL during the first identity write of a new cluster; the re-run converges with one UID everywhere")
    func killedDuringFirstWrite() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        for host in lab.hosts.map(\.name) { try lab.run(in: host, ["rm", "-rf", "/etc/capstan"]) }
        let dir = scenario("killed")
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "idkill", roles: [1: cp, 2: cp, 3: cp])
        let killed = try IntegrationLab.capstanKilled(["apply", "--only", "pki,etcd", "-i", inventory], pollMilliseconds: 5) { output in
            output.contains(ClusterRecord.hostPath) ? "first record write" : nil
        }
        #expect(!killed.killedAt.isEmpty, "the run ended before the kill point: \(killed.output)")
        let again = try IntegrationLab.capstan(["apply", "--only", "pki,etcd", "-i", inventory])
        #expect(again.succeeded, "\(again.all)")
        let uid = try #require(try StateDirectory(root: dir + "/.capstan/idkill").clusterRecord()?.uid)
        for host in hosts { #expect(try lab.run(in: host, ["cat", ClusterRecord.hostPath]).stdout.contains(uid)) }
        let health = try IntegrationLab.statusJSON(inventory)
        #expect(health.1["healthy"] as? Bool == true)
    }
}
