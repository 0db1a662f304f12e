import Foundation
import Hosts
import Lab
import TestSupport

/// Helpers for the workflow lab tests (etcd, backups, certificates, control plane): one 5-host lab
/// shared by every suite of the test process, inventories written per scenario, the built `capstan`
/// binary run as a user would, and etcdctl on this machine as the independent verifier. Each suite
/// starts from bare hosts (`wipe`). `CAPSTAN_TEST_LAB` names the lab (default `itest`), so two
/// checkouts can run their lab tests side by side without sharing hosts.
enum IntegrationLab {
    static let name = ProcessInfo.processInfo.environment["CAPSTAN_TEST_LAB"] ?? "itest"

    static func lab() throws -> Lab {
        try Lab.shared(hosts: 5, name: name, progress: LabProgress { print("lab: \($0)") })
    }

    /// The `capstan` executable built beside this test bundle.
    static var capstanPath: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // The test binary sits in `<build>/capstanPackageTests.xctest` on Linux.
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("capstan").path
    }

    /// A program run to its end, as every test helper returns it.
    typealias Run = ProgramRun

    /// Runs a program to its end (`runProgram`: spawned as Capstan spawns, waited for by its pid).
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        try runProgram([executable] + arguments, environment: environment)
    }

    /// Runs capstan under a pseudo-terminal (`script`), as an operator watching it: the output is the
    /// screen's byte stream, escape sequences included.
    static func capstanOnTerminal(_ arguments: [String]) throws -> Run {
        let command = ([capstanPath] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let r = try run("/usr/bin/script", ["-qec", "COLUMNS=120 LINES=40 " + command, "/dev/null"])
        print("$ (on a terminal) capstan \(arguments.joined(separator: " ")) → exit \(r.status) in \(String(format: "%.1f", r.seconds))s")
        return r
    }

    static func capstan(_ arguments: [String]) throws -> Run {
        let r = try run(capstanPath, arguments)
        print("$ capstan \(arguments.joined(separator: " ")) → exit \(r.status) in \(String(format: "%.1f", r.seconds))s\n\(r.stdout)\(r.stderr)")
        return r
    }

    /// What `capstanKilled` saw: the description its condition returned ("" when the run ended first),
    /// the run's output up to the kill and how the process ended.
    struct KilledRun {
        var killedAt: String
        var output: String
        var byKill: Bool
    }

    /// Runs the built binary and SIGKILLs it as soon as `condition` (polled every `pollMilliseconds` with
    /// the output so far) returns a description — for the "killed mid-run, re-run resumes" tests.
    static func capstanKilled(_ arguments: [String], timeoutSeconds: Double = 600, pollMilliseconds: UInt32 = 50,
                              when condition: (_ output: String) -> String?) throws -> KilledRun {
        // Output goes to a file the poll reads, so no reader thread and no pipe outlive the run.
        let outputPath = NSTemporaryDirectory() + "capstan-killed-\(getpid())-\(UUID().uuidString).out"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let process = try ChildProcess([capstanPath] + arguments, stdin: false, outputPath: outputPath)
        let output = { String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self) }
        let started = Date()
        var killedAt = ""
        var exited: Int32?
        while Date().timeIntervalSince(started) < timeoutSeconds {
            if let status = process.exitedStatus { exited = status; break }
            if let what = condition(output()) {
                process.signal(SIGKILL)
                killedAt = what
                break
            }
            usleep(pollMilliseconds * 1000)
        }
        let status = exited ?? process.waitStatusBlocking()
        let seen = output()
        print("$ capstan \(arguments.joined(separator: " ")) → \(killedAt.isEmpty ? "ended, exit \(ChildProcess.exitCode(status))" : "killed (\(killedAt))") after \(String(format: "%.1f", Date().timeIntervalSince(started)))s\n\(seen)")
        return KilledRun(killedAt: killedAt, output: seen, byKill: (status & 0x7f) != 0)
    }

    /// The kill point of the CA rotation resume tests: the rotation record (rotation.json) is in phase
    /// `leaves` with exactly one host done.
    static func leavesAfterFirstHost(record: String) -> String? {
        guard let json = jsonObject(atPath: record), json["phase"] as? String == "leaves",
              let done = json["doneHosts"] as? [String], done.count == 1 else { return nil }
        return "leaves after \(done[0])"
    }

    /// The JSON object in a state file, nil while it does not exist or is being replaced.
    static func jsonObject(atPath path: String) -> [String: Any]? {
        FileManager.default.contents(atPath: path).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }

    /// Host roles for one scenario, e.g. `[1: ["control-plane", "etcd"], 4: ["worker"]]`.
    /// `artifacts` defaults to `kubernetesArtifacts()`: `apply` installs the whole cluster, etcd included.
    static func writeInventory(_ lab: Lab, directory: String, cluster: String, topology: String = "stacked",
                               version: String = "3.4.23", artifacts: String? = nil,
                               roles: [Int: [String]]) throws -> String {
        let artifacts = try artifacts ?? kubernetesArtifacts()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var y = """
        apiVersion: capstan.dev/v1alpha1
        kind: Cluster
        metadata:
          name: \(cluster)
        spec:
          kubernetesVersion: v1.31.4
          controlPlane:
            mode: self-managed
            endpoint: \(lab.layout.hostAddress(1)):6443
          etcd:
            version: \(version)
            topology: \(topology)
          ssh:
            user: root
            identityFile: \(lab.layout.identityFile)
            knownHosts:
              file: \(lab.layout.knownHostsFile)
              policy: strict
          artifacts:
            source: local
            directory: \(artifacts)
            cacheDirectory: \(directory)/cache
          components:
            containerd: \(LabArtifacts.containerdVersion)
            runc: \(LabArtifacts.runcVersion)
            cni: \(LabArtifacts.cniVersion)
          hosts:

        """
        for n in roles.keys.sorted() {
            y += "    - name: \(lab.layout.hostName(n))\n      address: \(lab.layout.hostAddress(n))\n      roles: [\(roles[n, default: []].joined(separator: ", "))]\n"
        }
        let path = directory + "/inventory.yaml"
        try y.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Adds an encrypted local backup store (a fresh random key beside the inventory) to an inventory
    /// written by `writeInventory`: what `capstan upgrade apply` needs for its rollback point.
    static func addBackupStore(toInventory path: String) throws {
        let key = (path as NSString).deletingLastPathComponent + "/backup.key"
        if !FileManager.default.fileExists(atPath: key) {
            _ = FileManager.default.createFile(atPath: key, contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }), attributes: [.posixPermissions: 0o600])
        }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard !text.contains("    backup:\n") else { return }
        let updated = text.replacingOccurrences(of: "    topology: stacked\n", with: "    topology: stacked\n    backup:\n      destination:\n        local: {}\n      encryptionKeyFile: \(key)\n")
            .replacingOccurrences(of: "    topology: external\n", with: "    topology: external\n    backup:\n      destination:\n        local: {}\n      encryptionKeyFile: \(key)\n")
        try updated.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Units `apply` installs, stopped and removed by `wipe`.
    static let installedUnits = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "containerd", "etcd", "etcd-backup",
                                 "capstan-pod-network", "haproxy", "keepalived"]

    /// Removes every trace of etcd, its backup timer, the container runtime and Kubernetes from the hosts
    /// (a bare host again). Suites pass every host of the shared lab: a member left running on a host a
    /// suite does not use would still talk to its old peers' addresses.
    static func wipe(_ lab: Lab, hosts: [String]) throws {
        let units = (installedUnits + ["etcd-backup.timer"]).joined(separator: " ")
        let files = [
            "/var/lib/etcd", "/var/lib/etcd.removed-*", "/etc/etcd", "/etc/kubernetes", "/etc/capstan", "/etc/containerd", "/opt/cni", "/etc/cni",
            "/etc/crictl.yaml", "/var/lib/kubelet", "/var/lib/kube-proxy", "/var/lib/containerd", "/run/containerd",
            "/etc/modules-load.d/k8s.conf", "/etc/sysctl.d/k8s.conf", "/var/log/kubernetes",
            "/usr/local/bin/etcd", "/usr/local/bin/etcdctl", "/usr/local/bin/etcdutl", "/usr/local/bin/containerd*",
            "/usr/local/bin/ctr", "/usr/local/bin/crictl", "/usr/local/bin/kube*", "/usr/local/sbin/runc",
            "/etc/systemd/system/etcd-backup.timer", "/usr/local/lib/capstan", "/var/backups/etcd", "/var/lib/capstan/etcd-backup",
            "/var/lib/capstan-standin", "/var/log/capstan-standin",
            "/var/lib/cni",
        ] + installedUnits.flatMap { ["/etc/systemd/system/\($0).service", "/etc/systemd/system/\($0).service.d"] }
        // The pod network's routes (protocol 211), masquerade rules, bridge and pod namespaces.
        let network = "ip route flush proto 211; iptables -w -t nat -F POSTROUTING 2>/dev/null; ip link del cni0 2>/dev/null; ip -all netns delete 2>/dev/null;"
        for host in hosts {
            try lab.run(in: host, ["sh", "-c", "systemctl disable --now \(units) 2>/dev/null; rm -rf \(files.joined(separator: " ")); userdel etcd 2>/dev/null; \(network) systemctl daemon-reload; systemctl reset-failed \(units) 2>/dev/null; true"])
        }
    }

    /// `ExecMainStartTimestamp` + `ActiveEnterTimestampMonotonic` of `unit`: change on every (re)start.
    static func unitStartStamp(_ lab: Lab, _ host: String, _ unit: String) throws -> String {
        try lab.run(in: host, ["systemctl", "show", unit, "-p", "ExecMainStartTimestamp,ActiveEnterTimestampMonotonic"]).stdout
    }

    /// The repository this test target was built from (for `scripts/`).
    static var repository: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    private static let artifactsLock = NSLock()
    nonisolated(unsafe) private static var builtArtifacts: String?

    /// The lab's artifact directory (etcd, containerd, runc, CNI plugins from Debian) plus Kubernetes binaries:
    /// the stand-ins from `scripts/standin-artifacts.sh`, or real release binaries when `CAPSTAN_K8S_ARTIFACTS`
    /// names a directory in the upstream layout (`kubernetes/v1.31.4/bin/linux/amd64/…`). Built once per process.
    static func kubernetesArtifacts() throws -> String {
        try artifactsLock.withLock {
            if let built = builtArtifacts { return built }
            let fm = FileManager.default
            let dir = Scratch.directory("k8s-artifacts-\(name)")
            try? fm.removeItem(atPath: dir)
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for entry in try fm.contentsOfDirectory(atPath: LabLayout.artifactDirectory) where !entry.hasPrefix(".") {
                try fm.createSymbolicLink(atPath: dir + "/" + entry, withDestinationPath: LabLayout.artifactDirectory + "/" + entry)
            }
            if let real = ProcessInfo.processInfo.environment["CAPSTAN_K8S_ARTIFACTS"], !real.isEmpty {
                try fm.createSymbolicLink(atPath: dir + "/kubernetes", withDestinationPath: real + "/kubernetes")
            } else {
                let r = try run("/bin/sh", [repository + "/scripts/standin-artifacts.sh", dir, "1.31.4"])
                guard r.succeeded else { throw LabError("scripts/standin-artifacts.sh failed: \(r.all)") }
            }
            builtArtifacts = dir
            return dir
        }
    }

    /// `ExecMainStartTimestamp` + `ActiveEnterTimestampMonotonic` of etcd: change on every (re)start.
    static func startStamp(_ lab: Lab, _ host: String) throws -> String {
        try lab.run(in: host, ["systemctl", "show", "etcd.service", "-p", "ExecMainStartTimestamp,ActiveEnterTimestampMonotonic"]).stdout
    }

    /// etcdctl on this machine (Debian's etcd-client) with the cluster's healthcheck client certificate.
    static func etcdctl(stateDir: String, certHost: String, endpoints: [String], _ arguments: [String]) throws -> Run {
        let pki = stateDir + "/pki"
        return try run("/usr/bin/etcdctl", [
            "--endpoints=" + endpoints.joined(separator: ","), "--cacert=\(pki)/etcd/ca.crt",
            "--cert=\(pki)/hosts/\(certHost)/etcd/healthcheck-client.crt", "--key=\(pki)/hosts/\(certHost)/etcd/healthcheck-client.key",
            "--dial-timeout=3s", "--command-timeout=10s",
        ] + arguments, environment: ["ETCDCTL_API": "3"])
    }

    static func statusJSON(_ inventory: String) throws -> (Run, [String: Any]) {
        let r = try capstan(["status", "-i", inventory, "--output", "json"])
        let object = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
        return (r, object)
    }

    static func memberNames(_ status: [String: Any]) -> [String] {
        ((status["rows"] as? [[String: Any]]) ?? []).compactMap { $0["memberName"] as? String }.sorted()
    }
}

extension ProgramRun {
    /// stdout and stderr with a line between them, for the messages of failed expectations.
    var all: String { stdout + "\n" + stderr }
}
