import Foundation
import Hosts
import Inventory
import PKI
import Testing
import TestSupport
@testable import Workflows

@Suite("upgrade apply/rollback as a library: the schedule resumed from the record, a stopped step saved and reported by type", .tags(.unit))
struct UpgradeOperationTests {
    let inventory = Inventory(
        name: "lab", kubernetesVersion: SemanticVersion(1, 31, 4), controlPlane: ControlPlaneSpec(endpoint: nil),
        hosts: [
            HostSpec(name: "cp1", address: "192.0.2.1", roles: [.controlPlane, .etcd]),
            HostSpec(name: "w1", address: "192.0.2.11", roles: [.worker]),
            HostSpec(name: "w2", address: "192.0.2.12", roles: [.worker]),
            HostSpec(name: "w3", address: "192.0.2.13", roles: [.worker]),
        ])

    func v(_ text: String) -> SemanticVersion { SemanticVersion(parsing: text)! }

    /// cp1 already at the target; the workers on the previous release.
    func plan() throws -> UpgradePlan {
        let cp = HostVersions(host: "cp1", roles: [.controlPlane, .etcd], etcd: v("3.5.1"),
                              components: Dictionary(uniqueKeysWithValues: KubeComponent.controlPlane.map { ($0, v("1.32.0")) }))
        let workers = ["w1", "w2", "w3"].map { HostVersions(host: $0, roles: [.worker], components: [.kubelet: v("1.31.4"), .kubeProxy: v("1.31.4")]) }
        return try UpgradePlanner.plan(UpgradeRequest(running: [cp] + workers, kubernetes: v("1.32.0"), etcd: v("3.5.1"), etcdMembers: ["cp1"],
                                                      etcdLeader: "cp1", maxUnavailable: .count(2)))
    }

    /// A context whose hosts must not be reached: the record is all these steps touch.
    func context(_ mode: WorkflowMode) -> WorkflowContext {
        WorkflowContext(mode: mode, connector: ScriptedConnector(log: ScriptedHost.Log()) { command in
            Issue.record("no host command expected, got \(command)")
            return CommandResult(exitStatus: 1)
        }, endpoints: [], output: CollectingOutput(), now: { Date() })
    }

    func operation(_ state: StateDirectory, lines: ScriptedHost.Log = ScriptedHost.Log()) -> UpgradeOperation {
        UpgradeOperation(inventory: inventory, settings: KubernetesUpgradeSettings(), etcdHealthTimeoutSeconds: 1, state: state,
                         say: { line in lines.append(line) })
    }

    func withState(_ body: (StateDirectory) async throws -> Void) async throws {
        let dir = NSTemporaryDirectory() + "capstan-upgrade-operation-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = StateDirectory(root: dir)
        try state.ensureDirectory()
        try await body(state)
    }

    @Test("without a record the plan's steps run as planned; a failed record of the same targets puts its pending batch first and resumes; another target's record does not")
    func scheduleResumes() async throws {
        try await withState { state in
            let op = operation(state)
            let fresh = try op.schedule(try plan(), kubernetes: v("1.32.0"), etcd: v("3.5.1"))
            #expect(!fresh.resuming && fresh.record == nil)
            #expect(fresh.etcdSteps.isEmpty && fresh.kubernetesSteps.map(\.hosts) == [["w1", "w2"], ["w3"]])

            var failed = UpgradeRecord(targetKubernetes: "1.32.0", targetEtcd: "3.5.1", startedAt: Date(), previousEtcd: [:], previousEtcdSHA256: [:])
            failed.status = .failed
            failed.kubernetesPending = ["w2", "w3"]
            try failed.save(to: state)
            let resumed = try op.schedule(try plan(), kubernetes: v("1.32.0"), etcd: v("3.5.1"))
            #expect(resumed.resuming && resumed.record?.status == .failed && resumed.record?.kubernetesPending == ["w2", "w3"])
            #expect(resumed.kubernetesSteps.map(\.hosts) == [["w2", "w3"], ["w1"]])

            var other = failed
            other.targetKubernetes = "1.31.9"
            try other.save(to: state)
            let elsewhere = try op.schedule(try plan(), kubernetes: v("1.32.0"), etcd: v("3.5.1"))
            #expect(!elsewhere.resuming)
            #expect(elsewhere.kubernetesSteps.map(\.hosts) == [["w1", "w2"], ["w3"]])
        }
    }

