/// The declared cluster: what `capstan` reads from an inventory file (`capstan.dev/v1alpha1`, kind `Cluster`).
///
/// This is pure data. Parsing with file:line:col diagnostics lives in `InventoryLoader`;
/// every optional field carries its default here so a loaded inventory is always complete.
public struct Inventory: Sendable, Equatable {
    public static let apiVersion = "capstan.dev/v1alpha1"
    public static let kind = "Cluster"

    public var name: String
    public var kubernetesVersion: SemanticVersion
    public var controlPlane: ControlPlaneSpec
    public var network: NetworkSpec
    public var etcd: EtcdSpec
    public var pki: PKISpec
    public var ssh: SSHSpec
    public var artifacts: ArtifactSpec
    public var upgrade: UpgradeSpec
    /// Runtime component versions; unset ones follow the Kubernetes minor's defaults.
    public var components: ComponentsSpec
    /// What `apply` puts into the cluster through the API besides the bootstrap RBAC: cluster DNS, monitoring.
    public var addons: AddonsSpec
    /// Registry mirrors and credentials for containerd on the nodes.
    public var containerRuntime = ContainerRuntimeSpec()
    /// Flags added to or replacing Capstan's defaults on each component's command line (`spec.extraArgs`),
    /// checked against the component's flag table for `kubernetesVersion`'s minor.
    public var extraArgs: [KubernetesComponent: [ExtraArg]] = [:]
    /// Fields merged into the kubelet's and kube-proxy's configuration files (`spec.componentConfig`), checked
    /// against their Go types at `kubernetesVersion`'s minor.
    public var componentConfig: [ConfigComponent: ComponentConfig] = [:]
    /// How many hosts a phase works on at once (`spec.concurrency`).
    public var concurrency = ConcurrencySpec()
    public var hosts: [HostSpec]
    /// Path of the file this inventory was read from; relative paths inside it resolve against its directory.
    public var sourcePath: String?
    /// The state directory chosen on the command line (`--state-dir`, `CAPSTAN_STATE_DIR`); nil means the
    /// default beside the inventory. Never read from the YAML: where state lives is the operator's choice.
    public var stateDirectory: String?

    public init(
        name: String,
        kubernetesVersion: SemanticVersion,
        controlPlane: ControlPlaneSpec = ControlPlaneSpec(),
        network: NetworkSpec = NetworkSpec(),
        etcd: EtcdSpec = EtcdSpec(),
        pki: PKISpec = PKISpec(),
        ssh: SSHSpec = SSHSpec(),
        artifacts: ArtifactSpec = ArtifactSpec(),
        upgrade: UpgradeSpec = UpgradeSpec(),
        components: ComponentsSpec = ComponentsSpec(),
        addons: AddonsSpec = AddonsSpec(),
        hosts: [HostSpec] = [],
        sourcePath: String? = nil
    ) {
        self.name = name
        self.kubernetesVersion = kubernetesVersion
        self.controlPlane = controlPlane
        self.network = network
        self.etcd = etcd
        self.pki = pki
        self.ssh = ssh
        self.artifacts = artifacts
        self.upgrade = upgrade
        self.components = components
        self.addons = addons
        self.hosts = hosts
        self.sourcePath = sourcePath
    }

    public func hosts(withRole role: Role) -> [HostSpec] { hosts.filter { $0.roles.contains(role) } }
    /// The host named `name`, if the inventory lists it.
    public func host(named name: String) -> HostSpec? { hosts.first { $0.name == name } }
    public var controlPlaneHosts: [HostSpec] { hosts(withRole: .controlPlane) }
    public var etcdHosts: [HostSpec] { hosts(withRole: .etcd) }
    public var workerHosts: [HostSpec] { hosts(withRole: .worker) }
    public var isSelfManaged: Bool { controlPlane.mode == .selfManaged }

    /// The API load balancer in effect. Unset, it keeps what an inventory meant before the setting
    /// existed: an `endpoint` is the user's own balancer (`external`); without one, several
    /// control-plane hosts get `node-local` and a single one `none`.
    public var apiLoadBalancer: LoadBalancerMode {
        if let mode = controlPlane.loadBalancer { return mode }
        if controlPlane.endpoint != nil { return .external }
        return controlPlaneHosts.count > 1 ? .nodeLocal : .none
    }

