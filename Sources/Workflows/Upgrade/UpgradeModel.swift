import Foundation
import Inventory

/// A Kubernetes binary whose version `<binary> --version` reports on a host.
public enum KubeComponent: String, Sendable, Equatable, Hashable, CaseIterable, Codable {
    case apiserver = "kube-apiserver"
    case controllerManager = "kube-controller-manager"
    case scheduler = "kube-scheduler"
    case kubelet
    case kubeProxy = "kube-proxy"
    case kubectl

    /// Components replaced on a control-plane host, in the order they are restarted.
    public static let controlPlane: [KubeComponent] = [.apiserver, .controllerManager, .scheduler, .kubelet, .kubeProxy, .kubectl]
    /// Components replaced on a worker.
    public static let node: [KubeComponent] = [.kubelet, .kubeProxy]
}

/// What runs on one host, as read from it (absent binaries are absent keys).
public struct HostVersions: Sendable, Equatable {
    public var host: String
    public var roles: Set<Role>
    public var etcd: SemanticVersion?
    public var components: [KubeComponent: SemanticVersion]

    public init(host: String, roles: Set<Role>, etcd: SemanticVersion? = nil, components: [KubeComponent: SemanticVersion] = [:]) {
        self.host = host
        self.roles = roles
        self.etcd = etcd
        self.components = components
    }
}

/// The input of `UpgradePlanner.plan`: what runs, where to go, and the cluster's shape.
public struct UpgradeRequest: Sendable, Equatable {
    public var running: [HostVersions]
    /// Target Kubernetes version (`--to`).
    public var kubernetes: SemanticVersion
    /// Target etcd version (`--etcd` or the inventory's `etcd.version`); nil = the one `kubernetes` pairs with.
    public var etcd: SemanticVersion?
    /// etcd members in inventory order.
    public var etcdMembers: [String]
    /// The current etcd leader (upgraded last); nil when unknown.
    public var etcdLeader: String?
    public var maxUnavailable: MaxUnavailable
    /// Kubernetes releases known to exist (artifact catalog); intermediate hops use the newest patch of each minor.
    public var knownReleases: [SemanticVersion]

    public init(running: [HostVersions], kubernetes: SemanticVersion, etcd: SemanticVersion? = nil, etcdMembers: [String],
                etcdLeader: String? = nil, maxUnavailable: MaxUnavailable = .percent(10), knownReleases: [SemanticVersion] = []) {
        self.running = running
        self.kubernetes = kubernetes
        self.etcd = etcd
        self.etcdMembers = etcdMembers
        self.etcdLeader = etcdLeader
        self.maxUnavailable = maxUnavailable
        self.knownReleases = knownReleases
    }
}

/// One ordered step of an upgrade.
public struct UpgradeStep: Sendable, Equatable, Codable {
    public enum Stage: String, Sendable, Equatable, Codable {
        case etcd
        case controlPlane = "control-plane"
        case workers
    }

    public var stage: Stage
    /// The hosts changed together (one for etcd and control plane, a batch for workers).
    public var hosts: [String]
    public var from: String
    public var to: String
    /// What happens, in order (e.g. `cordon`, `drain`, `replace kubelet`, `restart kubelet`, `uncordon`).
    public var actions: [String]

    public init(stage: Stage, hosts: [String], from: String, to: String, actions: [String]) {
        self.stage = stage
        self.hosts = hosts
        self.from = from
        self.to = to
        self.actions = actions
    }

    public var description: String {
        "\(stage.rawValue) \(hosts.joined(separator: ", ")): \(from) → \(to): \(actions.joined(separator: ", "))"
    }
}

/// The computed path: Kubernetes hops (one minor each), the etcd target and every step in order.
public struct UpgradePlan: Sendable, Equatable {
    /// Kubernetes versions passed through, the last being the target; empty when Kubernetes does not change.
    public var kubernetesHops: [SemanticVersion]
    public var etcdTarget: SemanticVersion?
    public var steps: [UpgradeStep]
    /// Things worth knowing that do not stop the upgrade.
    public var notes: [String]

    public var isEmpty: Bool { steps.isEmpty }
}

/// Why an upgrade cannot be planned, and what to do instead.
public struct UpgradeRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var next: String

    public init(_ reason: String, next: String) {
        self.reason = reason
        self.next = next
    }

    public var description: String { "upgrade refused: \(reason)\nnext: \(next)" }
}
