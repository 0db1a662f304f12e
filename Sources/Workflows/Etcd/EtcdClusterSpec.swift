import Foundation
import Inventory

/// The etcd cluster the inventory asks for, with the paths Capstan uses on the hosts.
public struct EtcdClusterSpec: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        /// Inventory host name = etcd member name.
        public var name: String
        /// Address etcd listens on and advertises (the host's internal address).
        public var address: String
        public var desired: EtcdDesiredMember
    }

    public var clusterName: String
    public var version: SemanticVersion
    public var members: [Member]
    /// Every inventory host name: a member being removed may still be reachable to stop and wipe.
    public var inventoryHosts: [String]
    public var dataDir: String
    public var binDir = "/usr/local/bin"
    public var pkiDir = "/etc/kubernetes/pki/etcd"
    public var unitPath = "/etc/systemd/system/etcd.service"
    public var envPath = "/etc/etcd/etcd.env"
    public var user = "etcd"
    public var unit = "etcd.service"

    public init(inventory: Inventory) throws {
        guard inventory.isSelfManaged else {
            throw WorkflowError.refused(
                what: "manage etcd", found: "the inventory's control plane is managed (\(inventory.controlPlane.managed?.provider.rawValue ?? "provider"))",
                next: "etcd belongs to the provider; only workers and add-ons are Capstan's in managed mode")
        }
        guard let version = inventory.etcd.version ?? SupportedVersions.etcd(for: inventory.kubernetesVersion) else {
            throw WorkflowError.invalidInput("no etcd version: set etcd.version in the inventory (Kubernetes \(inventory.kubernetesVersion) has no paired etcd release)")
        }
        clusterName = inventory.name
        self.version = version
        dataDir = inventory.etcd.dataDir
        inventoryHosts = inventory.hosts.map(\.name)
        members = inventory.etcdMembers.map { host in
            Member(name: host.name, address: host.clusterAddress, desired: EtcdDesiredMember(name: host.name, address: host.clusterAddress))
        }
    }

    public var memberNames: [String] { members.map(\.name) }
    public func member(_ name: String) -> Member? { members.first { $0.name == name } }
    /// Token that keeps a new cluster from accidentally joining another one's peers.
    public var initialClusterToken: String { "capstan-\(clusterName)" }
    public var etcdctl: String { binDir + "/etcdctl" }
}