    /// Whether nodes reach the API through haproxy on their own 127.0.0.1 (`node-local` and `vip`).
    public var usesNodeLocalBalancer: Bool { isSelfManaged && [.nodeLocal, .vip].contains(apiLoadBalancer) }

    /// Nodes that run the node-local balancer: every kubelet host where 127.0.0.1 on the balancer's
    /// port is not its own API server (all of them when the port differs from the API servers' 6443).
    public var localBalancerHosts: [HostSpec] {
        guard usesNodeLocalBalancer else { return [] }
        let ownAPIServer = controlPlane.localBalancerPort == ControlPlaneSpec.defaultLocalBalancerPort
        return hosts.filter { ($0.has(.worker) || $0.has(.controlPlane)) && !($0.has(.controlPlane) && ownAPIServer) }
    }

    /// The SSH settings that apply to `host`: the cluster defaults overlaid with the host's overrides.
    public func effectiveSSH(for host: HostSpec) -> SSHSpec { ssh.overlaid(with: host.ssh) }
}

public enum Role: String, Sendable, Equatable, Hashable, CaseIterable, Codable {
    case controlPlane = "control-plane"
    case etcd
    case worker
}

public enum ControlPlaneMode: String, Sendable, Equatable, CaseIterable, Codable {
    case selfManaged = "self-managed"
    case managed
}

public enum ManagedProvider: String, Sendable, Equatable, CaseIterable, Codable {
    case eks, gke, aks, other
}

/// A Pod Security Standards level (`pod-security.kubernetes.io/<mode>` label values).
public enum PodSecurityLevel: String, Sendable, Equatable, CaseIterable, Codable {
    case privileged, baseline, restricted
}

/// The cluster-wide defaults of the PodSecurity admission plugin, written into the API servers'
/// AdmissionConfiguration; namespaces override them with their `pod-security.kubernetes.io/*` labels.
public struct PodSecuritySpec: Sendable, Equatable {
    public var enforce: PodSecurityLevel = .baseline
    public var audit: PodSecurityLevel = .restricted
    public var warn: PodSecurityLevel = .restricted
    /// `latest` or `v1.<minor>`: the version of the standards each level means.
    public var version = "latest"
    public var exemptNamespaces: [String] = ["kube-system"]
    public var exemptUsernames: [String] = []
    public var exemptRuntimeClasses: [String] = []

    public init() {}
}

/// The API servers' OpenID Connect settings: users sign in at the issuer and present its ID tokens.
public struct OIDCSpec: Sendable, Equatable {
    public var issuerURL: String
    public var clientID: String
    public var usernameClaim = "sub"
    public var usernamePrefix: String?
    public var groupsClaim: String?
    public var groupsPrefix: String?
    /// A local PEM file with the CA of the issuer's serving certificate; nil means the hosts' CA store.
    public var caFile: String?

    public init(issuerURL: String, clientID: String) {
        self.issuerURL = issuerURL
        self.clientID = clientID
    }

    /// Where the API servers read `caFile` on the control-plane hosts.
    public static let hostCAPath = "/etc/kubernetes/pki/oidc-ca.crt"

    /// The API server's flags for these settings.
    public var flags: [String] {
        var out = ["--oidc-issuer-url=\(issuerURL)", "--oidc-client-id=\(clientID)", "--oidc-username-claim=\(usernameClaim)"]
        if let usernamePrefix { out.append("--oidc-username-prefix=\(usernamePrefix)") }
        if let groupsClaim { out.append("--oidc-groups-claim=\(groupsClaim)") }
        if let groupsPrefix { out.append("--oidc-groups-prefix=\(groupsPrefix)") }
        if caFile != nil { out.append("--oidc-ca-file=\(Self.hostCAPath)") }
        return out
    }
}

