import Foundation
import Inventory

/// Pure upgrade planning: from the versions running on the hosts and a target, the path (Kubernetes one
/// minor at a time, etcd to its paired or named version), the version-skew checks and the ordered steps.
/// Refusals say why and what to do; nothing here touches a host.
public enum UpgradePlanner {
    public static func plan(_ request: UpgradeRequest) throws(UpgradeRefusal) -> UpgradePlan {
        var notes: [String] = []
        try checkTarget(request)
        try checkSkew(request.running)
        let hops = try kubernetesHops(request)
        let etcdTarget = try etcdTarget(request, notes: &notes)

        var steps: [UpgradeStep] = []
        if let etcdTarget { steps += etcdSteps(request, target: etcdTarget) }
        var current = currentKubernetes(request.running)
        for hop in hops {
            let from = current.map(\.description) ?? "none"
            try checkNodesKeepUp(request.running, apiserver: hop)
            steps += controlPlaneSteps(request, from: from, to: hop)
            steps += workerSteps(request, from: from, to: hop)
            current = hop
        }
        if hops.isEmpty, currentKubernetes(request.running) == nil {
            notes.append("no Kubernetes component runs on any host: only etcd is upgraded")
        }
        return UpgradePlan(kubernetesHops: hops, etcdTarget: etcdTarget, steps: steps, notes: notes)
    }

    // MARK: target and path

    static func checkTarget(_ request: UpgradeRequest) throws(UpgradeRefusal) {
        let target = request.kubernetes
        guard SupportedVersions.isSupported(kubernetes: target) else {
            throw UpgradeRefusal("Kubernetes \(target.tag) is unknown to this Capstan (supported: \(SupportedVersions.kubernetesWindow))",
                                 next: "pick a version within \(SupportedVersions.kubernetesWindow)")
        }
        for host in request.running {
            for (component, version) in host.components.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where component != .kubectl {
                guard SupportedVersions.isSupported(kubernetes: version) else {
                    throw UpgradeRefusal("\(component.rawValue) \(version.tag) on \(host.host) is outside the supported window (\(SupportedVersions.kubernetesWindow))",
                                         next: "bring \(host.host) into the window by hand first; Capstan only plans between versions it knows")
                }
                if version > target {
                    throw UpgradeRefusal("\(component.rawValue) on \(host.host) runs \(version.tag), newer than the target \(target.tag): that is a downgrade",
                                         next: "Capstan does not downgrade Kubernetes; restore from a backup taken before the upgrade (`capstan backup restore`)")
                }
            }
        }
    }

    /// The oldest kube-apiserver, the version the cluster is said to run (nil when none runs).
    static func currentKubernetes(_ running: [HostVersions]) -> SemanticVersion? {
        running.compactMap { $0.components[.apiserver] }.min()
    }

    static func kubernetesHops(_ request: UpgradeRequest) throws(UpgradeRefusal) -> [SemanticVersion] {
        let target = request.kubernetes
        guard let current = currentKubernetes(request.running) else { return [] }
        // Nodes that lag behind the control plane are caught up by the first hop's node steps.
        let everyComponent = request.running.flatMap { $0.components.filter { $0.key != .kubectl }.map(\.value) }
        if current.minor == target.minor, everyComponent.allSatisfy({ $0 == target }) { return [] }
        var hops: [SemanticVersion] = []
        if current.minor < target.minor {
            for minor in (current.minor + 1)..<target.minor {
                guard let release = request.knownReleases.filter({ $0.major == 1 && $0.minor == minor && $0.preRelease == nil }).max() else {
                    throw UpgradeRefusal("going from \(current.tag) to \(target.tag) skips 1.\(minor), and no 1.\(minor) release is known to step through",
                                         next: "upgrade to a 1.\(minor) release first (`capstan upgrade apply --to v1.\(minor).N`), or make one available in the artifact source")
                }
                hops.append(release)
            }
        }
        hops.append(target)
        return hops
    }

