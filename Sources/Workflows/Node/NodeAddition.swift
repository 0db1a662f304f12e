import Foundation
import Inventory

/// `capstan node add`: `apply`'s phases narrowed to what adding hosts changes. The new hosts get
/// everything their roles need; the other hosts see only what must change because of them:
/// - every node's pod routes (one route more each, applied live, nothing restarts);
/// - a new etcd member: the etcd phases (it joins as a learner and is promoted under the quorum
///   guards) and, since the API servers list the members, the control plane, rolled health-gated;
/// - a new control-plane host: the control plane, the VIP peers and every node's balancer backends;
/// - the cluster identity is read on every host (one command each) before anything changes;
/// - the installed Kubernetes versions are read on the new hosts only, unless the control plane rolls.
/// Phases that concern only the cluster as a whole and do not depend on the host set (cluster objects,
/// certificate renewal) are left to `apply`.
public enum NodeAddition {
    public static func phases(_ phases: [Phase], adding names: Set<String>, inventory: Inventory) -> [Phase] {
        let adding = inventory.hosts.filter { names.contains($0.name) }
        let newMember = adding.contains { $0.has(.etcd) }
        let newPlane = adding.contains { $0.has(.controlPlane) }
        return phases.compactMap { phase in
            switch phase.name {
            case ClusterIdentityGuard.phaseName, PKIPhase.name, PodNetworkWorkflow.subnetsPhase, PodNetworkWorkflow.phaseName:
                return phase
            case _ where phase.part == .etcd || phase.part == .backup:
                return newMember ? phase : nil
            case ControlPlaneWorkflow.phaseName:
                return newMember || newPlane ? phase : nil
            case ControlPlaneVIP.phaseName:
                return newPlane ? phase : nil
            case NodeBalancer.phaseName:
                return newPlane ? phase : narrowed(phase, to: names)
            case ClusterObjectsPhase.phaseName, CertRotation.renewPhaseName:
                return nil
            case KubernetesVersionGate.phaseName where !newMember && !newPlane:
                // Only the new hosts receive Kubernetes binaries: only their versions need reading.
                let hosts = phase.hosts.filter(names.contains)
                return hosts.isEmpty ? nil : KubernetesVersionGate.phase(inventory: inventory, hosts: hosts)
            default:
                return narrowed(phase, to: names)
            }
        }
    }

    /// A per-host phase on `names` only (nil when none of them is in it); a phase that runs once stays.
    static func narrowed(_ phase: Phase, to names: Set<String>) -> Phase? {
        guard phase.execution != .once else { return phase }
        var narrowed = phase
        narrowed.hosts = phase.hosts.filter(names.contains)
        return narrowed.hosts.isEmpty ? nil : narrowed
    }
}