public struct ControlPlaneSpec: Sendable, Equatable {
    public var mode: ControlPlaneMode
    /// `host:port` of the API (VIP or load balancer). Nil means the first control-plane host's address, port 6443.
    public var endpoint: String?
    /// Extra subject alternative names for the API server certificate.
    public var extraSANs: [String]
    /// Only for `mode: managed`.
    public var managed: ManagedSpec?
    /// How nodes and clients reach the API servers; nil means the default (`Inventory.apiLoadBalancer`).
    public var loadBalancer: LoadBalancerMode?
    /// Port the node-local balancer listens on at 127.0.0.1.
    public var localBalancerPort: Int
    /// Only for `loadBalancer: vip`.
    public var vip: VIPSpec?
    /// The PodSecurity admission plugin's cluster-wide defaults (`spec.controlPlane.podSecurity`); nil leaves
    /// Kubernetes' own (privileged everywhere) and renders no admission configuration.
    public var podSecurity: PodSecuritySpec?
    /// An OpenID Connect issuer the API servers accept ID tokens from (`spec.controlPlane.oidc`).
    public var oidc: OIDCSpec?

    public static let defaultLocalBalancerPort = 6443

    public init(mode: ControlPlaneMode = .selfManaged, endpoint: String? = nil, extraSANs: [String] = [], managed: ManagedSpec? = nil,
                loadBalancer: LoadBalancerMode? = nil, localBalancerPort: Int = ControlPlaneSpec.defaultLocalBalancerPort, vip: VIPSpec? = nil) {
        self.mode = mode
        self.endpoint = endpoint
        self.extraSANs = extraSANs
        self.managed = managed
        self.loadBalancer = loadBalancer
        self.localBalancerPort = localBalancerPort
        self.vip = vip
    }
}

/// `spec.controlPlane.loadBalancer`: how kubelets, kube-proxies and outside clients reach the API servers.
public enum LoadBalancerMode: String, Sendable, Equatable, CaseIterable, Codable {
    /// haproxy on 127.0.0.1 of every node without an API server, health-checking every API server.
    case nodeLocal = "node-local"
    /// node-local for the nodes, plus a keepalived virtual IP (the endpoint's address) on the control-plane hosts.
    case vip
    /// The user's own load balancer or VIP at `endpoint`.
    case external
    /// One control-plane host, reached directly.
    case none
}

/// keepalived settings of `loadBalancer: vip`; the address is the endpoint's host.
public struct VIPSpec: Sendable, Equatable {
    /// Network interface that carries the address; nil: the interface of the host's route to it.
    public var interface: String?
    public var virtualRouterID: Int

    public static let defaultVirtualRouterID = 51

    public init(interface: String? = nil, virtualRouterID: Int = VIPSpec.defaultVirtualRouterID) {
        self.interface = interface
        self.virtualRouterID = virtualRouterID
    }
}

public struct ManagedSpec: Sendable, Equatable {
    public var provider: ManagedProvider
    /// `https://…` API endpoint of the provider's control plane.
    public var apiEndpoint: String
    /// PEM file with the provider's cluster CA.
    public var caFile: String
    /// Reference to join credentials: a bootstrap token file or a kubeconfig file.
    public var joinCredentials: JoinCredentials

    public init(provider: ManagedProvider, apiEndpoint: String, caFile: String, joinCredentials: JoinCredentials) {
        self.provider = provider
        self.apiEndpoint = apiEndpoint
        self.caFile = caFile
        self.joinCredentials = joinCredentials
    }
}

public enum JoinCredentials: Sendable, Equatable {
    /// A file holding a bootstrap token (`abcdef.0123456789abcdef`).
    case bootstrapTokenFile(String)
    /// A kubeconfig file with credentials allowed to create node client certificates.
    case kubeconfigFile(String)
}

public struct NetworkSpec: Sendable, Equatable {
    public var serviceCIDR: CIDR
    public var podCIDR: CIDR
    public var clusterDomain: String
    /// Who provides the pod network: Capstan's bridge + routes (`native`) or the operator's CNI (`none`).
    public var plugin: NetworkPlugin
    /// Prefix length of each node's pod subnet, carved from `podCIDR` (24: 254 pods per node).
    public var nodeSubnetSize: Int

    public static let defaultServiceCIDR = CIDR(address: IPv4Address(octets: (10, 96, 0, 0)), prefix: 12)
    public static let defaultPodCIDR = CIDR(address: IPv4Address(octets: (10, 244, 0, 0)), prefix: 16)
    public static let defaultNodeSubnetSize = 24

