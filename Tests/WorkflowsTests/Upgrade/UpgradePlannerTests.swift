import Inventory
import Testing
import TestSupport
@testable import Workflows

@Suite("Upgrade planning: path, skew policy, refusals, step order", .tags(.unit))
struct UpgradePlannerTests {
    func v(_ text: String) -> SemanticVersion { SemanticVersion(parsing: text)! }

    func controlPlane(_ name: String, _ k: String, etcd: String? = "3.5.12") -> HostVersions {
        let version = v(k)
        return HostVersions(host: name, roles: [.controlPlane, .etcd], etcd: etcd.map(v),
                            components: Dictionary(uniqueKeysWithValues: KubeComponent.controlPlane.map { ($0, version) }))
    }

    func worker(_ name: String, _ k: String) -> HostVersions {
        HostVersions(host: name, roles: [.worker], components: [.kubelet: v(k), .kubeProxy: v(k)])
    }

    func cluster(_ k: String = "1.30.2", workers: Int = 0) -> [HostVersions] {
        ["cp1", "cp2", "cp3"].map { controlPlane($0, k) } + (0..<workers).map { worker("w\($0 + 1)", k) }
    }

    func refusal(_ request: UpgradeRequest) -> UpgradeRefusal? {
        do {
            _ = try UpgradePlanner.plan(request)
            return nil
        } catch {
            return error
        }
    }

    @Test("one minor up: etcd first (leader last), then control-plane hosts one at a time, then workers in batches")
    func oneMinorOrder() throws {
        let request = UpgradeRequest(running: cluster(workers: 4), kubernetes: v("1.31.4"), etcdMembers: ["cp1", "cp2", "cp3"],
                                     etcdLeader: "cp1", maxUnavailable: .count(3))
        let plan = try UpgradePlanner.plan(request)
        #expect(plan.kubernetesHops == [v("1.31.4")])
        #expect(plan.etcdTarget == v("3.5.15"))
        #expect(plan.steps.map(\.stage) == [.etcd, .etcd, .etcd, .controlPlane, .controlPlane, .controlPlane, .workers, .workers])
        #expect(plan.steps.prefix(3).map { $0.hosts } == [["cp2"], ["cp3"], ["cp1"]])
        #expect(plan.steps[3...5].map { $0.hosts } == [["cp1"], ["cp2"], ["cp3"]])
        #expect(plan.steps[6].hosts == ["w1", "w2", "w3"])
        #expect(plan.steps[7].hosts == ["w4"])
        #expect(plan.steps[6].actions.first == "cordon" && plan.steps[6].actions.last == "uncordon")
        #expect(plan.steps[3].actions.first == "replace kube-apiserver")
        #expect(plan.steps[0].from == "3.5.12" && plan.steps[0].to == "3.5.15")
    }

    @Test("two minors up goes through the newest known release of the skipped minor")
    func multipleHops() throws {
        let running = ["cp1"].map { controlPlane($0, "1.29.3") } + [worker("w1", "1.29.3")]
        let request = UpgradeRequest(running: running, kubernetes: v("1.31.4"), etcdMembers: ["cp1"],
                                     knownReleases: [v("1.30.1"), v("1.30.8"), v("1.30.9-rc.1"), v("1.31.4")])
        let plan = try UpgradePlanner.plan(request)
        #expect(plan.kubernetesHops == [v("1.30.8"), v("1.31.4")])
        let kube = plan.steps.filter { $0.stage != .etcd }
        #expect(kube.map(\.stage) == [.controlPlane, .workers, .controlPlane, .workers])
        #expect(kube.map(\.to) == ["1.30.8", "1.30.8", "1.31.4", "1.31.4"])
        #expect(kube[2].from == "1.30.8")
    }

    @Test("a skipped minor with no known release to step through is refused, naming the minor")
    func skippedMinorRefused() {
        let request = UpgradeRequest(running: cluster("1.29.3"), kubernetes: v("1.31.4"), etcdMembers: ["cp1", "cp2", "cp3"])
        let r = refusal(request)
        #expect(r?.reason.contains("skips 1.30") == true)
        #expect(r?.next.contains("--to v1.30") == true)
    }

    @Test("a lower target is refused as a downgrade")
    func downgradeRefused() {
        let r = refusal(UpgradeRequest(running: cluster("1.31.4"), kubernetes: v("1.30.2"), etcdMembers: ["cp1"]))
        #expect(r?.reason.contains("downgrade") == true)
        let patch = refusal(UpgradeRequest(running: cluster("1.31.4"), kubernetes: v("1.31.2"), etcdMembers: ["cp1"]))
        #expect(patch?.reason.contains("downgrade") == true)
    }