    @Test("an unreadable record stops the schedule naming the file and what to do")
    func unreadableRecord() async throws {
        try await withState { state in
            _ = try state.write(Data("{not json".utf8), to: UpgradeRecord.fileName, mode: 0o600)
            let plan = try plan()
            let error = #expect(throws: UpgradeRecordUnreadable.self) {
                _ = try operation(state).schedule(plan, kubernetes: v("1.32.0"), etcd: nil)
            }
            #expect(error?.path == state.path(UpgradeRecord.fileName))
            #expect(error.map { "\($0)".contains("move it aside") } == true)
        }
    }

    @Test("a step that fails is saved as the record's failure (pending batch, host, message) and thrown as UpgradeStopped with its cause; in plan mode nothing is written")
    func stoppedStepIsRecorded() async throws {
        try await withState { state in
            let lines = ScriptedHost.Log()
            let op = operation(state, lines: lines)
            let broken = UpgradeStep(stage: .workers, hosts: ["w2", "w3"], from: "1.31.4", to: "not-a-version", actions: [])
            let started = UpgradeRecord(targetKubernetes: "1.32.0", targetEtcd: nil, startedAt: Date(), previousEtcd: [:], previousEtcdSHA256: [:])
            var record = started
            do {
                try await op.runKubernetes([broken], record: &record, target: v("1.32.0"), in: context(.apply))
                Issue.record("a step that cannot run must stop the upgrade")
            } catch let stop as UpgradeStopped {
                #expect(stop.part == .kubernetes && stop.host == "w2" && stop.step == ["w2", "w3"])
                #expect(stop.cause is UpgradeStepInvalid)
                #expect("\(stop)".hasPrefix("the Kubernetes upgrade stopped at w2: step "))
            }
            let saved = try #require(try UpgradeRecord.load(from: state))
            #expect(saved.status == .failed && saved.stoppedAt == "w2" && saved.kubernetesPending == ["w2", "w3"])
            #expect(saved.message?.contains("not-a-version") == true)
            #expect(lines.all == ["upgrading Kubernetes to v1.32.0: [w2, w3]", "workers w2, w3: 1.31.4 → not-a-version"])

            try FileManager.default.removeItem(atPath: state.path(UpgradeRecord.fileName))
            var planned = started
            do {
                try await op.runKubernetes([broken], record: &planned, target: v("1.32.0"), in: context(.plan))
                Issue.record("the step stops in plan mode too")
            } catch is UpgradeStopped {}
            #expect(try UpgradeRecord.load(from: state) == nil, "a dry run leaves no record")
        }
    }

    @Test("nothing left to run completes an open record of this upgrade in apply mode, and writes nothing in plan mode")
    func closeRecord() async throws {
        try await withState { state in
            var open = UpgradeRecord(targetKubernetes: "1.32.0", targetEtcd: "3.5.1", startedAt: Date(), previousEtcd: [:], previousEtcdSHA256: [:])
            open.status = .failed
            try open.save(to: state)
            let op = operation(state)
            let nothing = try op.schedule(UpgradePlan(kubernetesHops: [], etcdTarget: v("3.5.1"), steps: [], notes: []), kubernetes: v("1.32.0"), etcd: v("3.5.1"))
            #expect(nothing.isEmpty)
            try await op.closeRecord(nothing, in: context(.plan))
            #expect(try UpgradeRecord.load(from: state)?.status == .failed)
            try await op.closeRecord(nothing, in: context(.apply))
            #expect(try UpgradeRecord.load(from: state)?.status == .completed)
        }
    }

    @Test("rollback: etcd is refused when its cluster version is newer than the one it ran before, not when only binaries moved; the moves read in order")
    func rollbackPlan() {
        let record = UpgradeRecord(targetKubernetes: "1.32.0", targetEtcd: "3.5.1", startedAt: Date(), previousEtcd: ["cp1": "3.4.23"], previousEtcdSHA256: [:])
        let step = UpgradeStep(stage: .workers, hosts: ["w1", "w2"], from: "1.32.0", to: "1.31.4", actions: [])
        var plan = UpgradeOperation.RollbackPlan(record: record, kubernetesSteps: [step], etcdPrevious: v("3.4.23"), etcdMoved: ["cp1"],
                                                 etcdClusterVersion: v("3.5.0"))
        #expect(plan.etcdRefused)
        #expect(plan.moves == ["w1, w2 to Kubernetes v1.31.4", "cp1 to etcd 3.4.23"])
        plan.etcdClusterVersion = v("3.4.0")
        #expect(!plan.etcdRefused)
        plan.etcdMoved = []
        plan.etcdClusterVersion = v("3.5.0")
        #expect(!plan.etcdRefused && !plan.isEmpty && plan.moves == ["w1, w2 to Kubernetes v1.31.4"])
        plan.kubernetesSteps = []
        #expect(plan.isEmpty)
    }
}
