import Foundation
import Hosts
import Inventory
import PKI
import Testing
import TestSupport
@testable import Workflows

@Suite("Control plane and node phases on fake hosts", .tags(.unit))
struct KubernetesWorkflowTests {
    @Test("plan on bare hosts: writes nothing, touches control-plane hosts one at a time, kubelet everywhere")
    func planBareHosts() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let inventory = Fixture.inventory()
        let (pki, artifacts) = try await Fixture.cluster(base)
        let phases = try KubernetesWorkflow.phases(inventory: inventory, pki: pki, artifacts: artifacts, settings: Fixture.settings)
        #expect(phases.map(\.name) == ["node-preflight", "node-kernel", "node-runtime", "node-images", "control-plane", "control-plane-vip", "node-balancer", "node-kubelet"])
        // An external load balancer: no host runs the VIP or the node-local balancer.
        #expect(phases[5].hosts.isEmpty && phases[6].hosts.isEmpty)
        #expect(phases[4].execution == .serial)
        let output = CollectingOutput()
        let ctx = WorkflowContext(mode: .plan, connector: SystemdDoubleConnector(base: base + "/hosts", systemd: SystemdDouble()),
                                  endpoints: Fixture.endpoints(["h1", "h2", "h3"]), output: output, now: { Date() })
        let report = try await PhaseRunner().run(Workflow(name: "kubernetes", phases: phases), in: ctx)
        let actions = report.actions
        #expect(!FileManager.default.fileExists(atPath: base + "/hosts/h1/etc/systemd/system/kube-apiserver.service"))
        #expect(!FileManager.default.fileExists(atPath: base + "/hosts/h3/usr/local/bin/kubelet"))