    @Test("a target or running version outside SupportedVersions is refused as unknown")
    func unknownVersions() {
        let target = refusal(UpgradeRequest(running: cluster(), kubernetes: v("1.40.0"), etcdMembers: ["cp1"]))
        #expect(target?.reason.contains("unknown") == true)
        let old = refusal(UpgradeRequest(running: cluster("1.25.0"), kubernetes: v("1.29.1"), etcdMembers: ["cp1"]))
        #expect(old?.reason.contains("outside the supported window") == true)
        let etcd = refusal(UpgradeRequest(running: cluster(), kubernetes: v("1.31.4"), etcd: v("3.6.0"), etcdMembers: ["cp1"]))
        #expect(etcd?.reason.contains("etcd 3.6.0 is unknown") == true)
    }

    @Test("apiservers more than one minor apart are refused")
    func apiserverSkew() {
        var running = cluster("1.31.4")
        running[0] = controlPlane("cp1", "1.29.3")
        let r = refusal(UpgradeRequest(running: running, kubernetes: v("1.32.0"), etcdMembers: ["cp1"]))
        #expect(r?.reason.contains("more than one minor apart") == true)
    }

    @Test("a controller-manager or scheduler newer than the oldest apiserver is refused")
    func controllerNewer() {
        var running = cluster("1.30.2")
        running[1].components[.scheduler] = v("1.31.0")
        running[2].components[.apiserver] = v("1.31.0")
        let r = refusal(UpgradeRequest(running: running, kubernetes: v("1.31.4"), etcdMembers: ["cp1"]))
        #expect(r?.reason.contains("kube-scheduler on cp2") == true)
        #expect(r?.reason.contains("newer than kube-apiserver") == true)
    }

    @Test("part way through a rolling upgrade (cp1 wholly on the new minor, cp2 and cp3 not) the rest is planned, not refused")
    func midRollingUpgrade() throws {
        var running = cluster("1.30.2", workers: 1)
        running[0] = controlPlane("cp1", "1.31.4")
        let plan = try UpgradePlanner.plan(UpgradeRequest(running: running, kubernetes: v("1.31.4"), etcd: v("3.5.12"), etcdMembers: ["cp1", "cp2", "cp3"]))
        #expect(plan.steps.map(\.hosts) == [["cp2"], ["cp3"], ["w1"]])
        running[3].components[.kubelet] = v("1.31.4")
        #expect(refusal(UpgradeRequest(running: running, kubernetes: v("1.31.4"), etcdMembers: ["cp1"]))?.reason.contains("kubelet on w1") == true)
    }

    @Test("kubelets: newer than the apiserver refused; three minors older allowed and caught up; a hop leaving them three behind allowed")
    func kubeletSkew() throws {
        let newer = refusal(UpgradeRequest(running: cluster("1.30.2") + [worker("w1", "1.31.0")], kubernetes: v("1.31.4"), etcdMembers: ["cp1"]))
        #expect(newer?.reason.contains("kubelet on w1") == true)

        let threeOlder = UpgradeRequest(running: cluster("1.32.0") + [HostVersions(host: "w1", roles: [.worker], components: [.kubelet: v("1.29.0")])],
                                        kubernetes: v("1.32.0"), etcdMembers: ["cp1"])
        let plan = try UpgradePlanner.plan(threeOlder)
        #expect(plan.steps.filter { $0.stage == .workers }.map(\.hosts) == [["w1"]], "the lagging node is caught up")

        // 1.29 kubelet with 1.29 apiservers: one hop to 1.30 is fine, but 1.29 → 1.33 would not be (checked per hop).
        let running = cluster("1.31.4") + [HostVersions(host: "w1", roles: [.worker], components: [.kubelet: v("1.29.0")])]
        let hop = refusal(UpgradeRequest(running: running, kubernetes: v("1.32.0"), etcdMembers: ["cp1"]))
        #expect(hop == nil, "three behind after the hop is still allowed")
    }

    @Test("kubectl more than one minor from the apiserver is refused")
    func kubectlSkew() {
        var running = cluster("1.31.4")
        running[2].components[.kubectl] = v("1.29.0")
        let r = refusal(UpgradeRequest(running: running, kubernetes: v("1.32.0"), etcdMembers: ["cp1"]))
        #expect(r?.reason.contains("kubectl on cp3") == true)
    }