    public init(serviceCIDR: CIDR = NetworkSpec.defaultServiceCIDR, podCIDR: CIDR = NetworkSpec.defaultPodCIDR, clusterDomain: String = "cluster.local",
                plugin: NetworkPlugin = .native, nodeSubnetSize: Int = NetworkSpec.defaultNodeSubnetSize) {
        self.serviceCIDR = serviceCIDR
        self.podCIDR = podCIDR
        self.clusterDomain = clusterDomain
        self.plugin = plugin
        self.nodeSubnetSize = nodeSubnetSize
    }
}

public enum NetworkPlugin: String, Sendable, Equatable, CaseIterable, Codable {
    /// A bridge CNI configuration per node and routes to every other node's pod subnet.
    case native
    /// Bring your own CNI: Capstan installs no CNI configuration.
    case none
}

public enum EtcdTopology: String, Sendable, Equatable, CaseIterable, Codable {
    /// etcd members run on the control-plane hosts.
    case stacked
    /// etcd members run on dedicated hosts with the `etcd` role.
    case external
}

public struct EtcdSpec: Sendable, Equatable {
    public var version: SemanticVersion?
    public var topology: EtcdTopology
    public var dataDir: String
    public var backup: BackupPolicy?
    /// Flags added to every member's command line (`spec.etcd.extraArgs`), checked against the flag table of
    /// the etcd minor.
    public var extraArgs: [ExtraArg] = []

    public init(version: SemanticVersion? = nil, topology: EtcdTopology = .stacked, dataDir: String = "/var/lib/etcd", backup: BackupPolicy? = nil) {
        self.version = version
        self.topology = topology
        self.dataDir = dataDir
        self.backup = backup
    }
}

public struct BackupPolicy: Sendable, Equatable {
    /// systemd `OnCalendar=` expression, e.g. `*-*-* 02:00:00` or `hourly`.
    public var schedule: String
    /// systemd `RandomizedDelaySec=`.
    public var randomizedDelay: TimeSpan
    /// Keep the newest `keep` snapshots (node-local and in the store).
    public var keep: Int
    /// Also drop snapshots older than this, if set (the newest is always kept).
    public var maxAge: TimeSpan?
    public var destination: BackupDestination
    /// 32-byte key file for AES-256-GCM (Capstan's first format): written when no `recipients` are set, and
    /// still read to verify and restore backups taken with it.
    public var encryptionKeyFile: String?
    /// age X25519 recipients (`age1…`): backups are encrypted to these public keys on the etcd hosts, so no
    /// host holds a key that decrypts a backup.
    public var recipients: [String]
    /// The operator's age identity file (`capstan backup keygen`), read on this machine by verify and restore.
    public var identityFile: String?
    /// Explicit opt-out of encryption at rest.
    public var unencrypted: Bool
    /// Also store the PKI state (encrypted) in each backup bundle.
    public var includePKI: Bool

    public init(
        schedule: String = "*-*-* 02:00:00",
        randomizedDelay: TimeSpan = TimeSpan(seconds: 600),
        keep: Int = 7,
        maxAge: TimeSpan? = nil,
        destination: BackupDestination = .local(path: nil),
        encryptionKeyFile: String? = nil,
        recipients: [String] = [],
        identityFile: String? = nil,
        unencrypted: Bool = false,
        includePKI: Bool = true
    ) {
        self.schedule = schedule
        self.randomizedDelay = randomizedDelay
        self.keep = keep
        self.maxAge = maxAge
        self.destination = destination
        self.encryptionKeyFile = encryptionKeyFile
        self.recipients = recipients
        self.identityFile = identityFile
        self.unencrypted = unencrypted
        self.includePKI = includePKI
    }
}

public enum BackupDestination: Sendable, Equatable {
    /// A local directory; nil means `<state dir>/backups`.
    case local(path: String?)
    /// A directory on a backup host reached over SSH/SFTP with the cluster's SSH settings; with `upload`, the
    /// etcd hosts' timer uploads there too, as an account restricted to uploads.
    case sftp(host: String, port: Int, user: String?, path: String, upload: SFTPUpload? = nil)
    /// An S3-compatible bucket, written by the etcd hosts with write-only credentials.
    case s3(S3Destination)
}

