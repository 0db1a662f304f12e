/// A Kubernetes binary whose command line the inventory may extend (`spec.extraArgs.<component>`).
public enum KubernetesComponent: String, Sendable, CaseIterable, Codable, Comparable {
    case apiServer = "kube-apiserver"
    case controllerManager = "kube-controller-manager"
    case scheduler = "kube-scheduler"
    case kubelet

    public static func < (a: KubernetesComponent, b: KubernetesComponent) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One `spec.extraArgs` entry: a flag name without dashes and its value, as written.
public struct ExtraArg: Sendable, Equatable, Codable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// The flags Capstan puts on each component's command line besides the ones its templates write, in one table:
/// the policy defaults (each with why it is set, CIS Kubernetes Benchmark checks named in words) that
/// `spec.extraArgs` may replace, and the flags Capstan derives from the inventory or its PKI, which it may not.
public enum ComponentFlags {
    public struct Default: Sendable, Equatable {
        public var name: String
        public var value: String
        public var why: String
    }

    /// TLS 1.2 suites with ECDHE key exchange and an AEAD cipher: the CIS Kubernetes Benchmark's lists for the
    /// API server and the kubelet both contain all of them (`--tls-cipher-suites`, `tlsCipherSuites`).
    public static let strongCipherSuites = [
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    ]

    /// Policy defaults, in the order they are written on the command line.
    public static let defaults: [KubernetesComponent: [Default]] = [
        .apiServer: [
            Default(name: "allow-privileged", value: "true", why: "privileged pods (CNI and storage drivers) are allowed; restrict them with Pod Security admission"),
            Default(name: "authorization-mode", value: "Node,RBAC", why: "CIS: authorization is not AlwaysAllow and includes Node and RBAC"),
            Default(name: "enable-admission-plugins", value: "NodeRestriction", why: "CIS: the NodeRestriction admission plugin is set"),
            Default(name: "kubelet-preferred-address-types", value: "InternalIP,ExternalIP,Hostname", why: "the API server reaches kubelets at the addresses Capstan gives them, not by a host name DNS may not know"),
            Default(name: "audit-log-maxage", value: "30", why: "CIS: audit logs are kept 30 days"),
            Default(name: "audit-log-maxbackup", value: "10", why: "CIS: 10 rotated audit logs are kept"),
            Default(name: "audit-log-maxsize", value: "100", why: "CIS: audit logs rotate at 100 MB"),
            Default(name: "profiling", value: "false", why: "CIS: profiling is off"),
            Default(name: "tls-min-version", value: "VersionTLS12", why: "clients need TLS 1.2 or later"),
            Default(name: "tls-cipher-suites", value: ComponentFlags.strongCipherSuites.joined(separator: ","),
                    why: "CIS: only strong ciphers (ECDHE key exchange, AEAD); TLS 1.3's suites are not configurable and always strong"),
            Default(name: "service-account-extend-token-expiration", value: "false",
                    why: "CIS: a projected service-account token expires when it says (the kubelet renews it), not a year later"),
        ],
        .controllerManager: [
            Default(name: "bind-address", value: "127.0.0.1", why: "CIS: the secure port listens on the loopback address only"),
            Default(name: "controllers", value: "*,bootstrapsigner,tokencleaner", why: "every default controller plus the two bootstrap-token controllers node joins need"),
            Default(name: "leader-elect", value: "true", why: "one active controller manager among the control-plane hosts"),
            Default(name: "use-service-account-credentials", value: "true", why: "CIS: each controller uses its own service-account credentials"),
            Default(name: "profiling", value: "false", why: "CIS: profiling is off"),
            Default(name: "terminated-pod-gc-threshold", value: "10000", why: "CIS: terminated pods are garbage-collected beyond 10,000"),
        ],
        .scheduler: [
            Default(name: "bind-address", value: "127.0.0.1", why: "CIS: the secure port listens on the loopback address only"),
            Default(name: "leader-elect", value: "true", why: "one active scheduler among the control-plane hosts"),
        ],
        .kubelet: [],
    ]

    private static let oidc = "spec.controlPlane.oidc"
    private static let pki = "the cluster PKI Capstan manages (certificates and kubeconfigs in the state directory)"

