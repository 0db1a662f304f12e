import Foundation
import Lab
import Testing
import TestSupport

/// `node add`, `node remove` and `reset` on lab hosts: real etcd and systemd, the Kubernetes stand-ins
/// (the kubectl stand-in logs cordon, drain and Node deletes on the host it runs on).
@Suite("Node lifecycle on lab hosts: add, remove, reset", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct NodeLifecycleLabTests {
    static let cp = ["control-plane", "etcd"]
    static let kubectlLog = "/var/log/capstan-standin/kubectl.log"

    func inventory(_ lab: Lab, _ name: String, roles: [Int: [String]], nodeLocal: Bool = false) throws -> (path: String, state: String) {
        let dir = Scratch.directory("node-lab-\(name)")
        let path = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "nlab", version: "3.5.1", roles: roles)
        if nodeLocal {
            let text = try String(contentsOfFile: path, encoding: .utf8)
                .replacingOccurrences(of: "    endpoint: \(lab.layout.hostAddress(1)):6443\n", with: "    loadBalancer: node-local\n")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        return (path, dir + "/.capstan/nlab")
    }

    /// Start stamps of the services on `hosts` that run there.
    func stamps(_ lab: Lab, _ hosts: [String]) throws -> [String: String] {
        var out: [String: String] = [:]
        for host in hosts {
            for unit in ["kubelet", "kube-proxy", "kube-apiserver", "etcd", "containerd", "haproxy"] {
                out["\(host)/\(unit)"] = try IntegrationLab.unitStartStamp(lab, host, unit)
            }
        }
        return out
    }

    /// What Capstan leaves on a torn-down host (empty when nothing).
    func leftovers(_ lab: Lab, _ host: String) throws -> String {
        let paths = ["/etc/kubernetes", "/etc/etcd", "/etc/capstan", "/usr/local/bin/kubelet", "/usr/local/bin/etcd", "/usr/local/bin/containerd",
                     "/usr/local/sbin/runc", "/etc/cni/net.d/10-capstan.conflist", "/var/lib/capstan/checksums",
                     "/etc/systemd/system/kubelet.service", "/etc/systemd/system/etcd.service", "/etc/systemd/system/containerd.service"]
        let script = "for p in \(paths.joined(separator: " ")); do [ -e $p ] && echo $p; done; ip -4 route show proto 211; "
            + "for u in kubelet etcd containerd kube-apiserver; do systemctl is-active -q $u && echo active $u; done; true"
        return try lab.run(in: host, ["sh", "-c", script]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func routes(_ lab: Lab, _ host: String) throws -> String { try lab.run(in: host, ["ip", "-4", "route", "show", "proto", "211"]).stdout }

    func subnet(_ state: String, _ host: String) throws -> String {
        let json = try #require(IntegrationLab.jsonObject(atPath: state + "/network/pod-subnets.json"))
        return try #require((json["nodes"] as? [String: String])?[host], "no subnet recorded for \(host)")
    }

    /// `--output json` action events per host.
    func actions(_ run: IntegrationLab.Run) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for line in run.stdout.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  ["action", "planned"].contains(object["kind"] as? String ?? "") else { continue }
            out[object["host"] as? String ?? "-", default: []].append(object["message"] as? String ?? "")
        }
        return out
    }

    @Test("a worker: remove (refusals, dry run, SIGKILL and re-run), add again touching only routes elsewhere, remove while powered off, reset --host once it answers (SIGKILL and re-run), reset --all with typed consent, then apply with the same CAs and a restore of the backup taken before")
    func workerLifecycle() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let (inventory, state) = try self.inventory(lab, "worker", roles: [1: Self.cp, 2: Self.cp, 3: Self.cp, 4: ["worker"], 5: ["worker"]])
        try IntegrationLab.addBackupStore(toInventory: inventory)
        let first = try IntegrationLab.capstan(["apply", "-i", inventory])
        try #require(first.succeeded, "apply failed: \(first.all)")
        let h5Subnet = try subnet(state, "h5")
        #expect(try routes(lab, "h4").contains(h5Subnet))

        let everyMember = try IntegrationLab.capstan(["node", "remove", "-i", inventory, "h1", "h2", "h3", "--yes"])
        #expect(everyMember.status == 2 && everyMember.stderr.contains("every etcd member"), "\(everyMember.all)")
        let unconfirmed = try IntegrationLab.capstan(["node", "remove", "-i", inventory, "h5"])
        #expect(unconfirmed.status == 2 && unconfirmed.stderr.contains("--yes"), "\(unconfirmed.all)")
        let dry = try IntegrationLab.capstan(["node", "remove", "-i", inventory, "h5", "--dry-run"])
        #expect(dry.succeeded && dry.stdout.contains("[h5] tear down:") && dry.stdout.contains("unit kubelet.service")
                && dry.stdout.contains("kubectl drain h5"), "\(dry.all)")
        #expect(try lab.run(in: "h5", ["systemctl", "is-active", "kubelet"]).stdout.hasPrefix("active"), "a dry run changes nothing")

        let others = ["h1", "h2", "h3", "h4"]
        let before = try stamps(lab, others)
        let killed = try IntegrationLab.capstanKilled(["node", "remove", "-i", inventory, "h5", "--yes"]) { output in
            output.contains("pod-network") ? "in the convergence of the other hosts" : nil
        }
        try #require(killed.byKill, "the run ended before the kill point: \(killed.output)")
        let removed = try IntegrationLab.capstan(["node", "remove", "-i", inventory, "h5", "--yes"])
        #expect(removed.succeeded, "\(removed.all)")
        #expect(removed.all.contains("no Node h5 (already deleted)") && removed.all.contains("still lists h5"), "\(removed.all)")
        let log = try lab.run(in: "h1", ["cat", Self.kubectlLog]).stdout
        for entry in ["cordon h5", "drain h5", "delete node/h5"] { #expect(log.contains(entry), "kubectl log lacks \(entry): \(log)") }
        let left = try leftovers(lab, "h5")
        #expect(left == "", "left on h5: \(left)")
        for host in others { #expect(try !routes(lab, host).contains(h5Subnet), "\(host) still routes h5's subnet") }
        #expect(!FileManager.default.fileExists(atPath: state + "/pki/hosts/h5"), "h5's leaves left the state")
        #expect(try stamps(lab, others) == before, "removing a worker restarted a service elsewhere")

        // Add it again: everything on h5, only routes elsewhere, nothing restarted elsewhere.
        let planned = try IntegrationLab.capstan(["node", "add", "-i", inventory, "h5", "--dry-run", "--output", "json"])
        #expect(planned.succeeded, "\(planned.all)")
        let added = try IntegrationLab.capstan(["node", "add", "-i", inventory, "h5", "--output", "json"])
        #expect(added.succeeded, "\(added.all)")
        let acted = actions(added)
        for host in others {
            let there = acted[host] ?? []
            print("MEASURED node add h5: \(there.count) change(s) on \(host): \(there)")
            #expect(there.allSatisfy { $0.contains("route") || $0.contains("pod-network") }, "node add changed more than routes on \(host): \(there)")
            // One command wrote the route file and applied it (PodRoutesRefresh): one action, no file-by-file converge.
            #expect(there.count == 1, "node add made \(there.count) changes on \(host): \(there)")
        }
        #expect(!(acted["h5"] ?? []).isEmpty)
        #expect(try lab.run(in: "h5", ["systemctl", "is-active", "kubelet"]).stdout.hasPrefix("active"))
        #expect(try stamps(lab, others) == before, "adding a worker restarted a service elsewhere")
        #expect(try subnet(state, "h5") == h5Subnet, "h5 gets its old pod subnet back")
        for host in others { #expect(try routes(lab, host).contains(h5Subnet), "\(host) routes h5's subnet again") }

        // Powered off: removed from the cluster, and the command says what stayed there.
        try lab.stop(host: "h5")
        let down = try IntegrationLab.capstan(["status", "-i", inventory])
        #expect(down.status == 1 && down.stdout.contains("not answering over SSH: h5 (") && down.stdout.contains("UNHEALTHY"), "\(down.all)")
        let dead = try IntegrationLab.capstan(["node", "remove", "-i", inventory, "h5", "--yes"])
        #expect(dead.succeeded && dead.all.contains("left on h5"), "\(dead.all)")
        for host in others { #expect(try !routes(lab, host).contains(h5Subnet)) }
        try lab.start(host: "h5")
        let cut = try IntegrationLab.capstanKilled(["reset", "-i", inventory, "--host", "h5", "--yes"]) { output in
            output.contains("node-teardown") ? "as the teardown began" : nil
        }
        try #require(cut.byKill, "the reset ended before the kill point: \(cut.output)")
        let reset = try IntegrationLab.capstan(["reset", "-i", inventory, "--host", "h5", "--yes"])
        #expect(reset.succeeded, "\(reset.all)")
        let afterReset = try leftovers(lab, "h5")
        #expect(afterReset == "", "left on h5 after reset: \(afterReset)")
        #expect(try lab.run(in: "h5", ["sh", "-c", "[ -e /var/lib/kubelet ] && echo present; true"]).stdout.isEmpty)

        // reset --all: typed consent only; the state directory and the backups stay; apply builds the
        // cluster again and the backup taken before brings its data back.
        let eps = [1, 2, 3].map { "https://\(lab.layout.hostAddress($0)):2379" }
        for i in 0..<10 {
            let put = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: eps, ["put", "kept/\(i)", "v\(i)"])
            try #require(put.succeeded, "\(put.all)")
        }
        let backup = try IntegrationLab.capstan(["backup", "now", "-i", inventory, "--output", "json"])
        try #require(backup.succeeded, "\(backup.all)")
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(backup.stdout.utf8)) as? [String: Any])
        let name = try #require(manifest["name"] as? String, "\(backup.stdout)")
        let ca = try String(contentsOfFile: state + "/pki/ca.crt", encoding: .utf8)
        let noConsent = try IntegrationLab.capstan(["reset", "-i", inventory, "--all"])
        #expect(noConsent.status == 2, "\(noConsent.all)")
        let wrongName = try IntegrationLab.capstan(["reset", "-i", inventory, "--all", "--yes-destroy-cluster", "other"])
        #expect(wrongName.status == 2, "\(wrongName.all)")
        #expect(try lab.run(in: "h1", ["systemctl", "is-active", "etcd"]).stdout.hasPrefix("active"), "a refused reset changes nothing")
        let all = try IntegrationLab.capstan(["reset", "-i", inventory, "--all", "--yes-destroy-cluster", "nlab"])
        #expect(all.succeeded, "\(all.all)")
        for host in lab.hosts.map(\.name) {
            let left = try leftovers(lab, host)
            #expect(left == "", "left on \(host): \(left)")
        }
        #expect(try lab.run(in: "h1", ["sh", "-c", "ls -d /var/lib/etcd.removed-*"]).succeeded, "etcd's data is moved aside, not deleted")
        let again = try IntegrationLab.capstan(["apply", "-i", inventory])
        #expect(again.succeeded, "\(again.all)")
        #expect(try String(contentsOfFile: state + "/pki/ca.crt", encoding: .utf8) == ca, "the same CA after reset --all")
        let empty = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: eps, ["get", "kept/", "--prefix", "--keys-only"])
        #expect(empty.succeeded && empty.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "a new etcd starts empty: \(empty.all)")
        let restore = try IntegrationLab.capstan(["backup", "restore", "-i", inventory, "--from", name, "--yes"])
        #expect(restore.succeeded, "\(restore.all)")
        let back = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: eps, ["get", "kept/", "--prefix", "--keys-only"])
        #expect(back.stdout.split(separator: "\n").filter { !$0.isEmpty }.count == 10, "the data is back after the restore: \(back.all)")
    }

    @Test("a control-plane + etcd host added to a running cluster and removed again (once dropped from the inventory, its address from the state) under a write load: members 3 → 4 → 3, balancer backends follow, 0 acknowledged writes lost")
    func controlPlaneUnderLoad() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let base: [Int: [String]] = [1: Self.cp, 2: Self.cp, 3: Self.cp, 4: ["worker"]]
        let (inventory, state) = try self.inventory(lab, "cp", roles: base, nodeLocal: true)
        let first = try IntegrationLab.capstan(["apply", "-i", inventory])
        try #require(first.succeeded, "apply failed: \(first.all)")
        let eps = [1, 2, 3].map { "https://\(lab.layout.hostAddress($0)):2379" }
        let load = WriteLoad()
        load.start { key in
            ((try? IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: eps, ["put", key, "v"]))?.succeeded) ?? false
        }
        try #require(load.waitForAcknowledged(3), "the write load got no write through")
        // h5 joins the inventory (Capstan never edits it; the operator does), then `node add h5`.
        var text = try String(contentsOfFile: inventory, encoding: .utf8)
        text += "    - name: h5\n      address: \(lab.layout.hostAddress(5))\n      roles: [control-plane, etcd]\n"
        try text.write(toFile: inventory, atomically: true, encoding: .utf8)
        let added = try IntegrationLab.capstan(["node", "add", "-i", inventory, "h5"])
        #expect(added.succeeded, "\(added.all)")
        let (_, grown) = try IntegrationLab.statusJSON(inventory)
        #expect(IntegrationLab.memberNames(grown).sorted() == ["h1", "h2", "h3", "h5"], "\(grown)")
        #expect(try lab.run(in: "h4", ["cat", "/etc/haproxy/haproxy.cfg"]).stdout.contains(lab.layout.hostAddress(5)), "h4's balancer has h5")

        // The operator drops h5 from the inventory first; its address and roles come from the state's host record.
        text = text.replacingOccurrences(of: "    - name: h5\n      address: \(lab.layout.hostAddress(5))\n      roles: [control-plane, etcd]\n", with: "")
        try text.write(toFile: inventory, atomically: true, encoding: .utf8)
        let removed = try IntegrationLab.capstan(["node", "remove", "-i", inventory, "h5", "--yes"])
        #expect(removed.succeeded && !removed.all.contains("still lists h5"), "\(removed.all)")
        #expect(load.waitForAcknowledged(load.acknowledged.count + 3), "no write got through after the node removal")
        let (acked, failed, gap) = load.finish()
        print("MEASURED write load during node add + remove of a control-plane/etcd host: \(acked.count) acknowledged, \(failed) failed attempts, longest gap \(String(format: "%.2f", gap)) s")
        let (_, shrunk) = try IntegrationLab.statusJSON(inventory)
        #expect(IntegrationLab.memberNames(shrunk).sorted() == ["h1", "h2", "h3"], "\(shrunk)")
        #expect(try !lab.run(in: "h4", ["cat", "/etc/haproxy/haproxy.cfg"]).stdout.contains(lab.layout.hostAddress(5)), "h4's balancer dropped h5")
        let left = try leftovers(lab, "h5")
        #expect(left == "", "left on h5: \(left)")
        #expect(try lab.run(in: "h5", ["sh", "-c", "ls -d /var/lib/etcd.removed-*"]).succeeded, "h5's etcd data is moved aside")

        let keys = try IntegrationLab.etcdctl(stateDir: state, certHost: "h1", endpoints: eps, ["get", "load/", "--prefix", "--keys-only"])
        let stored = Set(keys.stdout.split(separator: "\n").map(String.init).filter { !$0.isEmpty })
        #expect(acked.count > 20, "the load must have run")
        #expect(acked.filter { !stored.contains($0) }.isEmpty, "acknowledged writes lost")
    }
}