/// The account the etcd hosts upload backups to an SFTP store with: its private key (on this machine, deployed
/// 0600 to the etcd hosts) is limited on the store by its authorized_keys entry (see the README).
public struct SFTPUpload: Sendable, Equatable {
    public var user: String
    public var identityFile: String
    public init(user: String, identityFile: String) {
        self.user = user
        self.identityFile = identityFile
    }
}

/// An S3-compatible object store (AWS S3, MinIO, Ceph RGW, …) as a backup destination.
public struct S3Destination: Sendable, Equatable {
    /// `https://host[:port]` (or `http://` for a store on a trusted network).
    public var endpoint: String
    public var bucket: String
    /// Prepended to every object name, e.g. `prod/etcd/`.
    public var prefix: String
    public var region: String
    /// `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`.
    public var pathStyle: Bool
    /// PEM CA bundle the endpoint's certificate is checked against (default: the system's).
    public var caFile: String?
    /// AWS credentials file (`aws_access_key_id`, `aws_secret_access_key`) deployed 0600 to the etcd hosts;
    /// it needs only write (PutObject) rights.
    public var credentialsFile: String
    /// Credentials the operator's list/verify/prune/restore use (read and delete); default `credentialsFile`.
    public var operatorCredentialsFile: String?

    public init(endpoint: String, bucket: String, prefix: String = "", region: String = "us-east-1", pathStyle: Bool = false,
                caFile: String? = nil, credentialsFile: String, operatorCredentialsFile: String? = nil) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.pathStyle = pathStyle
        self.caFile = caFile
        self.credentialsFile = credentialsFile
        self.operatorCredentialsFile = operatorCredentialsFile
    }
}

public enum KeyAlgorithm: String, Sendable, Equatable, CaseIterable, Codable {
    case ecdsaP256 = "ecdsa-p256"
    case rsa2048 = "rsa-2048"
    case rsa3072 = "rsa-3072"
    case rsa4096 = "rsa-4096"
}

public struct PKISpec: Sendable, Equatable {
    public var keyAlgorithm: KeyAlgorithm
    public var caValidity: TimeSpan
    public var leafValidity: TimeSpan
    /// User-supplied cluster CA (or intermediate). Key may be absent: then Capstan writes CSRs for the leaves.
    public var externalCA: ExternalCA?

    public init(keyAlgorithm: KeyAlgorithm = .ecdsaP256, caValidity: TimeSpan = .days(3650), leafValidity: TimeSpan = .days(365), externalCA: ExternalCA? = nil) {
        self.keyAlgorithm = keyAlgorithm
        self.caValidity = caValidity
        self.leafValidity = leafValidity
        self.externalCA = externalCA
    }
}

public struct ExternalCA: Sendable, Equatable {
    public var certFile: String
    public var keyFile: String?

    public init(certFile: String, keyFile: String? = nil) {
        self.certFile = certFile
        self.keyFile = keyFile
    }
}

public enum KnownHostsPolicy: String, Sendable, Equatable, CaseIterable, Codable {
    /// Unknown or changed host keys are refused.
    case strict
    /// Unknown host keys are appended to known_hosts; changed keys are refused.
    case acceptNew = "accept-new"
}

public enum SSHTransportKind: String, Sendable, Equatable, CaseIterable, Codable {
    /// In-process libssh2 (default).
    case libssh2
    /// The system OpenSSH client with ControlMaster multiplexing.
    case openssh
}

/// SSH settings. At cluster level every field has a value after loading; at host level only overrides are set.
public struct SSHSpec: Sendable, Equatable {
    public var user: String?
    public var port: Int?
    public var identityFile: String?
    public var useAgent: Bool?
    /// Password authentication, only when asked for: the name of an environment variable holding the password.
    public var passwordEnv: String?
    /// Run privileged commands through sudo (for non-root users).
    public var become: Bool?
    public var bastion: BastionSpec?
    public var knownHostsFile: String?
    public var knownHostsPolicy: KnownHostsPolicy?
    public var transport: SSHTransportKind?
    public var connectTimeout: TimeSpan?

    public static let clusterDefaults = SSHSpec(
        user: "root", port: 22, identityFile: nil, useAgent: true, passwordEnv: nil, become: false,
        bastion: nil, knownHostsFile: "~/.ssh/known_hosts", knownHostsPolicy: .strict, transport: .libssh2,
        connectTimeout: TimeSpan(seconds: 10)
    )