    /// Flags Capstan sets from the inventory or its PKI: `spec.extraArgs` may not write them; the value says what
    /// sets the flag, which is where to change it.
    public static let reserved: [KubernetesComponent: [String: String]] = [
        .apiServer: [
            "advertise-address": "the host's address (spec.hosts[].internalAddress, else address)",
            "secure-port": "Capstan (6443: the load balancers, kubeconfigs and health gates use it)",
            "enable-bootstrap-token-auth": "Capstan (nodes join with bootstrap tokens)",
            "client-ca-file": pki, "tls-cert-file": pki, "tls-private-key-file": pki,
            "kubelet-client-certificate": pki, "kubelet-client-key": pki, "kubelet-certificate-authority": pki,
            "etcd-servers": "the hosts with the etcd role (spec.hosts[].roles)",
            "etcd-cafile": pki, "etcd-certfile": pki, "etcd-keyfile": pki,
            "service-account-key-file": pki, "service-account-signing-key-file": pki,
            "service-account-issuer": "Capstan (https://kubernetes.default.svc.<spec.network.clusterDomain>)",
            "service-cluster-ip-range": "spec.network.serviceCIDR",
            "proxy-client-cert-file": pki, "proxy-client-key-file": pki,
            "requestheader-client-ca-file": pki, "requestheader-allowed-names": pki,
            "requestheader-extra-headers-prefix": pki, "requestheader-group-headers": pki, "requestheader-username-headers": pki,
            "audit-policy-file": "Capstan (the audit policy it writes)", "audit-log-path": "Capstan (the audit policy it writes)",
            "encryption-provider-config": "Capstan (Secrets encryption; keys in the state directory, rotated with `capstan secrets rotate-key`)",
            "admission-control-config-file": "spec.controlPlane.podSecurity (the AdmissionConfiguration Capstan writes from it)",
            "oidc-issuer-url": oidc, "oidc-client-id": oidc, "oidc-username-claim": oidc, "oidc-username-prefix": oidc,
            "oidc-groups-claim": oidc, "oidc-groups-prefix": oidc, "oidc-ca-file": oidc,
        ],
        .controllerManager: [
            "kubeconfig": pki, "authentication-kubeconfig": pki, "authorization-kubeconfig": pki,
            "client-ca-file": pki, "requestheader-client-ca-file": pki,
            "cluster-signing-cert-file": pki, "cluster-signing-key-file": pki, "root-ca-file": pki,
            "service-account-private-key-file": pki,
            "cluster-name": "metadata.name",
            "service-cluster-ip-range": "spec.network.serviceCIDR",
            "cluster-cidr": "spec.network.podCIDR",
            "allocate-node-cidrs": "Capstan (it assigns each node's pod subnet and records it in the state directory)",
            "node-cidr-mask-size": "spec.network.nodeSubnetSize",
        ],
        .scheduler: [
            "kubeconfig": pki, "authentication-kubeconfig": pki, "authorization-kubeconfig": pki,
        ],
        .kubelet: [
            "config": "Capstan (the kubelet configuration it writes)",
            "bootstrap-kubeconfig": pki, "kubeconfig": pki,
            "hostname-override": "spec.hosts[].name",
            "node-ip": "the host's address (spec.hosts[].internalAddress, else address)",
            "node-labels": "spec.hosts[].labels",
            "register-with-taints": "spec.hosts[].taints",
        ],
    ]

    /// One line of a command line as the unit templates write it, `--name=value`.
    public static func flag(_ name: String, _ value: String) -> String { "--\(name)=\(value)" }

    /// The flags `component` gets besides its template's: the defaults in table order, each replaced in place by
    /// the inventory's value when it sets one, then the inventory's other flags in the order written.
    public static func merged(_ component: KubernetesComponent, extraArgs: [KubernetesComponent: [ExtraArg]]) -> [String] {
        let user = extraArgs[component] ?? []
        let byName = Dictionary(user.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
        let defaults = self.defaults[component] ?? []
        let defaultNames = Set(defaults.map(\.name))
        return defaults.map { flag($0.name, byName[$0.name] ?? $0.value) }
            + user.filter { !defaultNames.contains($0.name) }.map { flag($0.name, $0.value) }
    }

    /// Where the inventory departs from Capstan's command lines: each `spec.extraArgs` entry with the default it
    /// replaces (nil when it adds a flag).
    public struct Override: Sendable, Equatable, Codable {
        public var component: KubernetesComponent
        public var name: String
        public var value: String
        public var replacesDefault: String?
    }

    public static func overrides(_ extraArgs: [KubernetesComponent: [ExtraArg]]) -> [Override] {
        extraArgs.keys.sorted().flatMap { component in
            (extraArgs[component] ?? []).map { arg in
                Override(component: component, name: arg.name, value: arg.value,
                         replacesDefault: defaults[component]?.first(where: { $0.name == arg.name })?.value)
            }
        }
    }
}
