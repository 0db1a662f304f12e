import Foundation
import Hosts
import Inventory
import PKI
import Testing
import TestSupport
@testable import Workflows

/// Test double for kubectl on the control-plane host (no API server runs in the test process): records
/// every call with how many systemd actions the systemd double had logged by then, and fails the drain
/// of `blocked` nodes the way a PodDisruptionBudget does unless `--disable-eviction` is given.
actor KubectlDouble {
    var calls: [(call: String, systemdLogLength: Int)] = []
    let blocked: Set<String>
    let systemd: SystemdDouble

    init(blocked: Set<String>, systemd: SystemdDouble) {
        self.blocked = blocked
        self.systemd = systemd
    }

    func handle(host: String, words: [String]) async -> CommandResult {
        let rest = Array(words.drop { !["cordon", "uncordon", "drain"].contains($0) })
        guard rest.count >= 2 else { return CommandResult(exitStatus: 1, stderr: Data("kubectl double: unexpected \(words)".utf8)) }
        let forced = rest.contains("--disable-eviction")
        calls.append(("\(host): \(rest[0]) \(rest[1])\(forced ? " --disable-eviction" : "")", await systemd.log.count))
        if rest[0] == "drain", blocked.contains(rest[1]), !forced {
            return CommandResult(exitStatus: 1, stderr: Data("Cannot evict pod as it would violate the pod's disruption budget.".utf8))
        }
        return CommandResult(exitStatus: 0)
    }

    func log() -> [String] { calls.map(\.call) }
    func position(of call: String) -> Int? { calls.first { $0.call == call }?.systemdLogLength }
}

struct KubectlDoubleConnector: HostConnector {
    let inner: SystemdDoubleConnector
    let kubectl: KubectlDouble

    struct Connection: HostConnection {
        let inner: SystemdDoubleConnection
        let kubectl: KubectlDouble
        var hostName: String { inner.hostName }
        func run(_ command: ShellCommand, options: RunOptions) async throws -> CommandResult {
            let words = SystemdDoubleConnection.words(command.line)
            if words.first?.hasSuffix("/kubectl") == true { return await kubectl.handle(host: hostName, words: words) }
            return try await inner.run(command, options: options)
        }
        func stream(_ command: ShellCommand, options: RunOptions, onStdout: @Sendable (Data) async throws -> Void) async throws -> CommandResult {
            try await inner.stream(command, options: options, onStdout: onStdout)
        }
        func write(_ data: Data, to path: String, attributes: FileAttributes) async throws { try await inner.write(data, to: path, attributes: attributes) }
        func upload(localFile: String, to path: String, attributes: FileAttributes) async throws { try await inner.upload(localFile: localFile, to: path, attributes: attributes) }
        func read(_ path: String) async throws -> Data? { try await inner.read(path) }
        func download(_ path: String, toLocalFile localPath: String) async throws { try await inner.download(path, toLocalFile: localPath) }
        func close() async {}
    }

    func connect(_ endpoint: HostEndpoint) async throws -> any HostConnection {
        guard let connection = try await inner.connect(endpoint) as? SystemdDoubleConnection else { throw WorkflowError.unknownHost(endpoint.name) }
        return Connection(inner: connection, kubectl: kubectl)
    }
}

@Suite("Kubernetes upgrade steps on fake host trees (systemd, curl and kubectl are test doubles)", .tags(.unit))
struct KubernetesUpgradeTests {
    let inventory = Inventory(
        name: "lab", kubernetesVersion: SemanticVersion(1, 31, 4), controlPlane: ControlPlaneSpec(endpoint: nil),
        hosts: [
            HostSpec(name: "h1", address: "127.0.0.1", roles: [.controlPlane, .etcd]),
            HostSpec(name: "h3", address: "10.213.0.13", roles: [.worker]),
            HostSpec(name: "h4", address: "10.213.0.14", roles: [.worker]),
        ])