    static func etcdTarget(_ request: UpgradeRequest, notes: inout [String]) throws(UpgradeRefusal) -> SemanticVersion? {
        let running = request.running.filter { request.etcdMembers.contains($0.host) }.compactMap(\.etcd)
        guard let target = request.etcd ?? SupportedVersions.etcd(for: request.kubernetes) else { return nil }
        if SupportedVersions.support(etcd: target) == .unsupported {
            throw UpgradeRefusal("etcd \(target) is unknown to this Capstan (3.5.x, or 3.4.23 and later 3.4.x)",
                                 next: "name a supported etcd version with --etcd or in etcd.version")
        }
        if currentKubernetes(request.running) != nil || !request.running.allSatisfy({ $0.components.isEmpty }),
           target < SupportedVersions.minimumEtcdForControlPlane {
            throw UpgradeRefusal("etcd \(target) is too old for Kubernetes \(request.kubernetes.tag) (needs \(SupportedVersions.minimumEtcdForControlPlane) or later)",
                                 next: "upgrade etcd to 3.5 (--etcd 3.5.N)")
        }
        for host in request.running where request.etcdMembers.contains(host.host) {
            guard let version = host.etcd else { continue }
            if SupportedVersions.support(etcd: version) == .unsupported {
                throw UpgradeRefusal("etcd \(version) on \(host.host) is unknown to this Capstan (3.5.x, or 3.4.23 and later 3.4.x)",
                                     next: "upgrade \(host.host) to 3.4.23 or later by hand first")
            }
            if version > target {
                throw UpgradeRefusal("etcd on \(host.host) runs \(version), newer than the target \(target): that is a downgrade",
                                     next: "etcd data cannot move back a minor version; use `capstan upgrade rollback` or restore a backup (`capstan backup restore`)")
            }
            if target.minor > version.minor + 1 || target.major != version.major {
                throw UpgradeRefusal("etcd on \(host.host) runs \(version); \(target) skips a minor version (etcd upgrades one minor at a time)",
                                     next: "upgrade to \(version.major).\(version.minor + 1).x first")
            }
        }
        if running.isEmpty {
            notes.append("no etcd member runs yet: nothing to upgrade in etcd (apply installs \(target))")
            return nil
        }
        return target
    }

    // MARK: skew policy

    /// The Kubernetes version-skew policy on what runs now.
    static func checkSkew(_ running: [HostVersions]) throws(UpgradeRefusal) {
        let apiservers = running.compactMap { h in h.components[.apiserver].map { (h.host, $0) } }
        guard let oldest = apiservers.min(by: { $0.1 < $1.1 }), let newest = apiservers.max(by: { $0.1 < $1.1 }) else { return }
        if newest.1.minor - oldest.1.minor > 1 {
            throw UpgradeRefusal("kube-apiserver instances are more than one minor apart (\(oldest.0) \(oldest.1.tag), \(newest.0) \(newest.1.tag))",
                                 next: "bring \(oldest.0) to 1.\(newest.1.minor - 1) or later by hand, then plan again")
        }
        for host in running {
            // A control-plane host's components talk to its own API server: part way through a rolling
            // upgrade (a resumed run) cp1 is wholly on the new minor while cp2 is not, which is allowed.
            let reference = host.components[.apiserver].map { (host.host, $0) } ?? oldest
            for component in [KubeComponent.controllerManager, .scheduler] {
                guard let v = host.components[component] else { continue }
                if v.minor > reference.1.minor {
                    throw UpgradeRefusal("\(component.rawValue) on \(host.host) (\(v.tag)) is newer than kube-apiserver on \(reference.0) (\(reference.1.tag))",
                                         next: "upgrade the kube-apiservers first; controller-manager and scheduler must never be newer")
                }
                if newest.1.minor - v.minor > 1 {
                    throw UpgradeRefusal("\(component.rawValue) on \(host.host) (\(v.tag)) is more than one minor older than kube-apiserver on \(newest.0) (\(newest.1.tag))",
                                         next: "bring \(component.rawValue) on \(host.host) to 1.\(newest.1.minor - 1) or later by hand")
                }
            }
            for component in [KubeComponent.kubelet, .kubeProxy] {
                guard let v = host.components[component] else { continue }
                if v.minor > reference.1.minor {
                    throw UpgradeRefusal("\(component.rawValue) on \(host.host) (\(v.tag)) is newer than kube-apiserver on \(reference.0) (\(reference.1.tag))",
                                         next: "upgrade the control plane before the nodes")
                }
                if newest.1.minor - v.minor > 3 {
                    throw UpgradeRefusal("\(component.rawValue) on \(host.host) (\(v.tag)) is more than three minors older than kube-apiserver (\(newest.1.tag))",
                                         next: "upgrade \(host.host) to within three minors of the control plane by hand")
                }
            }
            if let v = host.components[.kubectl], abs(v.minor - oldest.1.minor) > 1 || abs(v.minor - newest.1.minor) > 1 {
                throw UpgradeRefusal("kubectl on \(host.host) (\(v.tag)) is more than one minor away from kube-apiserver (\(oldest.1.tag)…\(newest.1.tag))",
                                     next: "replace kubectl on \(host.host) with one within one minor of the control plane")
            }
        }
    }