    public init(
        user: String? = nil, port: Int? = nil, identityFile: String? = nil, useAgent: Bool? = nil,
        passwordEnv: String? = nil, become: Bool? = nil, bastion: BastionSpec? = nil,
        knownHostsFile: String? = nil, knownHostsPolicy: KnownHostsPolicy? = nil,
        transport: SSHTransportKind? = nil, connectTimeout: TimeSpan? = nil
    ) {
        self.user = user
        self.port = port
        self.identityFile = identityFile
        self.useAgent = useAgent
        self.passwordEnv = passwordEnv
        self.become = become
        self.bastion = bastion
        self.knownHostsFile = knownHostsFile
        self.knownHostsPolicy = knownHostsPolicy
        self.transport = transport
        self.connectTimeout = connectTimeout
    }

    /// Fields set in `other` win.
    public func overlaid(with other: SSHSpec?) -> SSHSpec {
        guard let other else { return self }
        return SSHSpec(
            user: other.user ?? user, port: other.port ?? port, identityFile: other.identityFile ?? identityFile,
            useAgent: other.useAgent ?? useAgent, passwordEnv: other.passwordEnv ?? passwordEnv,
            become: other.become ?? become, bastion: other.bastion ?? bastion,
            knownHostsFile: other.knownHostsFile ?? knownHostsFile,
            knownHostsPolicy: other.knownHostsPolicy ?? knownHostsPolicy,
            transport: other.transport ?? transport, connectTimeout: other.connectTimeout ?? connectTimeout
        )
    }
}

public struct BastionSpec: Sendable, Equatable {
    public var address: String
    public var port: Int
    public var user: String?
    public var identityFile: String?

    public init(address: String, port: Int = 22, user: String? = nil, identityFile: String? = nil) {
        self.address = address
        self.port = port
        self.user = user
        self.identityFile = identityFile
    }
}

public enum ArtifactSource: String, Sendable, Equatable, CaseIterable, Codable {
    /// Upstream release URLs (github.com / dl.k8s.io layouts), checksums verified.
    case upstream
    /// A mirror with the upstream layout under `url`.
    case mirror
    /// A local directory with the upstream layout (air-gapped / lab).
    case local
}

public struct ArtifactSpec: Sendable, Equatable {
    public var source: ArtifactSource
    public var url: String?
    public var directory: String?
    /// Local download cache; nil means `~/.cache/capstan/artifacts`.
    public var cacheDirectory: String?
    /// Hosts fetch verified files from hosts that already hold them, so each file leaves this machine once.
    public var peerTransfer = true

    public init(source: ArtifactSource = .upstream, url: String? = nil, directory: String? = nil, cacheDirectory: String? = nil) {
        self.source = source
        self.url = url
        self.directory = directory
        self.cacheDirectory = cacheDirectory
    }
}

/// `spec.components`: pinned versions of the node runtime (containerd, runc, crictl, CNI plugins).
/// Nil means the default paired with the Kubernetes minor; a pin matters when the artifact source
/// holds other releases (an offline directory, a distribution's packages).
public struct ComponentsSpec: Sendable, Equatable {
    public var containerd: SemanticVersion?
    public var runc: SemanticVersion?
    public var crictl: SemanticVersion?
    public var cni: SemanticVersion?

    public init(containerd: SemanticVersion? = nil, runc: SemanticVersion? = nil, crictl: SemanticVersion? = nil, cni: SemanticVersion? = nil) {
        self.containerd = containerd
        self.runc = runc
        self.crictl = crictl
        self.cni = cni
    }
}

/// `spec.addons`: objects `apply` keeps in the cluster through the API (self-managed clusters).
public struct AddonsSpec: Sendable, Equatable {
    public var dns: DNSAddonSpec
    /// Prometheus scraping the API servers and etcd, node exporters (`capstan addons render` shows the manifests).
    public var monitoring: Bool

    public init(dns: DNSAddonSpec = DNSAddonSpec(), monitoring: Bool = false) {
        self.dns = dns
        self.monitoring = monitoring
    }
}