    /// The cluster installed from release "1" and an upgrader to release "2" (same version tag, new binaries).
    func installed(_ base: String, systemd: SystemdDouble, kubectl: KubectlDouble) async throws -> (WorkflowContext, NodeArtifacts, ClusterFiles) {
        let (pki, artifacts) = try await Fixture.cluster(base, inventory: inventory)
        let ctx = WorkflowContext(mode: .apply, connector: KubectlDoubleConnector(inner: SystemdDoubleConnector(base: base + "/hosts", systemd: systemd), kubectl: kubectl),
                                  endpoints: Fixture.endpoints(["h1", "h3", "h4"]), output: CollectingOutput(), now: { Date() })
        _ = try await PhaseRunner().run(Workflow(name: "install", phases: try KubernetesWorkflow.phases(inventory: inventory, pki: pki, artifacts: artifacts, settings: Fixture.settings)), in: ctx)
        try Fixture.releaseSource(base + "/source2", versions: Fixture.versions, marker: "2")
        let store = ArtifactStore(origin: .localDirectory(base + "/source2"), cacheDirectory: base + "/cache2")
        return (ctx, try await NodeArtifacts.resolve(store: store, inventory: inventory, versions: Fixture.versions), pki)
    }

    func kubelet(_ base: String, _ host: String) throws -> String {
        try String(contentsOfFile: base + "/hosts/\(host)/usr/local/bin/kubelet", encoding: .utf8)
    }

    @Test("a batch is cordoned and drained whole before any node changes; a drain held up by a PDB stops it with nothing upgraded; --force-drain deletes past it, and uncordon comes after each node is upgraded and healthy")
    func batchDrain() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let systemd = SystemdDouble()
        let kubectl = KubectlDouble(blocked: ["h4"], systemd: systemd)
        let (ctx, release2, pki) = try await installed(base, systemd: systemd, kubectl: kubectl)
        let gate = HealthGate(timeoutSeconds: 0.6, intervalSeconds: 0.1)

        let polite = try KubernetesUpgrade(inventory: inventory, pki: pki, artifacts: release2, settings: KubernetesUpgradeSettings(drainTimeoutSeconds: 2, healthGate: gate),
                                           install: Fixture.settings)
        do {
            try await polite.upgradeWorkers(ctx, batch: ["h3", "h4"], controlHost: "h1")
            Issue.record("the batch went on past a drain that did not finish")
        } catch let error as WorkflowError {
            guard case let .drainIncomplete(node, controlHost, reason, next) = error else {
                Issue.record("a drain that did not finish must be reported as such, got \(error)")
                return
            }
            #expect(node == "h4" && controlHost == "h1")
            #expect(error.incompleteDrain == "h4")
            #expect(reason.contains("disruption budget"))
            #expect(next.contains("--force-drain"))
        }
        #expect(await kubectl.log() == ["h1: cordon h3", "h1: cordon h4", "h1: drain h3", "h1: drain h4"])
        #expect(try kubelet(base, "h3").contains("kubelet 1"), "nothing of the batch changes before all of it is drained")

