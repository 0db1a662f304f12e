/// Every identity Capstan issues that talks to the API server, and what authorizes it. A test checks each
/// against Kubernetes' default bootstrap policy (`DefaultBootstrapPolicy`) or the bindings Capstan creates
/// (`addons/cluster/bootstrap-rbac.yaml`), so a certificate whose subject no rule covers cannot ship.
public enum ClusterIdentities {
    public enum Authorization: Sendable, Equatable {
        /// A ClusterRoleBinding of Kubernetes' default bootstrap policy names this user or group.
        case defaultPolicy(binding: String)
        /// A ClusterRoleBinding Capstan applies in the `cluster-objects` phase names this group.
        case capstan(binding: String)
        /// The Node authorizer (`--authorization-mode=Node,RBAC`) authorizes `system:node:<name>` in `system:nodes`.
        case nodeAuthorizer
        /// `system:masters` bypasses authorization (the break-glass super-admin, as kubeadm issues it).
        case systemMasters
    }

    public struct Identity: Sendable, Equatable {
        /// The catalog name of the certificate or kubeconfig (`CertificateCatalog.kubeadm`).
        public var certificate: String
        public var user: String
        public var groups: [String]
        /// What it must be allowed to do.
        public var needs: String
        public var authorizations: [Authorization]
    }

    public static let table: [Identity] = [
        Identity(certificate: "admin.conf", user: "kubernetes-admin", groups: ["kubeadm:cluster-admins"],
                 needs: "everything an operator does (kubectl, drains during upgrades, add-ons)",
                 authorizations: [.capstan(binding: "kubeadm:cluster-admins")]),
        Identity(certificate: "super-admin.conf", user: "kubernetes-super-admin", groups: ["system:masters"],
                 needs: "break-glass access, and creating the bindings above before any exists",
                 authorizations: [.systemMasters]),
        Identity(certificate: "apiserver-kubelet-client", user: "kube-apiserver-kubelet-client", groups: ["kubeadm:cluster-admins"],
                 needs: "the kubelet API (nodes/proxy, logs, exec, port-forward)",
                 authorizations: [.capstan(binding: "kubeadm:cluster-admins")]),
        Identity(certificate: "controller-manager.conf", user: "system:kube-controller-manager", groups: [],
                 needs: "the controllers' own bootstrap role", authorizations: [.defaultPolicy(binding: "system:kube-controller-manager")]),
        Identity(certificate: "scheduler.conf", user: "system:kube-scheduler", groups: [],
                 needs: "scheduling and volume binding",
                 authorizations: [.defaultPolicy(binding: "system:kube-scheduler"), .defaultPolicy(binding: "system:volume-scheduler")]),
        Identity(certificate: "kube-proxy.conf", user: "system:kube-proxy", groups: [],
                 needs: "services, endpoints, nodes (read) and events", authorizations: [.defaultPolicy(binding: "system:node-proxier")]),
        Identity(certificate: "kubelet.conf", user: "system:node:{host}", groups: ["system:nodes"],
                 needs: "its Node, its pods and what they mount; renewing its own client certificate",
                 authorizations: [.nodeAuthorizer, .capstan(binding: "kubeadm:node-autoapprove-certificate-rotation")]),
    ]
}

/// Facts from Kubernetes' default RBAC policy: the ClusterRoleBindings the API server creates at start
/// (kubernetes/kubernetes `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`, `clusterRoleBindings()`,
/// read from a recent revision of that file, not per release tag). Subjects as `User:name`, `Group:name`,
/// `ServiceAccount:ns/name`.
public enum DefaultBootstrapPolicy {
    public static let clusterRoleBindings: [String: [String]] = [
        "cluster-admin": ["Group:system:masters"],
        "system:discovery": ["Group:system:authenticated"],
        "system:basic-user": ["Group:system:authenticated"],
        "system:public-info-viewer": ["Group:system:authenticated", "Group:system:unauthenticated"],
        "system:node-proxier": ["User:system:kube-proxy"],
        "system:kube-controller-manager": ["User:system:kube-controller-manager"],
        "system:kube-dns": ["ServiceAccount:kube-system/kube-dns"],
        "system:kube-scheduler": ["User:system:kube-scheduler"],
        "system:volume-scheduler": ["User:system:kube-scheduler"],
        // Kept with no subjects since the Node authorizer took over.
        "system:node": [],
        "system:service-account-issuer-discovery": ["Group:system:serviceaccounts"],
    ]
}
