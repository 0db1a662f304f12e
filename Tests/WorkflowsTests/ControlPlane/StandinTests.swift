import Foundation
import Hosts
import Inventory
import PKI
import Testing
import TestSupport
@testable import Workflows

/// Runs the Kubernetes stand-ins (Tests/Standins, installed by scripts/standin-artifacts.sh) with the
/// flags of the units Capstan renders, the certificates its PKI issues, and a real etcd.
/// CAPSTAN_K8S_ARTIFACTS=<dir in the upstream layout> runs the same install against real release binaries.
@Suite("Kubernetes stand-ins against a real etcd", .serialized, .tags(.etcd))
struct StandinTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    static func freePort() throws -> Int {
        let r = try runProgram(["python3", "-c", "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"])
        return try #require(Int(r.output.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    /// A background process whose combined output goes to `log`.
    final class Background: @unchecked Sendable {
        let process = Process()
        let log: String
        init(_ args: [String], log: String, environment: [String: String] = [:]) throws {
            self.log = log
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = args
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }
        var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        /// Waits until `condition` holds or the process exits; false on timeout or exit.
        func wait(seconds: Double, until condition: () throws -> Bool) rethrows -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if try condition() { return true }
                if !process.isRunning { return try condition() }
                Thread.sleep(forTimeInterval: 0.2)
            }
            return false
        }
    }

    /// ExecStart of a rendered unit as an argument list, with host paths moved under `root`.
    static func command(unit: String, root: String, replacing: [String: String] = [:]) -> [String] {
        var words: [String] = []
        guard let start = unit.range(of: "ExecStart=") else { return [] }
        for line in unit[start.upperBound...].split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            let continued = trimmed.hasSuffix("\\")
            words.append(continued ? String(trimmed.dropLast()).trimmingCharacters(in: .whitespaces) : trimmed)
            if !continued { break }
        }
        return words.map { word in
            let key = String(word.split(separator: "=", maxSplits: 1).first ?? "")
            if let value = replacing[key] { return key + "=" + value }
            return word.replacingOccurrences(of: "=/etc/", with: "=\(root)/etc/").replacingOccurrences(of: "=/var/", with: "=\(root)/var/")
                .replacingOccurrences(of: "/usr/local/bin/", with: "\(root)/usr/local/bin/")
        }
    }

    @Test("the installed stand-ins accept Capstan's files, reach etcd with the client certificate, serve /livez and /readyz over TLS, and refuse broken inputs")
    func standins() async throws {
        try #require(try runProgram(["sh", "-c", "command -v etcd && command -v python3 && command -v curl"]).status == 0,
                     "needs etcd (Debian etcd-server), python3 and curl (scripts/prereqs.sh)")
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let apiPort = try Self.freePort()
        let inventory = Inventory(
            name: "standin", kubernetesVersion: SemanticVersion(1, 31, 4), controlPlane: ControlPlaneSpec(endpoint: "127.0.0.1:\(apiPort)"),
            hosts: [HostSpec(name: "h1", address: "127.0.0.1", roles: [.controlPlane, .etcd, .worker])])
        let state = StateDirectory(root: base + "/state")
        try await PKIPhase.create(PKIManager(inventory: inventory, state: state), now: Date())
        try Fixture.releaseSource(base + "/source", versions: Fixture.versions)
        let k8s = ProcessInfo.processInfo.environment["CAPSTAN_K8S_ARTIFACTS"]
        if k8s == nil {
            let built = try runProgram([Self.repository + "/scripts/standin-artifacts.sh", base + "/source", "1.31.4"])
            #expect(built.status == 0, "\(built.output)")
        }
        let kubernetesSource = ArtifactStore(origin: .localDirectory(k8s ?? base + "/source"), cacheDirectory: base + "/cache")
        let runtimeSource = ArtifactStore(origin: .localDirectory(base + "/source"), cacheDirectory: base + "/cache")
        var artifacts = try await NodeArtifacts.resolve(store: runtimeSource, inventory: inventory, versions: Fixture.versions)
        artifacts.kubernetes = try await NodeArtifacts.resolve(store: kubernetesSource, inventory: inventory, versions: Fixture.versions).kubernetes
        try Fixture.host(base + "/hosts/h1")
        let root = base + "/hosts/h1"

        let phases = try KubernetesWorkflow.phases(inventory: inventory, pki: try ClusterFiles(inventory: inventory, state: state),
                                                   artifacts: artifacts, settings: Fixture.settings)
        let ctx = WorkflowContext(mode: .apply, connector: SystemdDoubleConnector(base: base + "/hosts", systemd: SystemdDouble()),
                                  endpoints: Fixture.endpoints(["h1"]), output: CollectingOutput(), now: { Date() })
        _ = try await PhaseRunner().run(Workflow(name: "kubernetes", phases: phases), in: ctx)
        let version = try runProgram([root + "/usr/local/bin/kube-apiserver", "--version"])
        if k8s == nil { #expect(version.output.contains("Capstan stand-in for kube-apiserver")) }

        // A real etcd with the member certificates Capstan installed on h1.
        let pki = root + "/etc/kubernetes/pki"
        let etcdPort = try Self.freePort(), peerPort = try Self.freePort()
        let etcd = try Background([
            "etcd", "--name=h1", "--data-dir=\(base)/etcd-data", "--listen-client-urls=https://127.0.0.1:\(etcdPort)",
            "--advertise-client-urls=https://127.0.0.1:\(etcdPort)", "--listen-peer-urls=http://127.0.0.1:\(peerPort)",
            "--initial-advertise-peer-urls=http://127.0.0.1:\(peerPort)", "--initial-cluster=h1=http://127.0.0.1:\(peerPort)",
            "--client-cert-auth", "--trusted-ca-file=\(pki)/etcd/ca.crt", "--cert-file=\(pki)/etcd/server.crt", "--key-file=\(pki)/etcd/server.key",
        ], log: base + "/etcd.log")
        defer { etcd.stop() }

        let unit = try String(contentsOfFile: root + "/etc/systemd/system/kube-apiserver.service", encoding: .utf8)
        var apiArgs = Self.command(unit: unit, root: root, replacing: ["--etcd-servers": "https://127.0.0.1:\(etcdPort)", "--secure-port": "\(apiPort)"])
        apiArgs.append("--bind-address=127.0.0.1")
        let api = try Background(apiArgs, log: base + "/apiserver.log", environment: ["CAPSTAN_STANDIN_ETCD_WAIT": "30"])
        defer { api.stop() }
        let healthy = try api.wait(seconds: 40) {
            try runProgram(["curl", "-fsS", "--max-time", "2", "--cacert", pki + "/ca.crt", "https://127.0.0.1:\(apiPort)/livez"]).output == "ok"
        }
        #expect(healthy, "apiserver: \(api.output)\netcd: \(etcd.output.suffix(2000))")
        let ready = try runProgram(["curl", "-fsS", "--cacert", pki + "/ca.crt", "https://127.0.0.1:\(apiPort)/readyz"])
        #expect(ready.output == "ok")
        #expect(api.output.contains("etcd https://127.0.0.1:\(etcdPort) healthy with client certificate"))

        // The kubelet stand-in reaches the API server with the node's client certificate from kubelet.conf.
        let config = root + "/var/lib/kubelet/config.yaml"
        try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: " /etc/", with: " \(root)/etc/")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let kubeletUnit = try String(contentsOfFile: root + "/etc/systemd/system/kubelet.service", encoding: .utf8)
        let kubelet = try Background(Self.command(unit: kubeletUnit, root: root), log: base + "/kubelet.log")
        defer { kubelet.stop() }
        #expect(kubelet.wait(seconds: 20) { kubelet.output.contains("all checks passed") }, "\(kubelet.output)")
        #expect(kubelet.output.contains("accepts the node's client certificate"))
        kubelet.stop()

        guard k8s == nil else { return }
        // Broken inputs: a key that does not match, a missing file, an etcd client certificate from the wrong CA.
        func refused(_ replacing: [String: String], _ message: String) throws {
            var args = Self.command(unit: unit, root: root, replacing: replacing)
            args.append("--bind-address=127.0.0.1")
            let r = try runProgram(args, environment: ["CAPSTAN_STANDIN_ETCD_WAIT": "1"])
            #expect(r.status != 0)
            #expect(r.output.contains(message), "\(r.output)")
        }
        let port = "\(try Self.freePort())"
        try refused(["--tls-private-key-file": pki + "/apiserver-kubelet-client.key", "--secure-port": port], "do not match")
        try refused(["--etcd-cafile": pki + "/etcd/missing.crt", "--secure-port": port], "--etcd-cafile=\(pki)/etcd/missing.crt: no such file")
        try refused(["--etcd-servers": "https://127.0.0.1:\(etcdPort)", "--etcd-certfile": pki + "/apiserver-kubelet-client.crt",
                     "--etcd-keyfile": pki + "/apiserver-kubelet-client.key", "--secure-port": port], "cannot reach etcd")
    }
}