/// Cluster DNS (CoreDNS) at the service address kubelets hand to pods (the 10th of the service CIDR).
public struct DNSAddonSpec: Sendable, Equatable {
    public var enabled: Bool
    /// Nil: the CoreDNS image kubeadm pairs with the Kubernetes minor (`SupportedVersions.coreDNSImage`).
    public var image: String?
    public var replicas: Int
    /// Where names outside the cluster domain go: addresses (`1.1.1.1`, `10.0.0.2:53`) or a resolv.conf path.
    public var upstreams: [String]

    public init(enabled: Bool = true, image: String? = nil, replicas: Int = 2, upstreams: [String] = ["/etc/resolv.conf"]) {
        self.enabled = enabled
        self.image = image
        self.replicas = replicas
        self.upstreams = upstreams
    }
}

/// `spec.concurrency`: how many hosts a phase that works on hosts in parallel changes at once, overall and
/// per phase. Connections to one sshd or bastion are bounded separately (its MaxStartups), whatever these say.
public struct ConcurrencySpec: Sendable, Equatable {
    /// What a phase uses when the inventory sets nothing (the engine's `FanOut.defaultLimit`).
    public static let defaultHosts = 30
    public static let maximum = 1000
    /// Nil: not set, each phase keeps its own bound.
    public var hosts: Int?
    /// By phase name. The parser takes any name; the names and whether the phase takes a setting are checked
    /// against the phases themselves (`ClusterPhases.concurrencyProblems` in Workflows).
    public var phases: [String: Int] = [:]
    /// Where each of `phases` is written in the inventory file.
    public var places: [String: Place] = [:]

    /// Where the phase's name and its count are written.
    public struct Place: Sendable, Equatable {
        public var key: SourcePlace
        public var value: SourcePlace
    }

    public init(hosts: Int? = nil, phases: [String: Int] = [:]) {
        self.hosts = hosts
        self.phases = phases
    }

    /// Hosts at once for the phase named `phase` as the inventory sets it: its own setting, else `hosts`;
    /// nil when neither is set.
    public func limit(for phase: String) -> Int? {
        phases[phase] ?? hosts
    }
}

public struct UpgradeSpec: Sendable, Equatable {
    /// Workers upgraded at once: an absolute count or a percentage (default 10%, at least 1).
    public var maxUnavailable: MaxUnavailable
    public var drainTimeout: TimeSpan

    public init(maxUnavailable: MaxUnavailable = .percent(10), drainTimeout: TimeSpan = TimeSpan(seconds: 300)) {
        self.maxUnavailable = maxUnavailable
        self.drainTimeout = drainTimeout
    }
}

public enum MaxUnavailable: Sendable, Equatable {
    case count(Int)
    case percent(Int)

    /// Batch size for `workers` nodes: never below 1.
    public func batchSize(workers: Int) -> Int {
        switch self {
        case .count(let n): return max(1, n)
        case .percent(let p): return max(1, workers * p / 100)
        }
    }
}

public struct Taint: Sendable, Equatable, Hashable {
    public enum Effect: String, Sendable, Equatable, Hashable, CaseIterable, Codable {
        case noSchedule = "NoSchedule"
        case preferNoSchedule = "PreferNoSchedule"
        case noExecute = "NoExecute"
    }
    public var key: String
    public var value: String?
    public var effect: Effect

    public init(key: String, value: String? = nil, effect: Effect) {
        self.key = key
        self.value = value
        self.effect = effect
    }
}

public struct HostSpec: Sendable, Equatable {
    public var name: String
    /// Address Capstan connects to over SSH (IP or DNS name).
    public var address: String
    /// Address cluster traffic uses (etcd peers, API server advertise); nil means `address`.
    public var internalAddress: String?
    public var roles: Set<Role>
    public var ssh: SSHSpec?
    public var labels: [String: String]
    public var taints: [Taint]

    public init(name: String, address: String, internalAddress: String? = nil, roles: Set<Role>, ssh: SSHSpec? = nil, labels: [String: String] = [:], taints: [Taint] = []) {
        self.name = name
        self.address = address
        self.internalAddress = internalAddress
        self.roles = roles
        self.ssh = ssh
        self.labels = labels
        self.taints = taints
    }

    public var clusterAddress: String { internalAddress ?? address }
    public func has(_ role: Role) -> Bool { roles.contains(role) }
}
