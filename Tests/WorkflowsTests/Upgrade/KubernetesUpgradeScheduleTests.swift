import Foundation
import Inventory
import PKI
import Testing
import TestSupport
@testable import Workflows

@Suite("Kubernetes upgrade schedule: resuming where a run stopped, rollback order, the record", .tags(.unit))
struct KubernetesUpgradeScheduleTests {
    func v(_ text: String) -> SemanticVersion { SemanticVersion(parsing: text)! }

    func controlPlane(_ name: String, _ k: String, kubelet: String? = nil) -> HostVersions {
        var components = Dictionary(uniqueKeysWithValues: KubeComponent.controlPlane.map { ($0, v(k)) })
        if let kubelet { components[.kubelet] = v(kubelet); components[.kubeProxy] = v(kubelet) }
        return HostVersions(host: name, roles: [.controlPlane, .etcd], etcd: v("3.5.15"), components: components)
    }

    func worker(_ name: String, _ k: String) -> HostVersions {
        HostVersions(host: name, roles: [.worker], components: [.kubelet: v(k), .kubeProxy: v(k)])
    }

    func planned(_ running: [HostVersions], maxUnavailable: MaxUnavailable = .count(2)) throws -> [UpgradeStep] {
        let request = UpgradeRequest(running: running, kubernetes: v("1.32.0"), etcd: v("3.5.15"), etcdMembers: ["cp1", "cp2"],
                                     etcdLeader: "cp1", maxUnavailable: maxUnavailable)
        return try UpgradePlanner.plan(request).steps.filter { $0.stage != .etcd }
    }

    @Test("a control-plane host that stopped with the new binaries in place is done again first, although the planner no longer lists it")
    func resumeControlPlane() throws {
        let running = [controlPlane("cp1", "1.32.0"), controlPlane("cp2", "1.32.0", kubelet: "1.31.4"), controlPlane("cp3", "1.31.4"),
                       worker("w1", "1.31.4"), worker("w2", "1.31.4"), worker("w3", "1.31.4")]
        let steps = KubernetesUpgradeSchedule.resume(planned: try planned(running), pending: ["cp2"], controlPlane: ["cp1", "cp2", "cp3"], to: "1.32.0")
        #expect(steps.map(\.hosts) == [["cp2"], ["cp3"], ["w1", "w2"], ["w3"]])
        #expect(steps.map(\.stage) == [.controlPlane, .controlPlane, .workers, .workers])

        let gated = [controlPlane("cp1", "1.32.0"), controlPlane("cp2", "1.32.0")]
        #expect(try planned(gated).isEmpty)
        #expect(KubernetesUpgradeSchedule.resume(planned: [], pending: ["cp2"], controlPlane: ["cp1", "cp2"], to: "1.32.0").map(\.hosts) == [["cp2"]])
    }

    @Test("a worker batch that stopped at its drain is done again as the same batch, after any control-plane step and before the others")
    func resumeWorkers() throws {
        let running = [controlPlane("cp1", "1.32.0"), controlPlane("cp2", "1.31.4"),
                       worker("w1", "1.31.4"), worker("w2", "1.31.4"), worker("w3", "1.31.4"), worker("w4", "1.31.4")]
        let steps = KubernetesUpgradeSchedule.resume(planned: try planned(running), pending: ["w2", "w3"], controlPlane: ["cp1", "cp2"], to: "1.32.0")
        #expect(steps.map(\.hosts) == [["cp2"], ["w2", "w3"], ["w1"], ["w4"]])
        #expect(steps.map(\.stage) == [.controlPlane, .workers, .workers, .workers])
        #expect(KubernetesUpgradeSchedule.resume(planned: try planned(running), pending: [], controlPlane: ["cp1", "cp2"], to: "1.32.0")
            == (try planned(running)))
    }

    @Test("rollback: workers newer than before go first in batches, then control-plane hosts; hosts already back are left out")
    func rollbackOrder() {
        let running = [controlPlane("cp1", "1.32.0"), controlPlane("cp2", "1.32.0", kubelet: "1.31.4"), controlPlane("cp3", "1.31.4"),
                       worker("w1", "1.32.0"), worker("w2", "1.32.0"), worker("w3", "1.32.0"), worker("w4", "1.31.4")]
        let previous = ["cp1": "1.31.4", "cp2": "1.31.4", "cp3": "1.31.4", "w1": "1.31.4", "w2": "1.31.4", "w3": "1.31.4", "w4": "1.31.4"]
        let steps = KubernetesUpgradeSchedule.rollback(running: running, previous: previous, maxUnavailable: .count(2))
        #expect(steps.map(\.hosts) == [["w1", "w2"], ["w3"], ["cp1"], ["cp2"]])
        #expect(steps.allSatisfy { $0.to == "1.31.4" })
        #expect(steps[3].actions.contains("return kube-apiserver to v1.31.4"))
        #expect(!steps[3].actions.contains("return kubelet to v1.31.4"))
        #expect(KubernetesUpgradeSchedule.rollback(running: running, previous: [:], maxUnavailable: .count(2)).isEmpty)
    }

    @Test("the version recorded per host is the API server's on control-plane hosts, else the kubelet's")
    func recordedVersion() {
        #expect(KubernetesUpgradeSchedule.recorded(controlPlane("cp1", "1.31.4", kubelet: "1.30.2")) == v("1.31.4"))
        #expect(KubernetesUpgradeSchedule.recorded(worker("w1", "1.30.2")) == v("1.30.2"))
        #expect(KubernetesUpgradeSchedule.recorded(HostVersions(host: "e1", roles: [.etcd], etcd: v("3.5.15"))) == nil)
    }

    @Test("upgrade.json written before the Kubernetes part existed still loads; the new fields round-trip")
    func recordCompatibility() throws {
        let dir = NSTemporaryDirectory() + "capstan-upgrade-record-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = StateDirectory(root: dir)
        try state.ensureDirectory()
        let old = """
            {"previousEtcd":{"cp1":"3.4.23"},"previousEtcdSHA256":{},"startedAt":"2026-01-01T00:00:00Z","status":"etcd-done",
             "targetEtcd":"3.5.1","targetKubernetes":"1.31.4","updatedAt":"2026-01-01T00:00:00Z","upgraded":["cp1"]}
            """
        _ = try state.write(Data(old.utf8), to: UpgradeRecord.fileName, mode: 0o600)
        var record = try #require(try UpgradeRecord.load(from: state))
        #expect(record.previousKubernetes == nil && record.kubernetesPending == nil)
        record.previousKubernetes = ["cp1": "1.31.4"]
        record.kubernetesPending = ["w1", "w2"]
        record.kubernetesUpgraded = ["cp1"]
        try record.save(to: state)
        let again = try #require(try UpgradeRecord.load(from: state))
        #expect(again == record)
    }
}
