/// The versions Capstan installs and manages.
///
/// Window: Kubernetes 1.29 to 1.32, each paired with the etcd 3.5.x release kubeadm ships for it
/// (1.29 → 3.5.10, 1.30 → 3.5.12, 1.31 → 3.5.15, 1.32 → 3.5.16). etcd 3.5.0 and later 3.5.x releases
/// are accepted for any of them; etcd 3.4.23 to 3.4.x is accepted with a warning, for etcd-only work
/// (backups, restores, member changes, the 3.4 → 3.5 upgrade) — a control plane should run on 3.5.
/// Anything else is an error: Capstan has not been tested with it.
public enum SupportedVersions {
    /// Supported Kubernetes minors and the etcd each pairs with (the default `etcd.version`).
    public static let kubernetes: [(minor: Int, etcd: SemanticVersion)] = [
        (29, SemanticVersion(3, 5, 10)),
        (30, SemanticVersion(3, 5, 12)),
        (31, SemanticVersion(3, 5, 15)),
        (32, SemanticVersion(3, 5, 16)),
    ]
    /// The CoreDNS release kubeadm deploys for each minor (kubeadm's `CoreDNSVersion` constant in
    /// kubernetes/kubernetes cmd/kubeadm/app/constants/constants.go). Not re-read per release tag: that
    /// repository's snapshot is beyond what can be fetched here; check these when adding a minor.
    public static let coreDNS: [(minor: Int, version: String)] = [
        (29, "v1.11.1"), (30, "v1.11.1"), (31, "v1.11.3"), (32, "v1.11.3"),
    ]

    /// `registry.k8s.io/coredns/coredns:<tag>` paired with `kubernetes`; the newest known outside the window.
    public static func coreDNSImage(for v: SemanticVersion) -> String {
        let tag = coreDNS.first { $0.minor == v.minor }?.version ?? coreDNS.last?.version ?? "v1.11.3"
        return "registry.k8s.io/coredns/coredns:" + tag
    }

    public static let minimumEtcd = SemanticVersion(3, 4, 23)
    public static let minimumEtcdForControlPlane = SemanticVersion(3, 5, 0)

    /// `1.31 has it` / `1.30, 1.32 have it`: the minors of `major` in `minors`, other than `minor`, for which `has`
    /// holds, as the "not in this minor" messages say it; nil when there is none.
    static func othersHaving(besides minor: Int, among minors: [Int], major: Int = 1, _ has: (Int) -> Bool) -> String? {
        let others = minors.filter { $0 != minor && has($0) }
        guard !others.isEmpty else { return nil }
        return others.map { "\(major).\($0)" }.joined(separator: ", ") + (others.count == 1 ? " has it" : " have it")
    }

    public static var kubernetesWindow: String {
        "1.\(kubernetes.first?.minor ?? 0) to 1.\(kubernetes.last?.minor ?? 0)"
    }

    public static func isSupported(kubernetes v: SemanticVersion) -> Bool {
        v.major == 1 && kubernetes.contains { $0.minor == v.minor }
    }

    /// The etcd version paired with `kubernetes`, or nil outside the window.
    public static func etcd(for v: SemanticVersion) -> SemanticVersion? {
        guard v.major == 1 else { return nil }
        return kubernetes.first { $0.minor == v.minor }?.etcd
    }

    public enum EtcdSupport: Equatable, Sendable {
        case supported
        /// 3.4.23+: fine for etcd work, too old for a Kubernetes control plane.
        case etcdOnly
        case unsupported
    }

    public static func support(etcd v: SemanticVersion) -> EtcdSupport {
        guard v.major == 3 else { return .unsupported }
        if v.minor == 5 { return .supported }
        if v.minor == 4, v >= minimumEtcd { return .etcdOnly }
        return .unsupported
    }
}
