/// kubeadm's certificate set and layout (kubeadm `certs` and `kubeconfig` phases, and the
/// "PKI certificates and requirements" page), plus a kube-proxy kubeconfig, which kubeadm replaces by a
/// service account but a systemd-run kube-proxy needs.
///
/// Deliberate choices: `apiserver-kubelet-client` and `admin.conf` use `kubeadm:cluster-admins` as kubeadm
/// does since v1.29 (only `super-admin.conf` is `system:masters`); `apiserver-etcd-client` carries no
/// organization (etcd ignores it); key usages are kubeadm's (digital signature + key encipherment for
/// leaves, plus cert sign for CAs) whatever the key type.
public enum CertificateCatalog {
    static let leafUsage: [KeyUsageBit] = [.digitalSignature, .keyEncipherment]
    static let caUsage: [KeyUsageBit] = [.digitalSignature, .keyEncipherment, .keyCertSign]

    public static let kubeadm: [CertificateSpec] = [
        // Authorities and the service-account key pair.
        .init(name: "ca", fileBase: "ca", kind: .certificateAuthority, signer: nil, commonName: "kubernetes",
              keyUsages: caUsage, scope: .cluster),
        .init(name: "front-proxy-ca", fileBase: "front-proxy-ca", kind: .certificateAuthority, signer: nil,
              commonName: "front-proxy-ca", keyUsages: caUsage, scope: .cluster),
        .init(name: "etcd/ca", fileBase: "etcd/ca", kind: .certificateAuthority, signer: nil, commonName: "etcd-ca",
              keyUsages: caUsage, scope: .cluster),
        .init(name: "sa", fileBase: "sa", kind: .serviceAccountKey, signer: nil, commonName: "",
              keyUsages: [], scope: .cluster),

        // Per control-plane host.
        .init(name: "apiserver", fileBase: "apiserver", kind: .leaf, signer: .cluster, commonName: "kube-apiserver",
              keyUsages: leafUsage, extendedKeyUsages: [.serverAuth], sanRule: .apiServer, scope: .eachControlPlane),
        .init(name: "apiserver-kubelet-client", fileBase: "apiserver-kubelet-client", kind: .leaf, signer: .cluster,
              commonName: "kube-apiserver-kubelet-client", organizations: ["kubeadm:cluster-admins"],
              keyUsages: leafUsage, extendedKeyUsages: [.clientAuth], scope: .eachControlPlane),
        .init(name: "apiserver-etcd-client", fileBase: "apiserver-etcd-client", kind: .leaf, signer: .etcd,
              commonName: "kube-apiserver-etcd-client", keyUsages: leafUsage, extendedKeyUsages: [.clientAuth],
              scope: .eachControlPlane),
        .init(name: "front-proxy-client", fileBase: "front-proxy-client", kind: .leaf, signer: .frontProxy,
              commonName: "front-proxy-client", keyUsages: leafUsage, extendedKeyUsages: [.clientAuth],
              scope: .eachControlPlane),

        // Per etcd member.
        .init(name: "etcd/server", fileBase: "etcd/server", kind: .leaf, signer: .etcd, commonName: "{host}",
              keyUsages: leafUsage, extendedKeyUsages: [.serverAuth, .clientAuth], sanRule: .etcdServer,
              scope: .eachEtcdMember),
        .init(name: "etcd/peer", fileBase: "etcd/peer", kind: .leaf, signer: .etcd, commonName: "{host}",
              keyUsages: leafUsage, extendedKeyUsages: [.serverAuth, .clientAuth], sanRule: .etcdPeer,
              scope: .eachEtcdMember),
        .init(name: "etcd/healthcheck-client", fileBase: "etcd/healthcheck-client", kind: .leaf, signer: .etcd,
              commonName: "kube-etcd-healthcheck-client", keyUsages: leafUsage, extendedKeyUsages: [.clientAuth],
              scope: .eachEtcdMember),

        // Per node: the kubelet's serving certificate (port 10250), issued here rather than self-signed by
        // the kubelet, so the API server verifies every kubelet it calls (--kubelet-certificate-authority).
        // Capstan issues it, not the kubelet through serverTLSBootstrap: no CSR approver has to run in the
        // cluster, it exists before the API server answers, and `certs check/rotate` renew it like every leaf.
        .init(name: "kubelet-server", fileBase: "kubelet-server", kind: .leaf, signer: .cluster, commonName: "system:node:{host}",
              organizations: ["system:nodes"], keyUsages: leafUsage, extendedKeyUsages: [.serverAuth], sanRule: .kubeletServing,
              scope: .eachNode),

        // Kubeconfigs.
        .init(name: "admin.conf", fileBase: "kubeconfig/admin", kind: .kubeconfig(fileName: "admin.conf", server: .controlPlaneEndpoint),
              signer: .cluster, commonName: "kubernetes-admin", organizations: ["kubeadm:cluster-admins"],
              keyUsages: leafUsage, extendedKeyUsages: [.clientAuth], scope: .cluster),
        .init(name: "super-admin.conf", fileBase: "kubeconfig/super-admin",
              kind: .kubeconfig(fileName: "super-admin.conf", server: .controlPlaneEndpoint), signer: .cluster,
              commonName: "kubernetes-super-admin", organizations: ["system:masters"], keyUsages: leafUsage,
              extendedKeyUsages: [.clientAuth], scope: .cluster),
        .init(name: "controller-manager.conf", fileBase: "kubeconfig/controller-manager",
              kind: .kubeconfig(fileName: "controller-manager.conf", server: .localAPIServer), signer: .cluster,
              commonName: "system:kube-controller-manager", keyUsages: leafUsage, extendedKeyUsages: [.clientAuth],
              scope: .eachControlPlane),
        .init(name: "scheduler.conf", fileBase: "kubeconfig/scheduler",
              kind: .kubeconfig(fileName: "scheduler.conf", server: .localAPIServer), signer: .cluster,
              commonName: "system:kube-scheduler", keyUsages: leafUsage, extendedKeyUsages: [.clientAuth],
              scope: .eachControlPlane),
        .init(name: "kubelet.conf", fileBase: "kubeconfig/kubelet",
              kind: .kubeconfig(fileName: "kubelet.conf", server: .nodeEndpoint), signer: .cluster,
              commonName: "system:node:{host}", organizations: ["system:nodes"], keyUsages: leafUsage,
              extendedKeyUsages: [.clientAuth], scope: .eachNode),
        .init(name: "kube-proxy.conf", fileBase: "kubeconfig/kube-proxy",
              kind: .kubeconfig(fileName: "kube-proxy.conf", server: .nodeEndpoint), signer: .cluster,
              commonName: "system:kube-proxy", keyUsages: leafUsage, extendedKeyUsages: [.clientAuth], scope: .cluster),
    ]

    public static func spec(named name: String) -> CertificateSpec? { kubeadm.first { $0.name == name } }
}
