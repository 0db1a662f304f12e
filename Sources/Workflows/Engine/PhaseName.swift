/// Every phase of `capstan apply` (and `node add`/`remove`), in apply's order: the one list of names that
/// `plan`, `apply`, `--only`, `--skip-phase`, the help and the docs use. Each workflow names its phases from here.
public enum PhaseName: String, CaseIterable, Sendable {
    case clusterIdentity = "cluster-identity"
    case pki
    case etcdFacts = "etcd-facts"
    case etcdArtifacts = "etcd-artifacts"
    case etcdInstall = "etcd-install"
    case etcdMembership = "etcd-membership"
    case etcdRollingRestart = "etcd-rolling-restart"
    case etcdStart = "etcd-start"
    case etcdHealth = "etcd-health"
    case backupSchedule = "backup-schedule"
    case kubernetesVersion = "kubernetes-version"
    case kubernetesArtifacts = "kubernetes-artifacts"
    case nodePreflight = "node-preflight"
    case nodeKernel = "node-kernel"
    case nodeRuntime = "node-runtime"
    case podSubnets = "pod-subnets"
    case podNetwork = "pod-network"
    case nodeImages = "node-images"
    case controlPlane = "control-plane"
    case controlPlaneVIP = "control-plane-vip"
    case nodeBalancer = "node-balancer"
    case nodeKubelet = "node-kubelet"
    /// Managed clusters, in place of the control plane, VIP, balancer and kubelet phases.
    case managedJoin = "managed-join"
    case clusterObjects = "cluster-objects"
    /// Last, with `apply --renew-before`.
    case certsRenew = "certs-renew"
    /// `node remove` and `reset`: what Capstan placed on the hosts that leave.
    case nodeTeardown = "node-teardown"

    /// The part `apply --only` selects it with.
    public var part: ClusterPhases.Part {
        switch self {
        case .pki, .certsRenew: return .pki
        case .etcdFacts, .etcdArtifacts, .etcdInstall, .etcdMembership, .etcdRollingRestart, .etcdStart, .etcdHealth: return .etcd
        case .backupSchedule: return .backup
        case .podSubnets, .podNetwork: return .network
        case .clusterIdentity, .kubernetesVersion, .kubernetesArtifacts, .nodePreflight, .nodeKernel, .nodeRuntime, .nodeImages,
             .controlPlane, .controlPlaneVIP, .nodeBalancer, .nodeKubelet, .managedJoin, .clusterObjects, .nodeTeardown:
            return .kubernetes
        }
    }

    public static let etcd: [PhaseName] = [.etcdFacts, .etcdArtifacts, .etcdInstall, .etcdMembership, .etcdRollingRestart, .etcdStart, .etcdHealth]

    /// A self-managed `apply` in order (backup-schedule with a backup policy; certs-renew only with --renew-before).
    public static let selfManaged: [PhaseName] = allCases.filter { ![.managedJoin, .certsRenew, .nodeTeardown].contains($0) }
}
