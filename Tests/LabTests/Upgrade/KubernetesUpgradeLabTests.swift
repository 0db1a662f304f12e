import Foundation
import Testing
import TestSupport
import Lab

/// The Kubernetes part of `capstan upgrade` on real systemd-nspawn hosts: real systemd, containerd and
/// etcd 3.5.1; kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl
/// are the stand-ins of Tests/Standins (STAND-INS, not Kubernetes) at v1.31.4 and v1.32.0. The kubectl
/// stand-in logs every cordon, drain and uncordon on the host it runs on, and simulates a drain held up
/// by a PodDisruptionBudget; a file on a host makes the v1.32.0 API server fail to start there.
@Suite("Kubernetes upgrades on lab hosts through capstan upgrade (stand-in binaries)", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct KubernetesUpgradeLabTests {
    let cp: [String] = ["control-plane", "etcd"]
    let standinDir = "/etc/capstan-standin"
    let kubectlLog = "/var/log/capstan-standin/kubectl.log"

    /// The lab's artifact directory plus stand-ins of both versions, kubectl a stand-in too.
    func artifacts() throws -> String {
        let fm = FileManager.default
        let dir = Scratch.directory("k8sup-artifacts")
        if fm.fileExists(atPath: dir + "/kubernetes/v1.32.0") { return dir }
        try? fm.removeItem(atPath: dir)
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for entry in try fm.contentsOfDirectory(atPath: LabLayout.artifactDirectory) where !entry.hasPrefix(".") {
            try fm.createSymbolicLink(atPath: dir + "/" + entry, withDestinationPath: LabLayout.artifactDirectory + "/" + entry)
        }
        for version in ["1.31.4", "1.32.0"] {
            let r = try IntegrationLab.run("/bin/sh", [IntegrationLab.repository + "/scripts/standin-artifacts.sh", dir, version])
            guard r.succeeded else { throw LabError("scripts/standin-artifacts.sh \(version) failed: \(r.all)") }
        }
        return dir
    }

    func record(_ state: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: state + "/upgrade.json")))) as? [String: Any] ?? [:]
    }

    /// `Kubernetes v1.32.0 (Capstan stand-in …)` → `v1.32.0`.
    func version(_ lab: Lab, _ host: String, _ binary: String) throws -> String {
        let out = try lab.run(in: host, ["/usr/local/bin/\(binary)", "--version"]).stdout
        return out.split(separator: " ").dropFirst().first.map(String.init) ?? "none"
    }

    /// `verb node [--disable-eviction]` per kubectl call logged on h1, in order.
    func kubectlCalls(_ lab: Lab) throws -> [String] {
        let text = try lab.run(in: "h1", ["sh", "-c", "cat \(kubectlLog) 2>/dev/null; true"]).stdout
        // Only the node calls: apply's cluster objects are logged here too.
        return text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            .filter { $0.count >= 3 && ["cordon", "uncordon", "drain"].contains($0[1]) }
            .map { f in ([f[1], f[2]] + (f.contains("--disable-eviction") ? ["--disable-eviction"] : [])).joined(separator: " ") }
    }

    @Test("control plane one host at a time with gates, workers in batches of maxUnavailable with cordon/drain/uncordon; stops at a failing host, rolls back, stops at a PDB-held drain, --force-drain goes past, resumes without redoing hosts; plan shows no change after; a lower target is refused")
    func upgradeEndToEnd() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        for host in lab.hosts.map(\.name) { try lab.run(in: host, ["rm", "-rf", standinDir, "/var/log/capstan-standin"]) }
        let dir = Scratch.directory("k8sup-lab") + "/upgrade"
        try? FileManager.default.removeItem(atPath: dir)
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "k8sup", version: "3.5.1", artifacts: try artifacts(),
                                                          roles: [1: cp, 2: cp, 3: ["worker"], 4: ["worker"], 5: ["worker"]])
        try IntegrationLab.addBackupStore(toInventory: inventory)
        let text = try String(contentsOfFile: inventory, encoding: .utf8)
        try text.replacingOccurrences(of: "\n  hosts:\n", with: "\n  upgrade:\n    maxUnavailable: 2\n  hosts:\n").write(toFile: inventory, atomically: true, encoding: .utf8)
        let state = dir + "/.capstan/k8sup"
        try #require(try IntegrationLab.capstan(["apply", "-i", inventory]).succeeded)
        #expect(try version(lab, "h3", "kubelet") == "v1.31.4")

        // The planned order: h1, h2 alone, then workers two at a time.
        let plan = try IntegrationLab.capstan(["upgrade", "plan", "-i", inventory, "--to", "v1.32.0", "--output", "json"])
        #expect(plan.succeeded)
        let planned = (try? JSONSerialization.jsonObject(with: Data(plan.stdout.utf8))) as? [String: Any] ?? [:]
        let steps = (planned["steps"] as? [[String: Any]] ?? []).map { "\($0["stage"] ?? "") \(($0["hosts"] as? [String] ?? []).joined(separator: ","))" }
        #expect(steps == ["control-plane h1", "control-plane h2", "workers h3,h4", "workers h5"])
        let verdict = planned["verdict"] as? String ?? ""
        #expect(verdict.hasPrefix("verdict: ready, 4 steps; next: `capstan upgrade apply -i \(inventory) --to v1.32.0`"), "\(verdict)")

        // 0. A dry run goes through the same steps in plan mode: every change listed, none made, no record.
        let dry = try IntegrationLab.capstan(["upgrade", "apply", "-i", inventory, "--to", "v1.32.0", "--dry-run"])
        #expect(dry.succeeded, "\(dry.all)")
        #expect(dry.stdout.contains("upgrade apply (dry run): would make "), "\(dry.stdout)")
        #expect(dry.stdout.contains("[state] take the rollback point"), "\(dry.stdout)")
        #expect(dry.stdout.contains("[h1] kubectl cordon h3") && dry.stdout.contains("[h1] kubectl uncordon h5"), "\(dry.stdout)")
        #expect(dry.stdout.contains("[h2] systemctl restart kube-apiserver"), "\(dry.stdout)")
        #expect(!FileManager.default.fileExists(atPath: state + "/upgrade.json"), "the dry run left an upgrade record")
        #expect(try version(lab, "h1", "kube-apiserver") == "v1.31.4" && version(lab, "h3", "kubelet") == "v1.31.4")
        #expect(try kubectlCalls(lab).isEmpty, "the dry run called kubectl")

        // 1. The v1.32.0 API server cannot start on h2: the upgrade stops there, h1 done, no worker touched.
        try lab.run(in: "h2", ["sh", "-c", "mkdir -p \(standinDir) && touch \(standinDir)/fail-kube-apiserver-1.32.0"])
        try lab.run(in: "h1", ["sh", "-c", "mkdir -p \(standinDir) && echo h4 > \(standinDir)/pdb-blocked"])
        let upgrade = ["upgrade", "apply", "-i", inventory, "--to", "v1.32.0", "--yes", "--health-timeout", "12", "--drain-timeout", "2s"]
        let failed = try IntegrationLab.capstan(upgrade)
        #expect(!failed.succeeded)
        #expect(failed.stderr.contains("stopped at h2"))
        #expect(failed.stderr.contains("to resume:") && failed.stderr.contains("upgrade rollback"))
        #expect(try version(lab, "h1", "kube-apiserver") == "v1.32.0")
        #expect(try version(lab, "h1", "kubelet") == "v1.32.0")
        #expect(try version(lab, "h3", "kubelet") == "v1.31.4")
        #expect(try kubectlCalls(lab).isEmpty)
        let stopped = record(state)
        #expect(stopped["status"] as? String == "failed")
        #expect(stopped["stoppedAt"] as? String == "h2")
        #expect(stopped["kubernetesPending"] as? [String] == ["h2"])
        #expect((stopped["previousKubernetes"] as? [String: String])?["h3"] == "1.31.4")

        // 2. Rollback returns both control-plane hosts to v1.31.4, gated; the workers are left alone.
        let rollback = try IntegrationLab.capstan(["upgrade", "rollback", "-i", inventory, "--yes", "--health-timeout", "30"])
        #expect(rollback.succeeded)
        for host in ["h1", "h2"] {
            for binary in ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"] {
                #expect(try version(lab, host, binary) == "v1.31.4", "\(host) \(binary)")
            }
            #expect(try lab.run(in: host, ["systemctl", "is-active", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"]).stdout
                .split(separator: "\n").allSatisfy { $0 == "active" })
        }
        #expect(record(state)["status"] as? String == "rolled-back")

        // 3. Fixed, a new upgrade: the control plane passes; the first worker batch stops at h4's drain (PDB).
        try lab.run(in: "h2", ["rm", "-f", "\(standinDir)/fail-kube-apiserver-1.32.0"])
        let held = try IntegrationLab.capstan(upgrade)
        #expect(!held.succeeded)
        #expect(held.stderr.contains("stopped at h4"))
        #expect(held.stderr.contains("--force-drain"))
        #expect(try version(lab, "h2", "kube-apiserver") == "v1.32.0")
        #expect(try version(lab, "h3", "kubelet") == "v1.31.4", "nothing of a batch is upgraded before all of it is drained")
        #expect(record(state)["kubernetesPending"] as? [String] == ["h3", "h4"])

        // 4. --force-drain: the run resumes with the batch (the control plane is not restarted again) and finishes.
        let apiserverStamp = try IntegrationLab.unitStartStamp(lab, "h1", "kube-apiserver")
        let forced = try IntegrationLab.capstan(upgrade + ["--force-drain"])
        #expect(forced.succeeded)
        #expect(forced.stdout.contains("resuming the upgrade"))
        #expect(try IntegrationLab.unitStartStamp(lab, "h1", "kube-apiserver") == apiserverStamp)
        #expect(try kubectlCalls(lab) == [
            "cordon h3", "cordon h4", "drain h3", "drain h4",
            "cordon h3", "cordon h4", "drain h3", "drain h4", "drain h4 --disable-eviction", "uncordon h3", "uncordon h4",
            "cordon h5", "drain h5", "uncordon h5",
        ])
        for host in ["h1", "h2"] {
            for binary in ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"] {
                #expect(try version(lab, host, binary) == "v1.32.0", "\(host) \(binary)")
            }
        }
        for host in ["h3", "h4", "h5"] {
            for binary in ["kubelet", "kube-proxy"] { #expect(try version(lab, host, binary) == "v1.32.0", "\(host) \(binary)") }
            #expect(try lab.run(in: host, ["systemctl", "is-active", "kubelet", "kube-proxy"]).stdout.split(separator: "\n").allSatisfy { $0 == "active" })
        }
        let done = record(state)
        #expect(done["status"] as? String == "completed")
        #expect(done["kubernetesUpgraded"] as? [String] == ["h1", "h2", "h3", "h4", "h5"])

        // 5. An inventory left at v1.31.4 must not put the old binaries back: a plain apply refuses, changing nothing.
        let stale = try IntegrationLab.capstan(["apply", "-i", inventory, "--only", "kubernetes"])
        #expect(stale.status == 1 && stale.all.contains("never downgrades") && stale.all.contains("h5 kubelet 1.32.0"), "\(stale.all)")
        #expect(try version(lab, "h5", "kubelet") == "v1.32.0")

        // 6. With the inventory at v1.32.0, plan finds nothing to change and upgrade plan nothing to upgrade.
        let upgraded = try String(contentsOfFile: inventory, encoding: .utf8).replacingOccurrences(of: "kubernetesVersion: v1.31.4", with: "kubernetesVersion: v1.32.0")
        try upgraded.write(toFile: inventory, atomically: true, encoding: .utf8)
        let after = try IntegrationLab.capstan(["plan", "-i", inventory])
        #expect(after.succeeded)
        #expect(after.stdout.contains("Hosts: up to date (no action planned)"))
        let again = try IntegrationLab.capstan(["upgrade", "plan", "-i", inventory, "--to", "v1.32.0"])
        #expect(again.stdout.contains("nothing to upgrade") && again.stdout.hasSuffix("verdict: nothing to upgrade\n"), "\(again.stdout)")
        // Going back is not an upgrade: refused by the skew/version checks with the way out.
        let down = try IntegrationLab.capstan(["upgrade", "plan", "-i", inventory, "--to", "v1.31.4"])
        #expect(!down.succeeded)
        #expect(down.stdout.contains("that is a downgrade") && down.stdout.contains("backup restore"))
        #expect(down.stdout.split(separator: "\n").last?.hasPrefix("verdict: refused: ") == true, "\(down.stdout)")
    }
}