        let forced = try KubernetesUpgrade(inventory: inventory, pki: pki, artifacts: release2,
                                           settings: KubernetesUpgradeSettings(forceDrain: true, drainTimeoutSeconds: 2, healthGate: gate), install: Fixture.settings)
        try await forced.upgradeWorkers(ctx, batch: ["h3", "h4"], controlHost: "h1")
        #expect(Array(await kubectl.log().dropFirst(4)) == [
            "h1: cordon h3", "h1: cordon h4", "h1: drain h3", "h1: drain h4", "h1: drain h4 --disable-eviction", "h1: uncordon h3", "h1: uncordon h4",
        ])
        #expect(try kubelet(base, "h3").contains("kubelet 2") && kubelet(base, "h4").contains("kubelet 2"))
        let systemdLog = await systemd.log
        let restart = try #require(systemdLog.lastIndex(of: "h3: systemctl restart kubelet.service"))
        let uncordon = try #require(await kubectl.position(of: "h1: uncordon h3"))
        #expect(restart < uncordon, "h3 was uncordoned before its kubelet was restarted")
        #expect(systemdLog[restart...].contains { $0.hasPrefix("h3: curl http://127.0.0.1:10248/healthz") }, "the kubelet's health was checked after its restart")
        #expect(!systemdLog.contains { $0.hasPrefix("h1: systemctl restart") }, "a worker batch touches no control-plane host")
    }

    @Test("a control-plane host that does not come back healthy is reported by name; a healthy one is converged and every component gated")
    func controlPlaneGate() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let systemd = SystemdDouble()
        let kubectl = KubectlDouble(blocked: [], systemd: systemd)
        let (ctx, release2, pki) = try await installed(base, systemd: systemd, kubectl: kubectl)
        let upgrade = try KubernetesUpgrade(inventory: inventory, pki: pki, artifacts: release2,
                                            settings: KubernetesUpgradeSettings(healthGate: HealthGate(timeoutSeconds: 0.6, intervalSeconds: 0.1)), install: Fixture.settings)
        await systemd.setUnhealthy(["h1"])
        do {
            try await upgrade.upgradeControlPlane(ctx, host: "h1")
            Issue.record("an unhealthy API server passed the upgrade gate")
        } catch let WorkflowError.hostFailed(host, _, reason, next) {
            #expect(host == "h1")
            #expect(reason.contains("not healthy"))
            #expect(next.contains("capstan upgrade apply") && next.contains("capstan upgrade rollback"))
        }
        await systemd.setUnhealthy([])
        try await upgrade.upgradeControlPlane(ctx, host: "h1")
        let log = await systemd.log
        for url in ["/livez", "/readyz", "https://127.0.0.1:10257/healthz", "https://127.0.0.1:10259/healthz", "http://127.0.0.1:10248/healthz", "http://127.0.0.1:10256/healthz"] {
            #expect(log.contains { $0.hasPrefix("h1: curl") && $0.hasSuffix(url) }, "\(url) not probed")
        }
        #expect(try String(contentsOfFile: base + "/hosts/h1/usr/local/bin/kube-apiserver", encoding: .utf8).contains("kube-apiserver 2"))
        #expect(await kubectl.log().isEmpty)
    }

    @Test("upgrading a host that is already at the release reads each install phase's files in one command and changes nothing")
    func convergedHostReads() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let systemd = SystemdDouble()
        let (pki, artifacts) = try await Fixture.cluster(base, inventory: inventory)
        let install = WorkflowContext(mode: .apply, connector: SystemdDoubleConnector(base: base + "/hosts", systemd: systemd),
                                      endpoints: Fixture.endpoints(["h1", "h3", "h4"]), output: CollectingOutput(), now: { Date() })
        _ = try await PhaseRunner().run(Workflow(name: "install", phases: try KubernetesWorkflow.phases(inventory: inventory, pki: pki, artifacts: artifacts, settings: Fixture.settings)), in: install)
        let trips = RoundTrips()
        let ctx = WorkflowContext(mode: .apply, connector: CountingConnector(base: base + "/hosts", systemd: systemd, trips: trips),
                                  endpoints: Fixture.endpoints(["h1", "h3", "h4"]), output: CollectingOutput(), now: { Date() })
        let upgrade = try KubernetesUpgrade(inventory: inventory, pki: pki, artifacts: artifacts,
                                            settings: KubernetesUpgradeSettings(healthGate: HealthGate(timeoutSeconds: 0.6, intervalSeconds: 0.1)), install: Fixture.settings)
        try await upgrade.upgradeControlPlane(ctx, host: "h1")
        let actions = await ctx.actions
        #expect(actions.isEmpty, "\(actions)")
        // node-runtime, control-plane and node-kubelet read the host once each (node-images declares no read);
        // calling the bodies without their surveys read it 9 times. The rest are the health gate's probes.
        let commands = trips.commands("h1").filter { !$0.contains("curl") }
        #expect(commands.filter { $0.hasPrefix("echo '#capstan-stat'") }.count == 3, "\(commands)")
        #expect(commands.filter { !$0.hasPrefix("echo '#capstan-stat'") }.allSatisfy { $0.hasPrefix("systemctl is-active --quiet") }, "\(commands)")
        #expect(trips.reads("h1") == 0)
    }
}
