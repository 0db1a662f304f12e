import Inventory

extension PhaseName {
    public static let etcd: [PhaseName] = [.etcdFacts, .etcdArtifacts, .etcdInstall, .etcdMembership, .etcdRollingRestart, .etcdStart, .etcdHealth]

    /// A self-managed `apply` in order (backup-schedule with a backup policy; certs-renew only with --renew-before).
    public static let selfManaged: [PhaseName] = allCases.filter { ![.managedJoin, .certsRenew, .nodeTeardown].contains($0) }
}
