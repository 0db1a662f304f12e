import PKI

/// A service that reads PKI files on a host and has to restart to use new ones. The case order is the
/// restart order on one host: etcd first (the API server needs it), then the API server (every other
/// component talks to it), then its clients.
public enum CertConsumer: String, CaseIterable, Sendable, Comparable {
    case etcd
    case apiServer = "kube-apiserver"
    case controllerManager = "kube-controller-manager"
    case scheduler = "kube-scheduler"
    case kubelet
    case kubeProxy = "kube-proxy"

    public var unit: String { rawValue + ".service" }

    public static func < (a: Self, b: Self) -> Bool {
        (allCases.firstIndex(of: a) ?? 0) < (allCases.firstIndex(of: b) ?? 0)
    }

    /// Where a file sits relative to `/etc/kubernetes/pki` (`ca.crt`, `etcd/server.key`) or, for
    /// kubeconfigs, its name in `/etc/kubernetes` (`kubelet.conf`); nil for paths Capstan's PKI does not place.
    static func relative(_ remotePath: String) -> String? {
        let pki = PKIManager.remotePKIDirectory + "/"
        if remotePath.hasPrefix(pki) { return String(remotePath.dropFirst(pki.count)) }
        let conf = PKIManager.remoteKubeconfigDirectory + "/"
        if remotePath.hasPrefix(conf), remotePath.hasSuffix(".conf") { return String(remotePath.dropFirst(conf.count)) }
        return nil
    }

    /// The services reading `remotePath`, as the unit templates name it in their flags (kube-apiserver
    /// `--client-ca-file`, `--tls-cert-file`, …; controller-manager `--cluster-signing-*`, `--root-ca-file`;
    /// the kubelet's `clientCAFile`; each component's kubeconfig). etcd reads the files under `etcd/` on
    /// members only.
    public static func consumers(of remotePath: String, etcdMember: Bool) -> [CertConsumer] {
        guard let file = relative(remotePath) else { return [] }
        let base = file.hasSuffix(".crt") || file.hasSuffix(".key") || file.hasSuffix(".pub") ? String(file.dropLast(4)) : file
        switch base {
        case "etcd/ca": return (etcdMember ? [.etcd] : []) + [.apiServer]
        case _ where base.hasPrefix("etcd/"): return etcdMember ? [.etcd] : []
        case "ca": return file.hasSuffix(".key") ? [.controllerManager] : [.apiServer, .controllerManager, .kubelet]
        case "front-proxy-ca": return file.hasSuffix(".key") ? [] : [.apiServer, .controllerManager]
        case "sa": return file.hasSuffix(".key") ? [.apiServer, .controllerManager] : [.apiServer]
        case "apiserver", "apiserver-kubelet-client", "apiserver-etcd-client", "front-proxy-client": return [.apiServer]
        case "controller-manager.conf": return [.controllerManager]
        case "scheduler.conf": return [.scheduler]
        case "kubelet.conf", "kubelet-server": return [.kubelet]
        case "kube-proxy.conf": return [.kubeProxy]
        default: return []
        }
    }

    /// The CA a file belongs to: its own certificate or key, a leaf it signed, or a kubeconfig embedding
    /// both. During a rotation of that CA every consumer of these files restarts in every phase.
    public static func authority(of remotePath: String) -> AuthorityName? {
        guard let file = relative(remotePath) else { return nil }
        if file.hasPrefix("etcd/") || file.hasPrefix("apiserver-etcd-client.") { return .etcd }
        if file.hasPrefix("front-proxy-") { return .frontProxy }
        if file.hasPrefix("ca.") || file.hasPrefix("apiserver.") || file.hasPrefix("apiserver-kubelet-client.") || file.hasPrefix("kubelet-server.")
            || file.hasSuffix(".conf") { return .cluster }
        return nil
    }
}
