import Foundation
import Inventory

/// Which Kubernetes steps a run of `upgrade apply` or `upgrade rollback` performs, in order. Pure.
public enum KubernetesUpgradeSchedule {
    /// The planned steps, with the step a previous run stopped in (`pending`) done again first: its hosts
    /// may already carry the new binaries, so the planner no longer lists them, yet their health gates
    /// never passed. A pending control-plane host goes before every other step; a pending worker batch
    /// after the planned control-plane steps (workers never run ahead of the control plane).
    public static func resume(planned: [UpgradeStep], pending: [String], controlPlane: Set<String>, to: String) -> [UpgradeStep] {
        let pendingSet = Set(pending)
        var rest = planned.compactMap { step -> UpgradeStep? in
            var s = step
            s.hosts = step.hosts.filter { !pendingSet.contains($0) }
            return s.hosts.isEmpty ? nil : s
        }
        guard !pending.isEmpty else { return rest }
        let from = planned.first?.from ?? "unknown"
        let cpPending = pending.filter { controlPlane.contains($0) }
        let workerPending = pending.filter { !controlPlane.contains($0) }
        let cpSteps = cpPending.map { UpgradeStep(stage: .controlPlane, hosts: [$0], from: from, to: to, actions: ["resume: converge and wait until every component is healthy"]) }
        rest.insert(contentsOf: cpSteps, at: 0)
        if !workerPending.isEmpty {
            let at = rest.firstIndex { $0.stage == .workers } ?? rest.endIndex
            rest.insert(UpgradeStep(stage: .workers, hosts: workerPending, from: from, to: to, actions: [
                "resume: cordon", "drain", "converge kubelet, kube-proxy", "wait until healthy", "uncordon",
            ]), at: at)
        }
        return rest
    }

    /// `upgrade rollback` of the Kubernetes part: every host back to the version it ran before
    /// (`previous`). Workers whose kubelet or kube-proxy differs go first, in batches of `maxUnavailable`,
    /// so no kubelet is ever newer than the API servers; then the control-plane hosts one at a time.
    public static func rollback(running: [HostVersions], previous: [String: String], maxUnavailable: MaxUnavailable) -> [UpgradeStep] {
        var controlPlane: [UpgradeStep] = []
        var workers: [(host: String, from: String, to: String)] = []
        for host in running {
            guard let text = previous[host.host], let target = SemanticVersion(parsing: text) else { continue }
            let isControlPlane = host.components[.apiserver] != nil
            let components = isControlPlane ? KubeComponent.controlPlane.filter { $0 != .kubectl } : KubeComponent.node
            let moved = components.filter { c in host.components[c].map { $0 != target } ?? false }
            guard !moved.isEmpty else { continue }
            let from = moved.compactMap { host.components[$0] }.max()?.description ?? "unknown"
            if isControlPlane {
                controlPlane.append(UpgradeStep(stage: .controlPlane, hosts: [host.host], from: from, to: target.description,
                                                actions: moved.map { "return \($0.rawValue) to \(target.tag)" } + ["wait until every component is healthy"]))
            } else {
                workers.append((host.host, from, target.description))
            }
        }
        let nodes = running.filter { $0.components[.apiserver] == nil && $0.components[.kubelet] != nil }.count
        let size = maxUnavailable.batchSize(workers: nodes)
        var batches: [UpgradeStep] = []
        for to in Array(Set(workers.map(\.to))).sorted() {
            let group = workers.filter { $0.to == to }
            for start in stride(from: 0, to: group.count, by: size) {
                let batch = group[start..<min(start + size, group.count)]
                batches.append(UpgradeStep(stage: .workers, hosts: batch.map(\.host), from: batch.map(\.from).max() ?? "unknown", to: to, actions: [
                    "cordon", "drain (respecting PodDisruptionBudgets)", "return kubelet, kube-proxy to v\(to)", "wait until healthy", "uncordon",
                ]))
            }
        }
        return batches + controlPlane
    }

    /// The Kubernetes version a host runs, as recorded for rollback: kube-apiserver on a control-plane
    /// host, else the kubelet (nil when neither runs).
    public static func recorded(_ host: HostVersions) -> SemanticVersion? {
        host.components[.apiserver] ?? host.components[.kubelet]
    }
}
