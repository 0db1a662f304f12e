import Foundation
/// Context of `kubernetes/kube-apiserver.service`, `kube-controller-manager.service`,
/// `kube-scheduler.service` and `audit-policy.yaml` on one control-plane host. Paths are kubeadm's.
public struct ControlPlaneContext: Codable, Sendable, Equatable {
    public var clusterName: String
    public var nodeName: String
    public var advertiseAddress: String
    public var securePort: Int
    public var binDir: String
    public var pkiDir: String
    public var kubeconfigDir: String
    /// Comma-separated client URLs of every etcd member.
    public var etcdServers: String
    public var serviceCIDR: String
    public var podCIDR: String
    /// Prefix length of each node's pod subnet (`spec.network.nodeSubnetSize`).
    public var nodeCIDRMaskSize: Int
    public var serviceAccountIssuer: String
    public var auditPolicyFile: String
    public var auditLogPath: String
    /// The EncryptionConfiguration (Secrets at rest).
    public var encryptionConfigFile: String
    /// `--admission-control-config-file`, written only when the inventory sets `spec.controlPlane.podSecurity`.
    public var admissionConfigFile: String
    public var hasAdmissionConfig: Bool
    public static let admissionConfigPath = "/etc/kubernetes/admission-config.yaml"
    /// False for an external CA without its key: the controller manager then signs nothing.
    public var clusterSigning: Bool
    /// `--name=value` lines after each unit's fixed flags: Capstan's policy defaults merged with the
    /// inventory's `spec.extraArgs` (`ComponentFlags.merged`).
    public var apiServerFlags: [String]
    public var controllerManagerFlags: [String]
    public var schedulerFlags: [String]

    public init(
        clusterName: String, nodeName: String, advertiseAddress: String, etcdServers: [String],
        serviceCIDR: String, podCIDR: String, clusterDomain: String, clusterSigning: Bool = true, nodeCIDRMaskSize: Int = 24,
        securePort: Int = 6443, binDir: String = "/usr/local/bin", pkiDir: String = "/etc/kubernetes/pki",
        kubeconfigDir: String = "/etc/kubernetes", auditPolicyFile: String = "/etc/kubernetes/audit-policy.yaml",
        auditLogPath: String = "/var/log/kubernetes/audit/audit.log", encryptionConfigFile: String = "/etc/kubernetes/encryption-config.yaml",
        hasAdmissionConfig: Bool = false,
        apiServerFlags: [String] = [], controllerManagerFlags: [String] = [], schedulerFlags: [String] = []
    ) {
        self.clusterName = clusterName
        self.nodeName = nodeName
        self.advertiseAddress = advertiseAddress
        self.securePort = securePort
        self.binDir = binDir
        self.pkiDir = pkiDir
        self.kubeconfigDir = kubeconfigDir
        self.etcdServers = etcdServers.joined(separator: ",")
        self.serviceCIDR = serviceCIDR
        self.podCIDR = podCIDR
        self.nodeCIDRMaskSize = nodeCIDRMaskSize
        self.serviceAccountIssuer = "https://kubernetes.default.svc." + clusterDomain
        self.auditPolicyFile = auditPolicyFile
        self.auditLogPath = auditLogPath
        self.encryptionConfigFile = encryptionConfigFile
        self.admissionConfigFile = Self.admissionConfigPath
        self.hasAdmissionConfig = hasAdmissionConfig
        self.clusterSigning = clusterSigning
        self.apiServerFlags = apiServerFlags
        self.controllerManagerFlags = controllerManagerFlags
        self.schedulerFlags = schedulerFlags
    }
}

/// Context of `kubernetes/kubelet.service` and `kubernetes/kubelet-config.yaml` on one node.
public struct KubeletContext: Codable, Sendable, Equatable {
    public var clusterName: String
    public var nodeName: String
    public var nodeIP: String
    public var binDir: String
    public var configFile: String
    public var kubeconfig: String
    /// Managed mode: the kubelet requests its client certificate with this kubeconfig (TLS bootstrap).
    public var bootstrap: Bool
    public var bootstrapKubeconfig: String
    public var clientCAFile: String
    /// The serving pair Capstan issues (self-managed; a managed-mode kubelet makes up its own).
    public var tlsCertFile: String
    public var tlsPrivateKeyFile: String
    public static let servingCertFile = "/etc/kubernetes/pki/kubelet-server.crt"
    public static let servingKeyFile = "/etc/kubernetes/pki/kubelet-server.key"
    /// The 10th address of the service CIDR, as kubeadm picks it.
    public var clusterDNS: String
    public var clusterDomain: String
    public var containerRuntimeEndpoint: String
    public var staticPodPath: String
    public var hasLabels: Bool
    /// `k=v,k2=v2`, sorted by key.
    public var nodeLabels: String
    public var hasTaints: Bool
    /// `registerWithTaints` of the kubelet configuration (the `--register-with-taints` flag is deprecated in
    /// every supported version: "should be set via the config file"). Keys and values are written double-quoted:
    /// a label value such as `true`, `1` or `null` is a bool, number or null to YAML, which the kubelet refuses.
    public var taints: [Taint]

    public struct Taint: Codable, Sendable, Equatable {
        public var key: String
        public var value: String
        public var hasValue: Bool
        public var effect: String

