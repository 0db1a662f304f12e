import Inventory

/// A unit of work `capstan apply` runs on a host, in this order.
public enum Phase: String, Sendable, Equatable, CaseIterable, Codable {
    /// Push the release binaries from the artifact source.
    case artifacts
    /// Certificates and kubeconfigs the host needs (issued from the state directory's CAs).
    case pki
    /// Workers of a managed cluster: the provider's CA and join credentials (TLS bootstrap).
    case join
    case etcd
    /// systemd timer that snapshots etcd, encrypts and ships the snapshot.
    case backupSchedule = "backup-schedule"
    case controlPlane = "control-plane"
    case containerRuntime = "container-runtime"
    /// The node's pod subnet: bridge CNI configuration and routes to the other nodes (`spec.network.plugin: native`).
    case podNetwork = "pod-network"
    case kubelet
    case kubeProxy = "kube-proxy"
}

/// The phases that would run on one host, and why the host gets them.
public struct HostPhases: Sendable, Equatable, Codable {
    public var host: String
    public var address: String
    public var roles: [String]
    public var phases: [Phase]
}

/// Which phases run where, from the inventory alone (host facts refine this into actions later).
public struct PhaseSelection: Sendable, Equatable {
    public var hosts: [HostPhases]
    /// Work done once through the API rather than on a host.
    public var clusterPhases: [String]

    public init(_ inv: Inventory) {
        hosts = inv.hosts.map { Self.phases(for: $0, in: inv) }
        // Self-managed: apply's cluster-objects phase; managed: the provider's API, with credentials the operator brings.
        if inv.isSelfManaged {
            var objects = ["bootstrap RBAC"]
            if inv.addons.dns.enabled { objects.append("CoreDNS") }
            if inv.addons.monitoring { objects.append("monitoring") }
            clusterPhases = ["cluster-objects: " + objects.joined(separator: ", ") + " (server-side apply, pruned when dropped)"]
        } else {
            clusterPhases = ["add-ons (capstan addons apply --kubeconfig FILE)"]
        }
    }

    public func phases(of host: String) -> [Phase] { hosts.first { $0.host == host }?.phases ?? [] }

    static func phases(for h: HostSpec, in inv: Inventory) -> HostPhases {
        var set: Set<Phase> = [.artifacts]
        if inv.isSelfManaged {
            set.insert(.pki)
            if h.has(.etcd) {
                set.insert(.etcd)
                if inv.etcd.backup != nil { set.insert(.backupSchedule) }
            }
            if h.has(.controlPlane) { set.formUnion([.controlPlane, .containerRuntime, .kubelet, .kubeProxy]) }
            if h.has(.worker) { set.formUnion([.containerRuntime, .kubelet, .kubeProxy]) }
        } else if h.has(.worker) {
            // kube-proxy is the provider's add-on in managed clusters (EKS, GKE and AKS run it as a DaemonSet).
            set.formUnion([.join, .containerRuntime, .kubelet])
        }
        if inv.network.plugin == .native, set.contains(.containerRuntime) { set.insert(.podNetwork) }
        let ordered = Phase.allCases.filter { set.contains($0) }
        let roles = Role.allCases.filter { h.has($0) }.map(\.rawValue)
        return HostPhases(host: h.name, address: h.address, roles: roles, phases: ordered)
    }
}
