import Inventory

/// Who does the work in one area of a cluster's life: Capstan or the managed-Kubernetes provider.
public enum Owner: String, Sendable, Equatable, Codable {
    case capstan
    case provider
    /// The provider does the control-plane half, Capstan the worker half (upgrades in managed mode).
    case shared
}

/// The areas of a cluster's life `capstan plan` reports ownership for.
public enum Area: String, Sendable, Equatable, CaseIterable, Codable {
    case pki = "PKI"
    case etcd
    case controlPlane = "control plane"
    case workers
    case backups
    case upgrades
    case addons = "add-ons"
}

public struct Responsibility: Sendable, Equatable, Codable {
    public var area: Area
    public var owner: Owner
    /// Why this owner, in this cluster's terms (shown to users; explains refusals in managed mode).
    public var reason: String

    public init(area: Area, owner: Owner, reason: String) {
        self.area = area
        self.owner = owner
        self.reason = reason
    }
}

/// Per area, who is responsible in this cluster's mode. Pure: depends on the inventory only.
public struct ResponsibilitySplit: Sendable, Equatable {
    public var entries: [Responsibility]

    public init(_ inv: Inventory) {
        if inv.isSelfManaged {
            entries = Self.selfManaged(inv)
        } else {
            entries = Self.managed(inv)
        }
    }

    public func owner(of area: Area) -> Owner? { entries.first { $0.area == area }?.owner }
    public func entry(for area: Area) -> Responsibility? { entries.first { $0.area == area } }

    private static func selfManaged(_ inv: Inventory) -> [Responsibility] {
        let etcdHosts = inv.etcdHosts.map(\.name).joined(separator: ", ")
        let cpHosts = inv.controlPlaneHosts.map(\.name).joined(separator: ", ")
        let backups: String
        if let b = inv.etcd.backup {
            let shipsToS3: Bool = { if case .s3 = b.destination { return !b.recipients.isEmpty } else { return false } }()
            let timer = shipsToS3
                ? "encrypted on the host to \(b.recipients.count) age recipient(s) and shipped to S3"
                : "node-local plain snapshots (pulled into the store with capstan backup sync)"
            let onDemand = b.unencrypted ? "unencrypted" : b.recipients.isEmpty ? "AES-256-GCM encrypted" : "age encrypted"
            backups = "systemd timer on the etcd hosts (OnCalendar \(b.schedule)), keep \(b.keep), \(timer); on demand with capstan backup now (\(onDemand))"
        } else {
            backups = "no schedule in the inventory (spec.etcd.backup); on demand only, with capstan backup now"
        }
        let workers = inv.workerHosts.count
        return [
            Responsibility(area: .pki, owner: .capstan, reason: inv.pki.externalCA == nil
                ? "self-managed: Capstan creates the cluster, etcd and front-proxy CAs (\(inv.pki.keyAlgorithm.rawValue)) and issues, renews and rotates every certificate"
                : "self-managed with an external CA: Capstan issues and renews leaf certificates under the given CA"),
            Responsibility(area: .etcd, owner: .capstan, reason: "self-managed, \(inv.etcd.topology.rawValue) topology: \(inv.etcdHosts.count) member(s) on \(etcdHosts.isEmpty ? "no host" : etcdHosts), etcd \(inv.etcd.version?.description ?? "paired with Kubernetes")"),
            Responsibility(area: .controlPlane, owner: .capstan, reason: "self-managed: kube-apiserver, kube-controller-manager and kube-scheduler under systemd on \(cpHosts.isEmpty ? "no host" : cpHosts)"),
            Responsibility(area: .workers, owner: .capstan, reason: "containerd, kubelet and kube-proxy on \(workers) worker host(s)"),
            Responsibility(area: .backups, owner: .capstan, reason: backups),
            Responsibility(area: .upgrades, owner: .capstan, reason: "etcd and control plane one member at a time with health gates, then workers in batches of \(describe(inv.upgrade.maxUnavailable))"),
            Responsibility(area: .addons, owner: .capstan, reason: "apply's cluster-objects phase keeps the bootstrap RBAC\(inv.addons.dns.enabled ? ", CoreDNS" : "")\(inv.addons.monitoring ? ", the monitoring add-on" : "") in the cluster through the API (server-side apply, pruned when the inventory drops them)"),
        ]
    }

    private static func managed(_ inv: Inventory) -> [Responsibility] {
        let name = inv.controlPlane.managed?.provider.displayName ?? ManagedProvider.other.displayName
        return [
            Responsibility(area: .pki, owner: .provider, reason: "\(name) owns the cluster CA; Capstan only installs its certificate (caFile) on workers, which get kubelet certificates by TLS bootstrap"),
            Responsibility(area: .etcd, owner: .provider, reason: "\(name) runs etcd inside the managed control plane; it is not reachable, so Capstan refuses etcd work"),
            Responsibility(area: .controlPlane, owner: .provider, reason: "\(name) runs the API servers, controller manager and scheduler"),
            Responsibility(area: .workers, owner: .capstan, reason: "self-managed workers: Capstan installs containerd and kubelet on \(inv.workerHosts.count) host(s) and joins them with the join credentials"),
            Responsibility(area: .backups, owner: .provider, reason: "etcd snapshots need etcd access, which \(name) does not give; use the provider's backup of cluster state"),
            Responsibility(area: .upgrades, owner: .shared, reason: "\(name) upgrades the control plane; Capstan then upgrades worker kubelets in batches of \(describe(inv.upgrade.maxUnavailable)), never past the control plane's minor"),
            Responsibility(area: .addons, owner: .shared, reason: "\(name) runs cluster DNS and owns RBAC; the monitoring add-on goes through its API with `capstan addons apply --kubeconfig FILE`"),
        ]
    }

    static func describe(_ m: MaxUnavailable) -> String {
        switch m {
        case .count(let n): return "\(n)"
        case .percent(let p): return "\(p)%"
        }
    }
}
