/// One row of the certificate catalog: what kubeadm would issue, as data.
///
/// The catalog (`CertificateCatalog.kubeadm`) is the single source of truth for names, subjects, usages
/// and SANs; expansion against an inventory (`CertificateCatalog.required(for:)`) turns rows into
/// concrete certificates per host.
public struct CertificateSpec: Sendable, Hashable {
    /// Catalog name, as users pass it to `capstan certs renew` (`apiserver`, `etcd/server`, `kubelet.conf`).
    public var name: String
    /// Path of the `.crt`/`.key` pair under the PKI directory, without extension (`etcd/server`).
    public var fileBase: String
    public var kind: Kind
    /// The CA that signs it; nil for the CAs themselves (self-signed) and the service-account key pair.
    public var signer: AuthorityName?
    /// Subject CN; `{host}` is replaced by the host name.
    public var commonName: String
    public var organizations: [String]
    public var keyUsages: [KeyUsageBit]
    public var extendedKeyUsages: [ExtendedKeyUsageBit]
    public var sanRule: SANRule
    public var scope: HostScope

    public init(name: String, fileBase: String, kind: Kind, signer: AuthorityName?, commonName: String,
                organizations: [String] = [], keyUsages: [KeyUsageBit], extendedKeyUsages: [ExtendedKeyUsageBit] = [],
                sanRule: SANRule = .none, scope: HostScope) {
        self.name = name
        self.fileBase = fileBase
        self.kind = kind
        self.signer = signer
        self.commonName = commonName
        self.organizations = organizations
        self.keyUsages = keyUsages
        self.extendedKeyUsages = extendedKeyUsages
        self.sanRule = sanRule
        self.scope = scope
    }

    public enum Kind: Sendable, Hashable {
        case certificateAuthority
        /// The service-account signing key pair (`sa.key`/`sa.pub`): a key, no certificate.
        case serviceAccountKey
        case leaf
        /// A client certificate embedded in a kubeconfig file named `fileName`, talking to `server`.
        case kubeconfig(fileName: String, server: KubeconfigServer)
    }

    public enum KubeconfigServer: Sendable, Hashable {
        /// The cluster's control-plane endpoint (load balancer / VIP).
        case controlPlaneEndpoint
        /// The API server on the same host (controller-manager and scheduler, as kubeadm does).
        case localAPIServer
        /// How a node's kubelet and kube-proxy reach the API: the node-local balancer on 127.0.0.1
        /// (`loadBalancer: node-local` or `vip`), else the control-plane endpoint.
        case nodeEndpoint
    }

    public enum SANRule: Sendable, Hashable {
        case none
        /// Every control-plane address, the endpoint host, the first service IP, the `kubernetes.default…`
        /// names, the host name, 127.0.0.1 and localhost, and the inventory's extra SANs.
        case apiServer
        /// Host address and name, localhost and 127.0.0.1.
        case etcdServer
        /// Host address and name.
        case etcdPeer
        /// The node's name and every address it is reached at (the API server calls kubelets by address).
        case kubeletServing
    }

    public enum HostScope: String, Sendable, Hashable {
        /// One for the cluster.
        case cluster
        case eachControlPlane
        case eachEtcdMember
        /// Every host that runs a kubelet: control-plane and worker hosts.
        case eachNode
    }
}

/// The three certificate authorities of a kubeadm-style cluster, named by their file base.
public enum AuthorityName: String, Sendable, Hashable, CaseIterable, Codable {
    case cluster = "ca"
    case frontProxy = "front-proxy-ca"
    case etcd = "etcd/ca"
}

public enum KeyUsageBit: String, Sendable, Hashable, CaseIterable, Codable {
    case digitalSignature, keyEncipherment, keyCertSign
}

public enum ExtendedKeyUsageBit: String, Sendable, Hashable, CaseIterable, Codable {
    case serverAuth, clientAuth
}
