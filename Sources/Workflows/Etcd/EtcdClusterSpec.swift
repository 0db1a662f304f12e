import Foundation
import Inventory
import Templates

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
    /// `spec.etcd.extraArgs` as flags (`--name=value`), after Capstan's own on every member's command line;
    /// the two defaults below are replaced in place instead.
    public var extraFlags: [String] = []
    /// `--snapshot-count` and `--quota-backend-bytes`: Capstan's defaults unless `spec.etcd.extraArgs` sets them.
    public var snapshotCount = EtcdClusterSpec.defaultFlags["snapshot-count"]!
    public var quotaBackendBytes = EtcdClusterSpec.defaultFlags["quota-backend-bytes"]!

    /// The flags Capstan's etcd unit sets as policy (not derived from the inventory), which extraArgs may replace.
    public static let defaultFlags = ["snapshot-count": EtcdMemberContext.defaultSnapshotCount,
                                      "quota-backend-bytes": EtcdMemberContext.defaultQuotaBackendBytes]
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
            throw WorkflowError.inventory("no etcd version: set etcd.version in the inventory (Kubernetes \(inventory.kubernetesVersion) has no paired etcd release)")
        }
        clusterName = inventory.name
        self.version = version
        dataDir = inventory.etcd.dataDir
        for arg in inventory.etcd.extraArgs {
            switch (arg.name, Int(arg.value)) {
            case ("snapshot-count", let value?): snapshotCount = value
            case ("quota-backend-bytes", let value?): quotaBackendBytes = value
            default: extraFlags.append("--\(arg.name)=\(arg.value)")
            }
        }
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