    @Test("etcd-only cluster 3.4.23 → 3.5.1: members one at a time, leader last; nothing for Kubernetes")
    func etcdOnly() throws {
        let running = ["h1", "h2", "h3"].map { HostVersions(host: $0, roles: [.controlPlane, .etcd], etcd: v("3.4.23")) }
        let plan = try UpgradePlanner.plan(UpgradeRequest(running: running, kubernetes: v("1.31.4"), etcd: v("3.5.1"),
                                                          etcdMembers: ["h1", "h2", "h3"], etcdLeader: "h2"))
        #expect(plan.kubernetesHops.isEmpty)
        #expect(plan.steps.map(\.hosts) == [["h1"], ["h3"], ["h2"]])
        #expect(plan.steps.allSatisfy { $0.stage == .etcd && $0.from == "3.4.23" && $0.to == "3.5.1" })
        #expect(plan.steps.last?.actions.contains("restart etcd (leader, last)") == true)
        #expect(plan.notes.contains { $0.contains("only etcd") })
    }

    @Test("members already on the target are skipped (resume after an interrupted run)")
    func resumeSkipsDone() throws {
        var running = ["h1", "h2", "h3"].map { HostVersions(host: $0, roles: [.etcd], etcd: v("3.4.23")) }
        running[0].etcd = v("3.5.1")
        let plan = try UpgradePlanner.plan(UpgradeRequest(running: running, kubernetes: v("1.31.4"), etcd: v("3.5.1"),
                                                          etcdMembers: ["h1", "h2", "h3"], etcdLeader: "h3"))
        #expect(plan.steps.map(\.hosts) == [["h2"], ["h3"]])
        let done = try UpgradePlanner.plan(UpgradeRequest(running: running.map { var h = $0; h.etcd = v("3.5.1"); return h },
                                                          kubernetes: v("1.31.4"), etcd: v("3.5.1"), etcdMembers: ["h1", "h2", "h3"]))
        #expect(done.isEmpty)
    }

    @Test("etcd: downgrade, skipped minor, unknown running version and 3.4 under a control plane are refused")
    func etcdRefusals() {
        let on35 = ["h1"].map { HostVersions(host: $0, roles: [.etcd], etcd: v("3.5.1")) }
        #expect(refusal(UpgradeRequest(running: on35, kubernetes: v("1.31.4"), etcd: v("3.4.23"), etcdMembers: ["h1"]))?.reason.contains("downgrade") == true)
        let on33 = ["h1"].map { HostVersions(host: $0, roles: [.etcd], etcd: v("3.3.25")) }
        #expect(refusal(UpgradeRequest(running: on33, kubernetes: v("1.31.4"), etcd: v("3.4.23"), etcdMembers: ["h1"]))?.reason.contains("unknown") == true)
        let cp = cluster("1.31.4").map { var h = $0; h.etcd = v("3.4.23"); return h }
        #expect(refusal(UpgradeRequest(running: cp, kubernetes: v("1.31.4"), etcd: v("3.4.25"), etcdMembers: ["cp1"]))?.reason.contains("too old") == true)
    }

    @Test("worker batches follow maxUnavailable: 10% of 25 = 2, at least 1; control-plane hosts are never in a worker batch")
    func batches() throws {
        let running = cluster(workers: 25)
        let plan = try UpgradePlanner.plan(UpgradeRequest(running: running, kubernetes: v("1.31.4"), etcdMembers: ["cp1", "cp2", "cp3"]))
        let batches = plan.steps.filter { $0.stage == .workers }
        #expect(batches.count == 13)
        #expect(batches.first?.hosts.count == 2 && batches.last?.hosts.count == 1)
        #expect(!batches.flatMap(\.hosts).contains { $0.hasPrefix("cp") })
        let small = try UpgradePlanner.plan(UpgradeRequest(running: cluster(workers: 3), kubernetes: v("1.31.4"), etcdMembers: ["cp1"]))
        #expect(small.steps.filter { $0.stage == .workers }.map(\.hosts) == [["w1"], ["w2"], ["w3"]])
    }

    @Test("a patch upgrade within the same minor is one hop; an up-to-date cluster plans nothing")
    func patchAndNoop() throws {
        let patch = try UpgradePlanner.plan(UpgradeRequest(running: cluster("1.31.2"), kubernetes: v("1.31.4"), etcd: v("3.5.12"), etcdMembers: ["cp1", "cp2", "cp3"]))
        #expect(patch.kubernetesHops == [v("1.31.4")])
        #expect(patch.steps.allSatisfy { $0.stage == .controlPlane })
        let same = try UpgradePlanner.plan(UpgradeRequest(running: cluster("1.31.4"), kubernetes: v("1.31.4"), etcd: v("3.5.12"), etcdMembers: ["cp1", "cp2", "cp3"]))
        #expect(same.isEmpty)
    }
}
