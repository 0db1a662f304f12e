import Foundation
import Testing
import TestSupport
import Inventory
@testable import Workflows

/// The pure parts of `node add`, `node remove` and `reset`: which phases adding hosts keeps and on which
/// hosts, the refusals before anything is touched, and the teardown script (parsed by `sh -n`, never run
/// here: it removes what Capstan places on a real host).
@Suite("node lifecycle (pure parts)", .tags(.unit))
struct NodeLifecycleTests {
    func inventory(_ roles: [(String, Set<Role>)]) -> Inventory {
        let hosts = roles.enumerated().map { i, r in HostSpec(name: r.0, address: "10.0.0.\(i + 1)", roles: r.1) }
        return Inventory(name: "t", kubernetesVersion: SemanticVersion(1, 31, 4), etcd: EtcdSpec(version: SemanticVersion(3, 5, 1)), hosts: hosts)
    }

    var cluster: Inventory {
        inventory([("cp1", [.controlPlane, .etcd]), ("cp2", [.controlPlane, .etcd]), ("cp3", [.controlPlane, .etcd]),
                   ("w1", [.worker]), ("w2", [.worker]), ("cp4", [.controlPlane, .etcd])])
    }

    static let etcdPhases = ["etcd-facts", "etcd-disk", "etcd-artifacts", "etcd-install", "etcd-membership", "etcd-rolling-restart", "etcd-start", "etcd-health"]

    /// Phases shaped as `apply` builds them (names, hosts, execution, part), with empty bodies.
    func applyShape(_ inventory: Inventory) -> [Phase] {
        let all = inventory.hosts.map(\.name)
        let nodes = inventory.hosts.filter { $0.has(.worker) || $0.has(.controlPlane) }.map(\.name)
        let planes = inventory.controlPlaneHosts.map(\.name)
        let once = { (name: String, hosts: [String]) in Phase(name, concerning: hosts) { _ in } }
        let each = { (name: String, hosts: [String]) in Phase(name, hosts: hosts) { _, _ in } }
        return [once(ClusterIdentityGuard.phaseName, all), once("pki", [])]
            + Self.etcdPhases.map { once($0, planes).belonging(to: .etcd) }
            + [once(EtcdBackupSchedule.phaseName, planes).belonging(to: .backup), once(KubernetesVersionGate.phaseName, nodes), once(KubernetesWorkflow.artifactsPhase, nodes),
               each(WorkerWorkflow.preflightPhase, nodes), each(WorkerWorkflow.kernelPhase, nodes), each(WorkerWorkflow.runtimePhase, nodes),
               once(PodNetworkWorkflow.subnetsPhase, nodes), each(PodNetworkWorkflow.phaseName, nodes),
               Phase(ControlPlaneWorkflow.phaseName, hosts: planes, execution: .serial) { _, _ in },
               each(ControlPlaneVIP.phaseName, planes), each(NodeBalancer.phaseName, ["w1", "w2"]), each(WorkerWorkflow.kubeletPhase, nodes),
               once(ClusterObjectsPhase.phaseName, planes)]
    }

    func shape(_ phases: [Phase]) -> [String: [String]] {
        Dictionary(phases.map { ($0.name, $0.hosts) }, uniquingKeysWith: { a, _ in a })
    }

