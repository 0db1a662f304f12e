import Inventory

extension PhaseName {
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