    /// Once the apiservers move to `apiserver`, no kubelet/kube-proxy may be more than three minors behind.
    static func checkNodesKeepUp(_ running: [HostVersions], apiserver: SemanticVersion) throws(UpgradeRefusal) {
        for host in running {
            for component in [KubeComponent.kubelet, .kubeProxy] {
                guard let v = host.components[component], apiserver.minor - v.minor > 3 else { continue }
                throw UpgradeRefusal("\(component.rawValue) on \(host.host) (\(v.tag)) would be more than three minors behind kube-apiserver \(apiserver.tag)",
                                     next: "upgrade \(host.host) first")
            }
        }
    }

    // MARK: steps

    static func etcdSteps(_ request: UpgradeRequest, target: SemanticVersion) -> [UpgradeStep] {
        let versions = Dictionary(request.running.map { ($0.host, $0.etcd) }, uniquingKeysWith: { a, _ in a })
        let order = EtcdPlanner.rollingOrder(members: request.etcdMembers, leader: request.etcdLeader)
        return order.compactMap { host in
            guard let running = versions[host] ?? nil, running != target else { return nil }
            let leader = host == request.etcdLeader ? " (leader, last)" : ""
            return UpgradeStep(stage: .etcd, hosts: [host], from: running.description, to: target.description, actions: [
                "replace etcd, etcdctl, etcdutl", "restart etcd\(leader)", "wait until healthy and caught up with the leader's revision",
            ])
        }
    }

    static func controlPlaneSteps(_ request: UpgradeRequest, from: String, to: SemanticVersion) -> [UpgradeStep] {
        request.running.filter { $0.components[.apiserver] != nil }.compactMap { host in
            let stale = KubeComponent.controlPlane.filter { c in host.components[c].map { $0 < to } ?? false }
            guard !stale.isEmpty else { return nil }
            var actions: [String] = []
            for c in stale where c != .kubectl { actions += ["replace \(c.rawValue)", "restart \(c.rawValue)", "wait until \(c.rawValue) is healthy"] }
            if stale.contains(.kubectl) { actions.append("replace kubectl") }
            return UpgradeStep(stage: .controlPlane, hosts: [host.host], from: from, to: to.description, actions: actions)
        }
    }

    static func workerSteps(_ request: UpgradeRequest, from: String, to: SemanticVersion) -> [UpgradeStep] {
        let nodes = request.running.filter { h in
            h.components[.apiserver] == nil && KubeComponent.node.contains { c in h.components[c].map { $0 < to } ?? false }
        }
        let all = request.running.filter { $0.components[.apiserver] == nil && $0.components[.kubelet] != nil }.count
        let size = request.maxUnavailable.batchSize(workers: all)
        return stride(from: 0, to: nodes.count, by: size).map { start in
            let batch = nodes[start..<min(start + size, nodes.count)].map(\.host)
            return UpgradeStep(stage: .workers, hosts: batch, from: from, to: to.description, actions: [
                "cordon", "drain (respecting PodDisruptionBudgets)", "replace kubelet, kube-proxy", "restart kubelet, kube-proxy",
                "wait until the node is Ready", "uncordon",
            ])
        }
    }
}
