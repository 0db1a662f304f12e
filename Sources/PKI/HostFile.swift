import Inventory

/// One file a host receives: `remotePath` on the host ← `statePath` in the state directory, with `mode`.
public struct HostFile: Sendable, Hashable {
    public var remotePath: String
    /// Relative to the state directory.
    public var statePath: String
    public var mode: UInt16

    public init(remotePath: String, statePath: String, mode: UInt16) {
        self.remotePath = remotePath
        self.statePath = statePath
        self.mode = mode
    }
}

extension PKIManager {
    public static let remotePKIDirectory = "/etc/kubernetes/pki"
    public static let remoteKubeconfigDirectory = "/etc/kubernetes"

    /// The PKI and kubeconfig files `host` receives, at kubeadm's paths. Control-plane hosts get the
    /// cluster and front-proxy CA keys (the controller-manager signs with them) and `sa.key`; the etcd CA
    /// key never leaves the state directory; workers get no key but their own. `super-admin.conf` stays in
    /// the state directory (break-glass credential).
    public static func hostFiles(for host: HostSpec, required: [RequiredCertificate], inventory: Inventory) -> [HostFile] {
        let pki = remotePKIDirectory
        var files: [HostFile] = []
        let isCP = host.has(.controlPlane)
        let isEtcd = inventory.etcdMembers.contains { $0.name == host.name }
        let isNode = host.has(.controlPlane) || host.has(.worker)
        if isCP || isNode { files.append(HostFile(remotePath: "\(pki)/ca.crt", statePath: "pki/ca.crt", mode: 0o644)) }
        if isCP {
            if inventory.pki.externalCA == nil || inventory.pki.externalCA?.keyFile != nil {
                files.append(HostFile(remotePath: "\(pki)/ca.key", statePath: "pki/ca.key", mode: 0o600))
            }
            files += [
                HostFile(remotePath: "\(pki)/front-proxy-ca.crt", statePath: "pki/front-proxy-ca.crt", mode: 0o644),
                HostFile(remotePath: "\(pki)/front-proxy-ca.key", statePath: "pki/front-proxy-ca.key", mode: 0o600),
                HostFile(remotePath: "\(pki)/sa.key", statePath: "pki/sa.key", mode: 0o600),
                HostFile(remotePath: "\(pki)/sa.pub", statePath: "pki/sa.pub", mode: 0o644),
            ]
        }
        if isCP || isEtcd { files.append(HostFile(remotePath: "\(pki)/etcd/ca.crt", statePath: "pki/etcd/ca.crt", mode: 0o644)) }
        for req in required {
            guard req.host == nil || req.host == host.name else { continue }
            if let kubeconfig = req.kubeconfigPath, case .kubeconfig(let fileName, _) = req.spec.kind {
                let wanted: Bool
                switch req.name {
                case "super-admin.conf": wanted = false
                case "admin.conf": wanted = isCP
                case "kube-proxy.conf": wanted = isNode
                default: wanted = req.host == host.name
                }
                if wanted { files.append(HostFile(remotePath: "\(remoteKubeconfigDirectory)/\(fileName)", statePath: kubeconfig, mode: 0o600)) }
            } else if req.host == host.name {
                files.append(HostFile(remotePath: "\(pki)/\(req.spec.fileBase).crt", statePath: req.certPath, mode: 0o644))
                files.append(HostFile(remotePath: "\(pki)/\(req.spec.fileBase).key", statePath: req.keyPath, mode: 0o600))
            }
        }
        return files
    }
}