    @Test("adding a worker: everything on it; elsewhere only the identity read, the subnets and every node's pod routes; no etcd, control plane, VIP, cluster objects")
    func addWorker() {
        let phases = NodeAddition.phases(applyShape(cluster), adding: ["w2"], inventory: cluster)
        let kept = shape(phases)
        #expect(phases.map(\.name) == [ClusterIdentityGuard.phaseName, "pki", KubernetesVersionGate.phaseName, KubernetesWorkflow.artifactsPhase,
                                       WorkerWorkflow.preflightPhase, WorkerWorkflow.kernelPhase, WorkerWorkflow.runtimePhase,
                                       PodNetworkWorkflow.subnetsPhase, PodNetworkWorkflow.phaseName, NodeBalancer.phaseName, WorkerWorkflow.kubeletPhase])
        for name in [WorkerWorkflow.preflightPhase, WorkerWorkflow.kernelPhase, WorkerWorkflow.runtimePhase, NodeBalancer.phaseName, WorkerWorkflow.kubeletPhase] {
            #expect(kept[name] == ["w2"], "\(name) on \(kept[name] ?? [])")
        }
        #expect(kept[PodNetworkWorkflow.phaseName] == ["cp1", "cp2", "cp3", "w1", "w2", "cp4"], "every node gets the new route")
    }

    @Test("adding a control-plane + etcd host: the etcd phases, the control plane roll, the VIP peers and every balancer; per-host node phases on it only")
    func addControlPlane() {
        let phases = NodeAddition.phases(applyShape(cluster), adding: ["cp4"], inventory: cluster)
        let kept = shape(phases)
        for name in Self.etcdPhases + [EtcdBackupSchedule.phaseName] { #expect(kept[name] != nil, "\(name) dropped") }
        #expect(kept[ControlPlaneWorkflow.phaseName] == ["cp1", "cp2", "cp3", "cp4"], "the API servers list the new member")
        #expect(kept[ControlPlaneVIP.phaseName] == ["cp1", "cp2", "cp3", "cp4"])
        #expect(kept[NodeBalancer.phaseName] == ["w1", "w2"], "every balancer gets the new backend")
        #expect(kept[WorkerWorkflow.runtimePhase] == ["cp4"] && kept[WorkerWorkflow.kubeletPhase] == ["cp4"])
        #expect(kept[ClusterObjectsPhase.phaseName] == nil)
    }

    @Test("remove refusals: every etcd member or every control-plane host is the end of the cluster (reset --all); a worker or one member is not; managed clusters have neither")
    func refusals() {
        let three = inventory([("cp1", [.controlPlane, .etcd]), ("cp2", [.controlPlane, .etcd]), ("cp3", [.controlPlane, .etcd]), ("w1", [.worker])])
        let members = NodeRemoval.refusal(inventory: three, removing: ["cp1", "cp2", "cp3"])
        #expect("\(members.map { "\($0)" } ?? "")".contains("every etcd member"))
        #expect(NodeRemoval.refusal(inventory: three, removing: ["w1"]) == nil)
        #expect(NodeRemoval.refusal(inventory: three, removing: ["cp1", "w1"]) == nil)
        let external = inventory([("e1", [.etcd]), ("cp1", [.controlPlane]), ("w1", [.worker])])
        #expect("\(NodeRemoval.refusal(inventory: external, removing: ["cp1"]).map { "\($0)" } ?? "")".contains("every control-plane host"))
        var managed = inventory([("w1", [.worker]), ("w2", [.worker])])
        managed.controlPlane.mode = .managed
        #expect(NodeRemoval.refusal(inventory: managed, removing: ["w1", "w2"]) == nil)
        #expect(NodeRemoval.remaining(three, removing: ["cp2", "w1"]).hosts.map(\.name) == ["cp1", "cp3"])
    }

    @Test("the teardown script parses for every option (sh -n), moves etcd's data aside unless purged, and resets containers, chains and mounts only for reset")
    func teardownScript() throws {
        for purge in [false, true] {
            for reset in [false, true] {
                for images in [false, true] {
                    let script = NodeTeardown.script(NodeTeardown.Options(purgeEtcdData: purge, reset: reset, removeImages: images), stamp: "20261202T000000Z")
                    let check = try runProgram(["sh", "-n", "-c", script])
                    #expect(check.succeeded, "sh -n refused the script (purge \(purge), reset \(reset), images \(images)): \(check.stderr)")
                    #expect(script.contains("mv /var/lib/etcd /var/lib/etcd.removed-20261202T000000Z") == !purge)
                    #expect(script.contains("KUBE-") == reset && script.contains("containers ls") == reset && script.contains("\"^/var/lib/kubelet/\"") == reset)
                    #expect(script.contains("images rm") == (reset && images))
                    #expect(!script.contains("/var/backups/etcd;") && !script.contains("rm -rf /var/backups"), "local backups are never removed")
                }
            }
        }
        let found = NodeTeardown.Found(lines: ["unit kubelet.service", "unit etcd.service", "path /etc/kubernetes", "path /usr/local/bin/kubelet",
                                               "etcd-data /var/lib/etcd -> /var/lib/etcd.removed-x", "routes 2", "kept /var/backups/etcd"])
        #expect(found.summary == "stop and disable kubelet.service, etcd.service; remove 2 file(s) and directories; etcd-data /var/lib/etcd -> /var/lib/etcd.removed-x; routes 2; kept /var/backups/etcd")
        #expect(NodeTeardown.Found(lines: ["kept /var/backups/etcd"]).isEmpty)
    }
}