        public init(key: String, value: String? = nil, effect: String) {
            self.key = key
            self.value = value ?? ""
            self.hasValue = value != nil
            self.effect = effect
        }
    }
    public var extraFlags: [String]

    public init(
        clusterName: String, nodeName: String, nodeIP: String, clusterDNS: String, clusterDomain: String,
        labels: [String: String] = [:], taints: [Taint] = [], bootstrapKubeconfig: String? = nil,
        binDir: String = "/usr/local/bin", configFile: String = "/var/lib/kubelet/config.yaml",
        kubeconfig: String = "/etc/kubernetes/kubelet.conf", clientCAFile: String = "/etc/kubernetes/pki/ca.crt",
        containerRuntimeEndpoint: String = "unix:///run/containerd/containerd.sock",
        staticPodPath: String = "/etc/kubernetes/manifests", extraFlags: [String] = []
    ) {
        self.clusterName = clusterName
        self.nodeName = nodeName
        self.nodeIP = nodeIP
        self.binDir = binDir
        self.configFile = configFile
        self.kubeconfig = kubeconfig
        self.bootstrap = bootstrapKubeconfig != nil
        self.bootstrapKubeconfig = bootstrapKubeconfig ?? ""
        self.clientCAFile = clientCAFile
        self.tlsCertFile = Self.servingCertFile
        self.tlsPrivateKeyFile = Self.servingKeyFile
        self.clusterDNS = clusterDNS
        self.clusterDomain = clusterDomain
        self.containerRuntimeEndpoint = containerRuntimeEndpoint
        self.staticPodPath = staticPodPath
        self.hasLabels = !labels.isEmpty
        self.nodeLabels = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        self.hasTaints = !taints.isEmpty
        self.taints = taints
        self.extraFlags = extraFlags
    }
}

/// Context of `kubernetes/kube-proxy.service` and `kubernetes/kube-proxy-config.yaml`.
public struct KubeProxyContext: Codable, Sendable, Equatable {
    public var clusterName: String
    public var nodeName: String
    public var binDir: String
    public var configFile: String
    public var kubeconfig: String
    public var podCIDR: String
    public var extraFlags: [String]

    public init(
        clusterName: String, nodeName: String, podCIDR: String, binDir: String = "/usr/local/bin",
        configFile: String = "/var/lib/kube-proxy/config.conf", kubeconfig: String = "/etc/kubernetes/kube-proxy.conf",
        extraFlags: [String] = []
    ) {
        self.clusterName = clusterName
        self.nodeName = nodeName
        self.binDir = binDir
        self.configFile = configFile
        self.kubeconfig = kubeconfig
        self.podCIDR = podCIDR
        self.extraFlags = extraFlags
    }
}

/// Context of `kubernetes/bootstrap-kubelet.conf`: the kubeconfig a managed-mode kubelet joins with.
public struct KubeletBootstrapContext: Codable, Sendable, Equatable {
    public var clusterName: String
    /// The provider's API endpoint (`https://…`).
    public var server: String
    /// Base64 of the provider's CA PEM.
    public var caData: String
    /// Bootstrap token `abcdef.0123456789abcdef`.
    public var token: String

    public init(clusterName: String, server: String, caData: String, token: String) {
        self.clusterName = clusterName
        self.server = server
        self.caData = caData
        self.token = token
    }
}

/// Context of the one-line-header host files (`modules-load.conf`, `sysctl.conf`).
public struct ClusterNameContext: Codable, Sendable, Equatable {
    public var clusterName: String
    public init(clusterName: String) { self.clusterName = clusterName }
}

/// Context of `kubernetes/encryption-config.yaml`: the secretbox keys in provider order (the first writes).
public struct EncryptionConfigContext: Codable, Sendable, Equatable {
    public struct Key: Codable, Sendable, Equatable {
        public var name: String
        public var secret: String
        public init(name: String, secret: String) {
            self.name = name
            self.secret = secret
        }
    }
    public var clusterName: String
    public var keys: [Key]
    public init(clusterName: String, keys: [Key]) {
        self.clusterName = clusterName
        self.keys = keys
    }
}

/// Context of `kubernetes/admission-config.yaml`: the PodSecurity admission plugin's defaults and exemptions.
/// The exemption lists are JSON arrays (valid YAML flow sequences, every string quoted and escaped).
public struct AdmissionContext: Codable, Sendable, Equatable {
    public var clusterName: String
    public var enforce: String
    public var audit: String
    public var warn: String
    public var version: String
    public var usernames: String
    public var namespaces: String
    public var runtimeClasses: String

    public init(clusterName: String, enforce: String, audit: String, warn: String, version: String,
                usernames: [String], namespaces: [String], runtimeClasses: [String]) {
        func flow(_ list: [String]) -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            return (try? encoder.encode(list)).map { String(decoding: $0, as: UTF8.self).replacingOccurrences(of: "\",\"", with: "\", \"") } ?? "[]"
        }
        self.clusterName = clusterName
        self.enforce = enforce
        self.audit = audit
        self.warn = warn
        self.version = version
        self.usernames = flow(usernames)
        self.namespaces = flow(namespaces)
        self.runtimeClasses = flow(runtimeClasses)
    }
}