        func has(_ host: String, _ description: String) -> Bool { actions.contains { $0.host == host && $0.description == description } }
        for host in ["h1", "h2"] {
            #expect(has(host, "create /etc/systemd/system/kube-apiserver.service"))
            #expect(has(host, "create /etc/kubernetes/pki/apiserver-etcd-client.key"))
            #expect(has(host, "create /etc/kubernetes/controller-manager.conf"))
        }
        #expect(!has("h3", "create /etc/systemd/system/kube-apiserver.service"))
        #expect(!actions.contains { $0.host == "h3" && $0.description.contains("ca.key") }, "a worker must never receive a CA key")
        for host in ["h1", "h2", "h3"] {
            #expect(has(host, "create /etc/systemd/system/kubelet.service"))
            #expect(has(host, "create /etc/systemd/system/containerd.service"))
            #expect(has(host, "create /etc/crictl.yaml"))
            #expect(has(host, "create /var/lib/kubelet/config.yaml"))
            #expect(actions.contains { $0.host == host && $0.description.hasPrefix("install /usr/local/bin/kubelet (sha256 ") })
            #expect(actions.contains { $0.host == host && $0.description.hasPrefix("install /usr/local/sbin/runc") })
        }
        // Control-plane phase: no API server runs on bare hosts, so both are changed at once, and it says so.
        let hostsPlanned = output.events.filter { $0.phase == "control-plane" && $0.kind == .planned }.compactMap(\.host)
        #expect(Set(hostsPlanned) == ["h1", "h2"])
        #expect(output.events.contains { $0.phase == "control-plane" && $0.message == "nothing runs yet on h1, h2: all of them at once" })
        let secret = try #require(actions.first { $0.description == "create /etc/kubernetes/pki/sa.key" })
        #expect(secret.diff?.hasPrefix("(secret,") == true)
    }

    @Test("apply converges every host, gates each control-plane host on /livez and /readyz (bare hosts at once), and a re-run does nothing")
    func applyThenNoOp() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let inventory = Fixture.inventory()
        let (pki, artifacts) = try await Fixture.cluster(base)
        let systemd = SystemdDouble()
        func run(_ mode: WorkflowMode, _ artifacts: NodeArtifacts) async throws -> RunReport {
            let phases = try KubernetesWorkflow.phases(inventory: inventory, pki: pki, artifacts: artifacts, settings: Fixture.settings)
            let ctx = WorkflowContext(mode: mode, connector: SystemdDoubleConnector(base: base + "/hosts", systemd: systemd),
                                      endpoints: Fixture.endpoints(["h1", "h2", "h3"]), output: CollectingOutput(), now: { Date() })
            return try await PhaseRunner().run(Workflow(name: "kubernetes", phases: phases), in: ctx)
        }
        let first = try await run(.apply, artifacts)
        #expect(!first.actions.isEmpty)
        let fm = FileManager.default
        for host in ["h1", "h2", "h3"] {
            let root = base + "/hosts/" + host
            #expect(fm.isExecutableFile(atPath: root + "/usr/local/bin/kubelet"))
            #expect(fm.isExecutableFile(atPath: root + "/opt/cni/bin/bridge"))
            #expect(!fm.fileExists(atPath: root + "/opt/cni/bin/LICENSE"))
            let config = try String(contentsOfFile: root + "/var/lib/kubelet/config.yaml", encoding: .utf8)
            #expect(config.contains("clusterDNS:\n  - 10.96.0.10\n"))
            #expect(config.contains("cgroupDriver: systemd"))
            #expect(config.contains("containerRuntimeEndpoint: unix:///run/containerd/containerd.sock"))
        }
        let keyMode = try fm.attributesOfItem(atPath: base + "/hosts/h1/etc/kubernetes/pki/apiserver-etcd-client.key")[.posixPermissions] as? NSNumber
        #expect(keyMode?.intValue == 0o600)
        #expect(!fm.fileExists(atPath: base + "/hosts/h3/etc/kubernetes/pki/ca.key"))
        #expect(!fm.fileExists(atPath: base + "/hosts/h3/etc/systemd/system/kube-apiserver.service"))
        #expect(!fm.fileExists(atPath: base + "/hosts/h1/etc/kubernetes/pki/etcd/ca.key"))

        let log = await systemd.log
        // Bare hosts: both control-plane hosts at once (no API server to keep available), each behind its own gate.
        let h1Gate = try #require(log.firstIndex(of: "h1: curl https://127.0.0.1:6443/readyz"))
        #expect(log.firstIndex(of: "h1: systemctl start kube-apiserver.service").map { $0 < h1Gate } == true)
        let h2Gate = try #require(log.firstIndex(of: "h2: curl https://10.213.0.12:6443/livez"))
        #expect(log.firstIndex(of: "h2: systemctl start kube-apiserver.service").map { $0 < h2Gate } == true)
        #expect(!log.contains { $0.hasPrefix("h3: curl") })
        for host in ["h1", "h2", "h3"] {
            for unit in ["containerd.service", "kubelet.service", "kube-proxy.service"] {
                #expect(await systemd.active[host, default: []].contains(unit), "\(unit) not started on \(host)")
            }
        }

        let logLength = log.count
        let again = try await run(.apply, artifacts)
        #expect(again.actions.isEmpty, "\(again.actions.map { "\($0.host): \($0.description)" })")
        let replan = try await run(.plan, artifacts)
        #expect(replan.actions.isEmpty)
        #expect(await systemd.log.count == logLength, "a no-op run restarted something")

        // A new kubelet release replaces the binary and restarts only the kubelet, on every node.
        try Fixture.releaseSource(base + "/source2", versions: Fixture.versions, marker: "2")
        let store = ArtifactStore(origin: .localDirectory(base + "/source2"), cacheDirectory: base + "/cache")
        var updated = artifacts
        updated.kubernetes["kubelet"] = try await NodeArtifacts.resolve(store: store, inventory: inventory, versions: Fixture.versions).kubernetes["kubelet"]
        let upgrade = try await run(.apply, updated)
        let kubeletSize = ByteCount.text(try #require(ByteCount.size(ofLocalFile: updated.kubernetes["kubelet"]!.localPath)))
        #expect(Set(upgrade.actions.map(\.description)) == ["replace /usr/local/bin/kubelet (sha256 \(updated.kubernetes["kubelet"]!.sha256.prefix(12)), \(kubeletSize))",
                                                             "record the sha256 of 1 installed file(s) in /var/lib/capstan/checksums (unchanged files are not hashed again)",
                                                             "systemctl restart kubelet.service (its binary or certificates changed)"])
        #expect(upgrade.actions.count == 9)
        let record = try String(contentsOfFile: base + "/hosts/h3/var/lib/capstan/checksums", encoding: .utf8)
        #expect(record.contains("\(updated.kubernetes["kubelet"]!.sha256) "), "\(record)")
        #expect(record.hasSuffix(" /usr/local/bin/kubelet\n") || record.contains(" /usr/local/bin/kubelet\n"))
        #expect(record.contains(" /usr/local/bin/kube-proxy\n"), "the record lost the other binaries: \(record)")
    }

    @Test("a no-op run costs each host one command for every phase and no file read; every control-plane host is read before the first one is changed")
    func noOpRoundTrips() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let inventory = Fixture.inventory()
        let (pki, artifacts) = try await Fixture.cluster(base)
        let systemd = SystemdDouble()
        let trips = RoundTrips()
        func run(_ mode: WorkflowMode) async throws -> RunReport {
            let phases = try KubernetesWorkflow.phases(inventory: inventory, pki: pki, artifacts: artifacts, settings: Fixture.settings)
            let ctx = WorkflowContext(mode: mode, connector: CountingConnector(base: base + "/hosts", systemd: systemd, trips: trips),
                                      endpoints: Fixture.endpoints(["h1", "h2", "h3"]), output: CollectingOutput(), now: { Date() })
            return try await PhaseRunner().run(Workflow(name: "kubernetes", phases: phases), in: ctx)
        }
        let first = try await run(.apply)
        #expect(!first.actions.isEmpty)
        // The control-plane phase surveys h1 and h2 together before h1 is changed, and h2 again after (time passed).
        let apiQueries = trips.all.enumerated().filter { $0.element.line.contains("systemctl show") && $0.element.line.contains("kube-apiserver.service") }
        let firstH2 = try #require(apiQueries.first { $0.element.host == "h2" }?.offset)
        let h1Queries = apiQueries.filter { $0.element.host == "h1" }.map(\.offset)
        #expect(h1Queries.count >= 2 && firstH2 < h1Queries[1], "h2 was not surveyed with h1: \(apiQueries.map(\.element.host))")
        #expect(apiQueries.filter { $0.element.host == "h2" }.count >= 2, "h2 was not read again after h1 changed")

        trips.reset()
        let logLength = await systemd.log.count
        let again = try await run(.apply)
        #expect(again.actions.isEmpty, "\(again.actions.map(\.description))")
        #expect(await systemd.log.count == logLength)
        // node-preflight's read also reads what node-kernel, node-runtime, control-plane (h1 and h2) and
        // node-kubelet compare: one command per host.
        for host in ["h1", "h2", "h3"] {
            #expect(trips.commands(host).count == 1, "\(host): \(trips.commands(host))")
        }
        let read = trips.commands("h2").first ?? ""
        for part in ["/etc/os-release", "/proc/modules", "/etc/sysctl.d/k8s.conf", "/etc/containerd/config.toml", "kube-apiserver.service",
                     "/usr/local/bin/kubelet", "kubelet.service"] {
            #expect(read.contains(part), "\(part) is not in h2's one read")
        }
        #expect(trips.reads("h1") + trips.reads("h2") + trips.reads("h3") == 0)

        let hashed = trips.commands("h1").flatMap { $0.split(separator: ";") }.filter { $0.contains("sha256sum") }
        #expect(!hashed.isEmpty && !hashed.contains { $0.contains("/usr/local/bin/") || $0.contains("/opt/cni/bin/") },
                "a recorded binary was hashed again: \(hashed)")

        trips.reset()
        let replan = try await run(.plan)
        #expect(replan.actions.isEmpty)
        #expect(trips.commands("h1").count == 1)

        // A binary rewritten in place with the same size: its change time moved, so it is hashed and replaced.
        let kubelet = base + "/hosts/h2/usr/local/bin/kubelet"
        let original = try #require(FileManager.default.contents(atPath: kubelet))
        var tampered = original
        tampered[tampered.count - 2] = tampered[tampered.count - 2] == 0x41 ? 0x42 : 0x41
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: kubelet))
        try handle.write(contentsOf: tampered)
        try handle.close()
        let repair = try await run(.apply)
        #expect(repair.actions.filter { $0.host == "h2" }.map(\.description).contains { $0.hasPrefix("replace /usr/local/bin/kubelet") }, "\(repair.actions)")
        #expect(repair.actions.allSatisfy { $0.host == "h2" })
        #expect(FileManager.default.contents(atPath: kubelet) == original)
    }

    @Test("once API servers run, an API server that never becomes healthy stops the rollout before the next control-plane host")
    func healthGateStops() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let inventory = Fixture.inventory()
        let (pki, artifacts) = try await Fixture.cluster(base)
        let systemd = SystemdDouble()
        let phases = try ControlPlaneWorkflow.phases(inventory: inventory, pki: pki, artifacts: artifacts, settings: Fixture.settings)
        func context() -> WorkflowContext {
            WorkflowContext(mode: .apply, connector: SystemdDoubleConnector(base: base + "/hosts", systemd: systemd),
                            endpoints: Fixture.endpoints(["h1", "h2", "h3"]), output: CollectingOutput(), now: { Date() })
        }
        // Installed and running on both; then each loses its serving key, so each restarts behind the health gate.
        _ = try await PhaseRunner().run(Workflow(name: "cp", phases: phases), in: context())
        for host in ["h1", "h2"] { try FileManager.default.removeItem(atPath: base + "/hosts/\(host)/etc/kubernetes/pki/apiserver.key") }
        await systemd.setUnhealthy(["h1"])
        let ctx = context()
        do {
            _ = try await PhaseRunner().run(Workflow(name: "cp", phases: phases), in: ctx)
            Issue.record("the rollout went on past an unhealthy API server")
        } catch let WorkflowError.phaseFailed(phase, failures, _) {
            #expect(phase == "control-plane")
            #expect(failures.map(\.host) == ["h1"])
            #expect(failures.first?.message.contains("not healthy") == true)
            #expect(failures.first?.message.contains("connection refused") == true)
        }
        #expect(FileManager.default.fileExists(atPath: base + "/hosts/h1/etc/kubernetes/pki/apiserver.key"))
        #expect(!FileManager.default.fileExists(atPath: base + "/hosts/h2/etc/kubernetes/pki/apiserver.key"))
    }

    @Test("pre-flight reports every problem of a host at once: OS, swap, busy port, missing command")
    func preflightProblems() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        try Fixture.host(base + "/bad")
        try Fixture.host(base + "/good")
        try Fixture.write("ID=plan9\nPRETTY_NAME=\"Plan 9\"\n", to: base + "/bad/etc/os-release")
        try Fixture.write("Filename Type Size Used Priority\n/swapfile file 1048572 0 -2\n", to: base + "/bad/proc/swaps")
        // 0x192B = 6443 in LISTEN (0A) state.
        try Fixture.write("  sl  local_address rem_address   st\n   0: 00000000:192B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n", to: base + "/bad/proc/net/tcp")
        var requirements = Fixture.settings.preflight
        requirements.requiredCommands = ["sh", "capstan-no-such-command"]
        let ctx = WorkflowContext(mode: .plan, connector: LocalTreeConnector(base: base), endpoints: Fixture.endpoints(["bad", "good"]),
                                  output: CollectingOutput(), now: { Date() })
        do {
            try await NodePreflight.check(ctx, host: "bad", controlPlane: true, requirements: requirements)
            Issue.record("pre-flight passed a broken host")
        } catch let error as WorkflowError {
            let text = "\(error)"
            for part in ["unsupported operating system Plan 9", "swap is on (/swapfile)", "port 6443 is in use", "capstan-no-such-command"] {
                #expect(text.contains(part), "missing \(part) in \(text)")
            }
        }
        requirements.requiredCommands = ["sh"]
        try await NodePreflight.check(ctx, host: "good", controlPlane: false, requirements: requirements)

        let skewed = WorkflowContext(mode: .plan, connector: LocalTreeConnector(base: base), endpoints: Fixture.endpoints(["good"]),
                                     output: CollectingOutput(), now: { Date().addingTimeInterval(-600) })
        await #expect(throws: WorkflowError.self) {
            try await NodePreflight.check(skewed, host: "good", controlPlane: false, requirements: requirements)
        }
    }

    @Test("kernel setup: a container host gets a warning and no action; a machine gets modprobe and sysctl")
    func kernelSetup() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        for host in ["box", "vm"] {
            try Fixture.host(base + "/" + host)
            try Fixture.write("overlay 163840 0 - Live 0x0\n", to: base + "/\(host)/proc/modules")
            try FileManager.default.removeItem(atPath: base + "/\(host)/proc/sys/net/bridge/bridge-nf-call-iptables")
        }
        try Fixture.write("systemd-nspawn\n", to: base + "/box/run/systemd/container")
        let output = CollectingOutput()
        let ctx = WorkflowContext(mode: .plan, connector: LocalTreeConnector(base: base), endpoints: Fixture.endpoints(["box", "vm"]),
                                  output: output, now: { Date() })
        try await KernelSetup.ensure(ctx, host: "box", files: [])
        #expect(await ctx.actions.isEmpty)
        let warnings = output.events.filter { $0.host == "box" && $0.message.hasPrefix("warning:") }.map(\.message)
        #expect(warnings.contains { $0.contains("systemd-nspawn") && $0.contains("br_netfilter") })
        #expect(warnings.contains { $0.contains("net.bridge.bridge-nf-call-iptables") })

        try await KernelSetup.ensure(ctx, host: "vm", files: [])
        #expect(await ctx.actions.map(\.description) == ["modprobe br_netfilter", "sysctl -w net.bridge.bridge-nf-call-iptables=1"])
    }
}
