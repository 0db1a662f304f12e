/// Every key an inventory may hold, by dotted path, with its type, default, an example and what it does.
///
/// The parser takes its allowed keys (`keys(under:)`) and required keys (`requiredKeys(under:)`) from this
/// table, so a key cannot be accepted without being documented here; `capstan explain` and `docs/inventory.md`
/// are rendered from it. Paths write list items as `[]` (`spec.hosts[].address`) and the user-chosen keys of
/// a mapping as `<key>` (`spec.hosts[].labels.<key>`). Children are listed in the order the parser names them,
/// which is also the order of its "expected one of" messages.
public enum InventorySchema {
    public static let keys: [InventoryKey] = root + spec + controlPlane + network + etcd + pki
        + ssh(under: "spec.ssh", perHost: false) + artifacts + components + containerRuntime + extraArgs + componentConfig + upgrade + concurrency + addons + hosts

    /// The key at `path` (exact schema form, e.g. `spec.hosts[].ssh.port`).
    public static func key(_ path: String) -> InventoryKey? { byPath[path] }

    /// Names of the keys a mapping at `path` allows, in table order. `path` may name list items by index
    /// (`spec.hosts[2].ssh`) or as `[]`; the top level is "".
    public static func keys(under path: String) -> [String] { children(of: schemaPath(path)).map(\.name) }

    /// Names of the keys a mapping at `path` must have.
    public static func requiredKeys(under path: String) -> [String] {
        children(of: schemaPath(path)).filter { $0.defaultValue == .required }.map(\.name)
    }

    /// The keys directly inside the value at `path`: for a list of mappings, the keys of its items.
    public static func children(of path: String) -> [InventoryKey] {
        let inner = key(path).map(\.containerPath) ?? path
        return childrenByParent[inner] ?? []
    }

    /// `spec.hosts[3].ssh` → `spec.hosts[].ssh`: list indices become `[]`.
    public static func schemaPath(_ path: String) -> String {
        var out = ""
        var inBrackets = false
        for ch in path {
            if ch == "[" { inBrackets = true; out += "[]"; continue }
            if ch == "]" { inBrackets = false; continue }
            if !inBrackets { out.append(ch) }
        }
        return out
    }

    private static let byPath: [String: InventoryKey] = Dictionary(keys.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
    private static let childrenByParent: [String: [InventoryKey]] = Dictionary(grouping: keys, by: \.parentPath)
}

/// One inventory key: where it sits, what it holds, what it means.
public struct InventoryKey: Sendable, Equatable {
    /// Dotted path with `[]` for list items and `<key>` for user-chosen names.
    public var path: String
    public var type: InventoryValueType
    public var defaultValue: InventoryDefault
    /// A value as it would be written in YAML after `key: ` (flow style for mappings and lists).
    public var example: String
    /// One to three sentences: what the key does.
    public var summary: String

    public init(_ path: String, _ type: InventoryValueType, _ defaultValue: InventoryDefault, example: String, _ summary: String) {
        self.path = path
        self.type = type
        self.defaultValue = defaultValue
        self.example = example
        self.summary = summary
    }

    /// The last path component (`address` for `spec.hosts[].address`).
    public var name: String {
        guard let dot = path.lastIndex(of: ".") else { return path }
        return String(path[path.index(after: dot)...])
    }

    /// The path of the mapping that holds this key (`spec.hosts[]` for `spec.hosts[].address`, "" at the top).
    public var parentPath: String {
        guard let dot = path.lastIndex(of: ".") else { return "" }
        return String(path[..<dot])
    }

    /// Where this key's own children sit: `spec.hosts[]` for the list `spec.hosts`, else the path itself.
    public var containerPath: String {
        if case .list = type { return path + "[]" }
        return path
    }

    /// The key's first sentence, for one-line listings.
    public var headline: String {
        guard let end = summary.range(of: ". ") else { return summary }
        return String(summary[..<end.lowerBound]) + "."
    }
}

public indirect enum InventoryValueType: Sendable, Equatable, CustomStringConvertible {
    case string, integer, boolean, duration, version, mapping
    /// One of these words.
    case oneOf([String])
    /// A count (`2`) or a percentage (`"25%"`).
    case countOrPercent
    case list(InventoryValueType)
    /// A mapping whose keys the user chooses (label keys).
    case names(InventoryValueType)
    /// A field of a component's configuration file, of the type that file gives it (`KubeletConfiguration field`).
    case field(String)

    public var description: String {
        switch self {
        case .string: return "string"
        case .integer: return "integer"
        case .boolean: return "boolean"
        case .duration: return "duration"
        case .version: return "version"
        case .mapping: return "mapping"
        case .oneOf(let values): return "enum: " + values.joined(separator: " | ")
        case .countOrPercent: return "integer or percentage"
        case .list(let item): return "list of " + item.plural
        case .names(let value): return "mapping of names to " + value.plural
        case .field(let what): return what
        }
    }

    private var plural: String {
        switch self {
        case .oneOf(let values): return "enum values (" + values.joined(separator: " | ") + ")"
        case .countOrPercent: return "counts or percentages"
        case .string, .integer, .boolean, .duration, .version, .mapping, .list, .names, .field: return description + "s"
        }
    }

    /// The enum values, when the type is an enum or a list of them.
    public var values: [String]? {
        switch self {
        case .oneOf(let values): return values
        case .list(let item): return item.values
        default: return nil
        }
    }

    static func of<E: CaseIterable & RawRepresentable>(_: E.Type) -> InventoryValueType where E.RawValue == String {
        .oneOf(E.allCases.map(\.rawValue))
    }
}

public enum InventoryDefault: Sendable, Equatable, CustomStringConvertible {
    /// The parser reports a missing value.
    case required
    /// Unset means the feature is off or the value is absent.
    case none
    /// A literal value, as written in YAML.
    case value(String)
    /// Worked out from other settings; the text says how.
    case derived(String)

    public var description: String {
        switch self {
        case .required: return "required"
        case .none: return "none"
        case .value(let v): return v
        case .derived(let text): return text
        }
    }
}

// MARK: the table

extension InventorySchema {
    private typealias K = InventoryKey

    private static let root: [K] = [
        K("apiVersion", .string, .required, example: Inventory.apiVersion,
          "The inventory format. This capstan reads \(Inventory.apiVersion) only."),
        K("kind", .string, .required, example: Inventory.kind,
          "Always \(Inventory.kind)."),
        K("metadata", .mapping, .required, example: "{name: prod-eu1}",
          "Identifies the cluster."),
        K("metadata.name", .string, .required, example: "prod-eu1",
          "The cluster's name: a DNS label (1-63 lowercase letters, digits and '-'). It names the state directory (.capstan/<name>/ beside the inventory) and the cluster's backups."),
        K("spec", .mapping, .required, example: "{kubernetesVersion: v1.31.4, hosts: [{name: cp1, address: 10.0.10.11, roles: [control-plane, etcd, worker]}]}",
          "The desired cluster: versions, control plane, network, etcd, PKI, SSH settings, artifacts, add-ons and hosts."),
    ]

    private static let spec: [K] = [
        K("spec.kubernetesVersion", .version, .required, example: "v1.31.4",
          "The Kubernetes release to install (MAJOR.MINOR.PATCH, with or without a leading v), within \(SupportedVersions.kubernetesWindow). It also picks the default etcd, runtime component and CoreDNS versions. `apply` never changes an installed version; `capstan upgrade` does."),
        K("spec.controlPlane", .mapping, .derived("self-managed; the API at the first control-plane host"), example: "{mode: self-managed, endpoint: 10.0.10.10:6443, loadBalancer: vip}",
          "Who runs the control plane, and how nodes and clients reach the API servers."),
        K("spec.network", .mapping, .derived("the defaults of its keys"), example: "{serviceCIDR: 10.96.0.0/12, podCIDR: 10.244.0.0/16}",
          "The cluster's address ranges, DNS domain and pod network."),
        K("spec.etcd", .mapping, .derived("stacked etcd paired with kubernetesVersion, no scheduled backups"), example: "{version: 3.5.15, topology: stacked}",
          "The etcd cluster of a self-managed cluster, and its backups. Not allowed in a managed cluster, whose provider runs etcd."),
        K("spec.pki", .mapping, .derived("ECDSA P-256 keys, CAs for 3650d, leaves for 365d"), example: "{keyAlgorithm: ecdsa-p256, leafValidity: 365d}",
          "How Capstan makes the cluster's certificates. Ignored (with a warning) in a managed cluster, whose provider owns the cluster CA."),
        K("spec.ssh", .mapping, .derived("root on port 22 with the SSH agent, host keys checked against ~/.ssh/known_hosts"), example: "{user: capstan, become: true}",
          "How Capstan reaches every host over SSH. A host's own ssh mapping overrides these settings key by key."),
        K("spec.artifacts", .mapping, .derived("upstream release URLs"), example: "{source: mirror, url: https://mirror.example.com/kubernetes}",
          "Where release files and container image archives come from. Capstan downloads them on this machine, verifies their checksums and pushes them to the hosts, so hosts need no internet."),
        K("spec.components", .mapping, .derived("the versions paired with kubernetesVersion"), example: "{containerd: 1.7.22}",
          "Pinned versions of the node runtime. A pin matters when the artifact source holds other releases than the defaults (an offline directory, a distribution's packages)."),
        K("spec.containerRuntime", .mapping, .none, example: "{registries: [{host: registry.k8s.io, mirrors: [https://mirror.example.com:5000]}]}",
          "How containerd on the nodes reaches image registries."),
        K("spec.extraArgs", .mapping, .none, example: "{kube-apiserver: {audit-log-maxage: 7}}",
          "Flags added to a component's command line, or replacing one of Capstan's policy defaults (`capstan plan` lists both). Each is checked against that binary's flag table for kubernetesVersion's minor: a misspelt, removed or malformed flag is an error here, a deprecated one a warning. Flags Capstan derives from the inventory or its PKI (certificates, addresses, CIDRs) cannot be replaced; the error says which key sets them."),
        K("spec.componentConfig", .mapping, .none, example: "{kubelet: {maxPods: 150}, kube-proxy: {conntrack: {tcpEstablishedTimeout: 2h}}}",
          "Fields merged into the kubelet's and kube-proxy's configuration files (mappings merge key by key; a value or a list replaces Capstan's). Each field is checked against the file's Go type for kubernetesVersion's minor, as the binary's strict decoding checks it: an unknown field or a value of the wrong kind is an error here. Fields Capstan derives from the inventory or its PKI cannot be replaced; the error says which key sets them. `capstan plan` lists every value with the one it replaces."),
        K("spec.upgrade", .mapping, .derived("10% of the workers at a time, 5m drain timeout"), example: "{maxUnavailable: 1, drainTimeout: 10m}",
          "How `capstan upgrade apply` moves the workers."),
        K("spec.concurrency", .mapping, .derived("\(ConcurrencySpec.defaultHosts) hosts at once in every phase"), example: "{hosts: 50, phases: {node-runtime: 10}}",
          "How many hosts a phase that works on hosts in parallel changes at once. Connections to one sshd or bastion are bounded by its MaxStartups regardless."),
        K("spec.addons", .mapping, .derived("cluster DNS on, monitoring off"), example: "{dns: {replicas: 2}, monitoring: {enabled: false}}",
          "Objects `apply` keeps in a self-managed cluster through the API, besides the RBAC bindings Capstan's certificates need."),
        K("spec.hosts", .list(.mapping), .required, example: "[{name: cp1, address: 10.0.10.11, roles: [control-plane, etcd, worker]}]",
          "The machines of the cluster and their roles (at least one). Capstan never edits this list: to add or remove a host, change it, then run `capstan node add` or `capstan node remove`."),
    ]

    private static let controlPlane: [K] = [
        K("spec.controlPlane.mode", .of(ControlPlaneMode.self), .value("self-managed"), example: "managed",
          "self-managed: Capstan runs etcd, the API servers and the PKI on the hosts. managed: a provider (EKS, GKE, AKS, …) runs them, and Capstan joins and maintains worker hosts only; set controlPlane.managed."),
        K("spec.controlPlane.endpoint", .string, .derived("the first control-plane host's address, port 6443"), example: "10.0.10.10:6443",
          "HOST or HOST:PORT where clients reach the API: your load balancer or VIP, or the address keepalived holds with loadBalancer: vip. Capstan's kubeconfigs point here and the API server certificate names it."),
        K("spec.controlPlane.extraSANs", .list(.string), .none, example: "[api.prod-eu1.example.com]",
          "Additional IP addresses or DNS names (wildcards such as *.example.com allowed) in the API server certificate."),
        K("spec.controlPlane.managed", .mapping, .none, example: "{provider: eks, apiEndpoint: https://ABCD.gr7.eu-west-1.eks.amazonaws.com, caFile: eks-ca.crt, joinCredentials: {bootstrapTokenFile: join-token}}",
          "The provider's control plane that the worker hosts join. Only with mode: managed, where it is required."),
        K("spec.controlPlane.loadBalancer", .of(LoadBalancerMode.self), .derived("external with an endpoint; without one node-local for several control-plane hosts, none for one"), example: "vip",
          "How kubelets, kube-proxies and outside clients reach the API servers. node-local: haproxy on 127.0.0.1 of every node without an API server, health-checking every API server; vip: node-local plus a keepalived virtual IP at endpoint on the control-plane hosts; external: your balancer at endpoint; none: the single control-plane host directly."),
        K("spec.controlPlane.localBalancerPort", .integer, .value("6443"), example: "7443",
          "Port (1-65535) the node-local haproxy listens on at 127.0.0.1; only with loadBalancer node-local or vip. At 6443 a control-plane host uses its own API server; another port runs the balancer on the control-plane hosts too."),
        K("spec.controlPlane.vip", .mapping, .none, example: "{interface: eth0, virtualRouterId: 51}",
          "keepalived settings for loadBalancer: vip; the virtual address is endpoint's host. Only with loadBalancer: vip."),
        K("spec.controlPlane.vip.interface", .string, .derived("the interface of the host's route to the address"), example: "eth0",
          "Network interface that carries the virtual IP on the control-plane hosts (at most 15 characters)."),
        K("spec.controlPlane.vip.virtualRouterId", .integer, .value(String(VIPSpec.defaultVirtualRouterID)), example: "51",
          "VRRP virtual router id (1-255); it must be unique among the VRRP routers on the network segment."),
        K("spec.controlPlane.podSecurity", .mapping, .derived("none: Kubernetes' own defaults, privileged everywhere"), example: "{enforce: baseline, audit: restricted, warn: restricted}",
          "Cluster-wide defaults of the PodSecurity admission plugin, written into an AdmissionConfiguration on every API server (self-managed). A namespace's pod-security.kubernetes.io labels override them; Capstan's monitoring namespace is labelled privileged (its node exporter uses the host's namespaces)."),
        K("spec.controlPlane.podSecurity.enforce", .of(PodSecurityLevel.self), .value("baseline"), example: "restricted",
          "Pods that break this level are refused."),
        K("spec.controlPlane.podSecurity.audit", .of(PodSecurityLevel.self), .value("restricted"), example: "baseline",
          "Pods that break this level are marked in the audit log."),
        K("spec.controlPlane.podSecurity.warn", .of(PodSecurityLevel.self), .value("restricted"), example: "baseline",
          "Pods that break this level are admitted with a warning to the client."),
        K("spec.controlPlane.podSecurity.version", .string, .value("latest"), example: "v1.31",
          "Which release's Pod Security Standards the levels mean: latest, or v1.<minor> no newer than kubernetesVersion."),
        K("spec.controlPlane.podSecurity.exemptNamespaces", .list(.string), .value("[kube-system]"), example: "[kube-system, ingress]",
          "Namespaces whose pods the plugin never checks."),
        K("spec.controlPlane.podSecurity.exemptUsernames", .list(.string), .value("[]"), example: "[\"system:serviceaccount:ci:deployer\"]",
          "Users whose requests the plugin never checks (the requesting user, not a controller acting for them)."),
        K("spec.controlPlane.podSecurity.exemptRuntimeClasses", .list(.string), .value("[]"), example: "[kata]",
          "RuntimeClasses whose pods the plugin never checks."),
        K("spec.controlPlane.oidc", .mapping, .none, example: "{issuerURL: https://sso.example.com/realms/ops, clientID: kubernetes, groupsClaim: groups}",
          "An OpenID Connect issuer whose ID tokens every API server accepts (self-managed), written as the API servers' --oidc-* flags. Bind the users and groups it names with RBAC."),
        K("spec.controlPlane.oidc.issuerURL", .string, .required, example: "https://sso.example.com/realms/ops",
          "The issuer's https:// URL, exactly as the tokens' iss claim writes it."),
        K("spec.controlPlane.oidc.clientID", .string, .required, example: "kubernetes",
          "The client ID the tokens must be issued for (their aud claim)."),
        K("spec.controlPlane.oidc.usernameClaim", .string, .value("sub"), example: "email",
          "The claim that names the user."),
        K("spec.controlPlane.oidc.usernamePrefix", .string, .derived("the issuer URL and # for claims other than email"), example: "\"oidc:\"",
          "Prefix of every user name from this issuer, so they cannot collide with other users (\"-\" for none)."),
        K("spec.controlPlane.oidc.groupsClaim", .string, .none, example: "groups",
          "The claim that lists the user's groups."),
        K("spec.controlPlane.oidc.groupsPrefix", .string, .none, example: "\"oidc:\"",
          "Prefix of every group name from this issuer."),
        K("spec.controlPlane.oidc.caFile", .string, .derived("the control-plane hosts' CA store"), example: "sso-ca.crt",
          "Local PEM file with the CA of the issuer's serving certificate, placed on the control-plane hosts as /etc/kubernetes/pki/oidc-ca.crt."),
        K("spec.controlPlane.managed.provider", .of(ManagedProvider.self), .required, example: "eks",
          "Which provider runs the control plane; messages name it when they explain what it owns."),
        K("spec.controlPlane.managed.apiEndpoint", .string, .required, example: "https://ABCD.gr7.eu-west-1.eks.amazonaws.com",
          "The https:// URL of the provider's API server, which the workers' kubelets and kube-proxies use."),
        K("spec.controlPlane.managed.caFile", .string, .required, example: "eks-ca.crt",
          "PEM file on this machine with the provider's cluster CA, which the workers trust the API server with. Relative paths resolve against the inventory's directory."),
        K("spec.controlPlane.managed.joinCredentials", .mapping, .required, example: "{bootstrapTokenFile: join-token}",
          "How the workers authenticate to join: set exactly one of bootstrapTokenFile or kubeconfigFile."),
        K("spec.controlPlane.managed.joinCredentials.bootstrapTokenFile", .string, .none, example: "join-token",
          "File on this machine holding a bootstrap token (abcdef.0123456789abcdef) the kubelets bootstrap their client certificates with."),
        K("spec.controlPlane.managed.joinCredentials.kubeconfigFile", .string, .none, example: "join.kubeconfig",
          "File on this machine with a kubeconfig whose credentials may create node client certificates; instead of a bootstrap token."),
    ]

    private static let network: [K] = [
        K("spec.network.serviceCIDR", .string, .value(NetworkSpec.defaultServiceCIDR.description), example: "10.96.0.0/12",
          "IPv4 range (/12 to /28) Service cluster IPs come from; the API's Service takes its first address and cluster DNS its 10th. It must not overlap podCIDR or hold host addresses."),
        K("spec.network.podCIDR", .string, .value(NetworkSpec.defaultPodCIDR.description), example: "10.244.0.0/16",
          "IPv4 range pod addresses come from. Each node gets a stable subnet of nodeSubnetSize carved from it, so it must hold one per node."),
        K("spec.network.clusterDomain", .string, .value("cluster.local"), example: "cluster.local",
          "DNS domain of the cluster's Services and pods (the kubelets' clusterDomain and CoreDNS's zone)."),
        K("spec.network.plugin", .of(NetworkPlugin.self), .value("native"), example: "none",
          "native: a bridge CNI configuration on each node and routes to every other node's pod subnet. none: bring your own CNI; Capstan installs no CNI configuration."),
        K("spec.network.nodeSubnetSize", .integer, .value(String(NetworkSpec.defaultNodeSubnetSize)), example: "24",
          "Prefix length (16-28) of each node's pod subnet; 24 gives 254 pods per node."),
    ]

    private static let etcd: [K] = [
        K("spec.etcd.version", .version, .derived("the etcd release kubeadm pairs with kubernetesVersion"), example: "3.5.15",
          "etcd release to install: 3.5.x, or 3.4.23 and later 3.4.x (with a warning) for etcd-only work. `apply` never changes an installed version; `capstan upgrade` does, one member at a time."),
        K("spec.etcd.topology", .of(EtcdTopology.self), .value("stacked"), example: "external",
          "stacked: etcd members run on the control-plane hosts, which need the etcd role too. external: members run on dedicated hosts with the etcd role."),
        K("spec.etcd.dataDir", .string, .value("/var/lib/etcd"), example: "/var/lib/etcd",
          "etcd's data directory on the etcd hosts (an absolute path)."),
        K("spec.etcd.backup", .mapping, .none, example: "{schedule: daily, keep: 14, recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]}",
          "Scheduled etcd snapshots: `apply` and `backup schedule` install a systemd timer on every etcd member that takes, encrypts and ships a snapshot. Without this section no timer is installed."),
        K("spec.etcd.backup.schedule", .string, .value("*-*-* 02:00:00"), example: "\"*-*-* 00/6:00:00\"",
          "When the timer runs: a systemd OnCalendar expression such as 'daily' or 'Mon..Fri 01:30' (check one with systemd-analyze calendar)."),
        K("spec.etcd.backup.randomizedDelay", .duration, .value("10m"), example: "10m",
          "systemd RandomizedDelaySec of the timer: each run starts at a random moment up to this much later."),
        K("spec.etcd.backup.keep", .integer, .value("7"), example: "28",
          "How many of the newest snapshots to keep (at least 1), on the node and, through `backup prune`, in the store."),
        K("spec.etcd.backup.maxAge", .duration, .none, example: "14d",
          "Also drop snapshots older than this when pruning; the newest is always kept."),
        K("spec.etcd.backup.destination", .mapping, .derived("local: <state dir>/backups"), example: "{sftp: {host: backup.example.com, path: /srv/backups/prod-eu1}}",
          "Where snapshots are stored: set exactly one of local, sftp or s3."),
        K("spec.etcd.backup.encryptionKeyFile", .string, .none, example: "secrets/backup.key",
          "File on this machine with a 32-byte key for AES-256-GCM (head -c 32 /dev/urandom > FILE): backups are encrypted with it when no recipients are set, and backups taken with it are verified and restored with it."),
        K("spec.etcd.backup.recipients", .list(.string), .none, example: "[age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]",
          "age X25519 public keys (age1…) the etcd hosts encrypt backups to, so no host holds a key that decrypts one; `capstan backup keygen --output FILE` writes an identity and prints its recipient."),
        K("spec.etcd.backup.identityFile", .string, .none, example: "~/.capstan/backup-identity.txt",
          "The operator's age identity file, read on this machine by `backup verify` and `backup restore` (their --identity overrides it). It never goes to a cluster host."),
        K("spec.etcd.backup.unencrypted", .boolean, .value("false"), example: "true",
          "Explicit opt-out of encryption at rest: snapshots are stored in clear text. Backups need recipients or encryptionKeyFile unless this is true."),
        K("spec.etcd.backup.includePKI", .boolean, .value("true"), example: "false",
          "Also carry the state directory's PKI (encrypted) with the backups, so a restore into an empty site gets the cluster's CAs back."),
        K("spec.etcd.backup.destination.local", .mapping, .none, example: "{path: backups}",
          "A directory on this machine (an empty mapping means <state dir>/backups)."),
        K("spec.etcd.backup.destination.local.path", .string, .derived("<state dir>/backups"), example: "backups",
          "The directory; relative paths resolve against the inventory's directory."),
        K("spec.etcd.backup.destination.sftp", .mapping, .none, example: "{host: backup.example.com, path: /srv/backups/prod-eu1, user: backup-admin}",
          "A directory on a backup host reached over SSH/SFTP. This machine lists, verifies, prunes and restores as user with the cluster's SSH settings; with uploadIdentityFile the etcd hosts' timer uploads there too."),
        K("spec.etcd.backup.destination.sftp.host", .string, .required, example: "backup.example.com",
          "IP address or DNS name of the backup host."),
        K("spec.etcd.backup.destination.sftp.port", .integer, .value("22"), example: "22",
          "SSH port (1-65535) of the backup host."),
        K("spec.etcd.backup.destination.sftp.user", .string, .derived("the cluster's SSH user"), example: "backup-admin",
          "Account this machine uses on the backup host to list, read and delete backups."),
        K("spec.etcd.backup.destination.sftp.path", .string, .required, example: "/srv/backups/prod-eu1",
          "Absolute path of the backup directory on the backup host."),
        K("spec.etcd.backup.destination.sftp.uploadUser", .string, .derived("user"), example: "etcd-upload",
          "The store account the etcd hosts upload as, with uploadIdentityFile (without that key it is not used); its authorized_keys entry on the store should allow uploads only."),
        K("spec.etcd.backup.destination.sftp.uploadIdentityFile", .string, .none, example: "etcd-upload.key",
          "Private key file on this machine for uploadUser, deployed 0600 to the etcd hosts; without it the timer keeps snapshots on the nodes only and `backup sync` pulls them into the store."),
        K("spec.etcd.backup.destination.s3", .mapping, .none, example: "{endpoint: https://s3.example.com, bucket: etcd-backups, credentialsFile: s3-writer.credentials}",
          "An S3-compatible bucket (AWS S3, MinIO, Ceph RGW, …) the etcd hosts write to with write-only credentials."),
        K("spec.etcd.backup.destination.s3.endpoint", .string, .required, example: "https://s3.example.com",
          "https://HOST[:PORT] of the store (http:// for a store on a trusted network), without a path."),
        K("spec.etcd.backup.destination.s3.bucket", .string, .required, example: "etcd-backups",
          "Bucket name (3-63 lowercase letters, digits, '-' and '.'); a name with '.' needs pathStyle: true."),
        K("spec.etcd.backup.destination.s3.prefix", .string, .value("\"\""), example: "prod/etcd/",
          "Prepended to every object name (a '/' is added when missing)."),
        K("spec.etcd.backup.destination.s3.region", .string, .value("us-east-1"), example: "eu-west-1",
          "Region the requests are signed for (AWS Signature V4)."),
        K("spec.etcd.backup.destination.s3.pathStyle", .boolean, .value("false"), example: "true",
          "Address objects as https://ENDPOINT/BUCKET/KEY instead of https://BUCKET.ENDPOINT/KEY."),
        K("spec.etcd.backup.destination.s3.caFile", .string, .derived("the system's CA store"), example: "s3-ca.crt",
          "PEM CA bundle the etcd hosts' curl checks the endpoint's certificate with. Capstan's own requests from this machine use the system's CA store."),
        K("spec.etcd.backup.destination.s3.credentialsFile", .string, .required, example: "s3-writer.credentials",
          "AWS credentials file (aws_access_key_id, aws_secret_access_key) deployed 0600 to the etcd hosts; it needs only write (PutObject) rights."),
        K("spec.etcd.backup.destination.s3.operatorCredentialsFile", .string, .derived("credentialsFile"), example: "s3-admin.credentials",
          "Credentials this machine uses for list, verify, prune and restore (read and delete rights); never deployed to a host."),
        K("spec.etcd.extraArgs", .names(.string), .none, example: "{auto-compaction-mode: periodic, auto-compaction-retention: 1h}",
          "Flags added to every etcd member's command line, by name without dashes. Each is checked against the flags the etcd minor of spec.etcd.version accepts (asked of etcd 3.4.23 and 3.5.1 themselves): a misspelt flag, a flag of the other minor or a malformed boolean, number or duration is an error here. Flags Capstan sets (names, addresses, TLS, data directory, initial cluster) and unsafe ones cannot be set. A change restarts the members one at a time, the leader last, each gated on health."),
        K("spec.etcd.extraArgs.<key>", .string, .none, example: "1h",
          "The flag's value as etcd parses it (true or false for a boolean flag); written --<key>=<value>."),
    ]

    private static let pki: [K] = [
        K("spec.pki.keyAlgorithm", .of(KeyAlgorithm.self), .value("ecdsa-p256"), example: "rsa-2048",
          "Key type of the CAs and certificates Capstan makes."),
        K("spec.pki.caValidity", .duration, .value("3650d"), example: "3650d",
          "Lifetime of the CAs Capstan makes (at least 1h)."),
        K("spec.pki.leafValidity", .duration, .value("365d"), example: "365d",
          "Lifetime of the leaf certificates (at least 1h, at most caValidity); `capstan certs renew` and `certs rotate` renew them."),
        K("spec.pki.externalCA", .mapping, .none, example: "{certFile: ca.crt, keyFile: ca.key}",
          "Your own cluster CA (or intermediate) instead of one Capstan makes. Capstan never rotates it."),
        K("spec.pki.externalCA.certFile", .string, .required, example: "ca.crt",
          "PEM file on this machine with the CA certificate first (then its chain)."),
        K("spec.pki.externalCA.keyFile", .string, .none, example: "ca.key",
          "The CA's unencrypted PEM key on this machine. Without it Capstan writes certificate signing requests for the leaves the cluster CA signs."),
    ]

    /// `spec.ssh` and each host's `ssh`: the same keys; a host's values override the cluster's one by one.
    private static func ssh(under base: String, perHost: Bool) -> [K] {
        func fallback(_ key: String, _ cluster: InventoryDefault) -> InventoryDefault {
            perHost ? .derived("the value of spec.ssh.\(key)") : cluster
        }
        let host = perHost ? "this host" : "every host"
        return [
            K("\(base).user", .string, fallback("user", .value("root")), example: "capstan",
              "Login user on \(host)."),
            K("\(base).port", .integer, fallback("port", .value("22")), example: "2222",
              "SSH port (1-65535) of \(host)."),
            K("\(base).identityFile", .string, fallback("identityFile", .none), example: "~/.ssh/id_ed25519",
              "Private key file on this machine, tried before the agent. Relative paths resolve against the inventory's directory."),
            K("\(base).agent", .boolean, fallback("agent", .value("true")), example: "false",
              "Also authenticate with the keys of the running SSH agent (SSH_AUTH_SOCK)."),
            K("\(base).passwordEnv", .string, fallback("passwordEnv", .none), example: "CAPSTAN_SSH_PASSWORD",
              "Name of an environment variable holding a password, tried after keys. The password itself never goes in the inventory."),
            K("\(base).become", .boolean, fallback("become", .value("false")), example: "true",
              "Run privileged commands through sudo (for a user other than root)."),
            K("\(base).bastion", .mapping, fallback("bastion", .none), example: "{address: bastion.example.com, user: capstan}",
              "A jump host \(perHost ? "this host is" : "the hosts are") reached through (an SSH direct-tcpip tunnel)."),
            K("\(base).knownHosts", .mapping, fallback("knownHosts", .derived("~/.ssh/known_hosts, policy strict")), example: "{file: known_hosts, policy: strict}",
              "Where host keys are checked, and what happens to a host whose key is not there yet."),
            K("\(base).transport", .of(SSHTransportKind.self), fallback("transport", .value("libssh2")), example: "openssh",
              "libssh2: in-process SSH (ed25519 and ECDSA keys, agent, password). openssh: the system ssh client with one multiplexed connection per host, for RSA keys, FIDO keys and ~/.ssh/config; it moves large files faster (libssh2 1.10 encrypts each 16-byte block with a call of its own) and asks for AES-GCM first when this machine's CPU has AES instructions, unless the ssh configuration names its own ciphers. With OpenSSH 8.5 or later, Capstan opens the TCP connection itself (TCP_NODELAY, as ssh sets only once a session starts) and hands it to ssh, unless the ssh configuration reaches the host through a ProxyCommand or ProxyJump, a bind address or more than one connection attempt. libssh2 stays the default because a new connection costs this machine far less CPU (about 5–7 ms against about 105 ms for an ssh client, measured in bench/ssh), which counts across a fleet; `capstan exec` and `capstan copy` take `--transport` to pick one for a run."),
            K("\(base).connectTimeout", .duration, fallback("connectTimeout", .value("10s")), example: "30s",
              "How long to wait when connecting to the host before it counts as unreachable."),
            K("\(base).bastion.address", .string, .required, example: "bastion.example.com",
              "IP address or DNS name of the jump host."),
            K("\(base).bastion.port", .integer, .value("22"), example: "22",
              "SSH port (1-65535) of the jump host."),
            K("\(base).bastion.user", .string, .derived("the SSH user"), example: "jump",
              "Login user on the jump host."),
            K("\(base).bastion.identityFile", .string, .derived("the host's own authentication"), example: "~/.ssh/bastion_ed25519",
              "Private key file on this machine for the jump host (the agent is still tried when it is on). Unset, the jump host gets the same identityFile, agent and passwordEnv as the host."),
            K("\(base).knownHosts.file", .string, .value("~/.ssh/known_hosts"), example: "known_hosts",
              "known_hosts file on this machine; relative paths resolve against the inventory's directory. With policy strict it must exist."),
            K("\(base).knownHosts.policy", .of(KnownHostsPolicy.self), .value("strict"), example: "accept-new",
              "strict: a host whose key is not in the file is refused. accept-new: an unknown key is appended to the file. A changed key is always refused, with both fingerprints."),
        ]
    }

    private static let artifacts: [K] = [
        K("spec.artifacts.source", .of(ArtifactSource.self), .value("upstream"), example: "local",
          "upstream: the projects' release URLs (github.com, dl.k8s.io), checksums verified. mirror: the same layout under url. local: a directory with that layout, for air-gapped sites (`capstan artifacts fetch` fills one)."),
        K("spec.artifacts.url", .string, .none, example: "https://mirror.example.com/kubernetes",
          "Base http(s):// URL of the mirror; only with source: mirror, where it is required."),
        K("spec.artifacts.directory", .string, .none, example: "/srv/capstan-bundle",
          "Directory on this machine with the upstream layout; only with source: local, where it is required."),
        K("spec.artifacts.cacheDirectory", .string, .value("~/.cache/capstan/artifacts"), example: ".capstan-cache",
          "Where downloaded files are kept on this machine, by checksum, so a re-run downloads nothing. Relative paths resolve against the inventory's directory."),
        K("spec.artifacts.peerTransfer", .boolean, .value("true"), example: "false",
          "Each binary and image archive leaves this machine once per run: the first host that needs it gets it over SSH, then serves it to the next hosts (a server of Capstan's, bound to the host's cluster address for the phase, answering only this run's random token; every receiver checks the release checksum before installing), so holders double each round. Needs perl on the hosts (Debian and Ubuntu have it); without it, or when a host cannot reach another, files come from this machine. false: every host gets every file from this machine."),
    ]

    private static let components: [K] = [
        K("spec.components.containerd", .version, .derived("paired with kubernetesVersion"), example: "1.7.22",
          "containerd release for the nodes (1.6.0 or later)."),
        K("spec.components.runc", .version, .derived("paired with kubernetesVersion"), example: "1.1.14",
          "runc release for the nodes (1.1.0 or later)."),
        K("spec.components.crictl", .version, .derived("paired with kubernetesVersion"), example: "1.31.1",
          "crictl release for the nodes."),
        K("spec.components.cni", .version, .derived("paired with kubernetesVersion"), example: "1.5.1",
          "CNI plugins release for the nodes."),
    ]

    private static let containerRuntime: [K] = [
        K("spec.containerRuntime.registries", .list(.mapping), .none, example: "[{host: registry.k8s.io, mirrors: [https://mirror.example.com:5000]}]",
          "Registries containerd reaches differently from the default: mirrors, a CA, credentials. Each becomes /etc/containerd/certs.d/<host>/hosts.toml on the nodes."),
        K("spec.containerRuntime.registries[].host", .string, .required, example: "harbor.example.com:5000",
          "The registry as image names write it: HOST or HOST:PORT, lowercase (registry.k8s.io, docker.io). Each host may appear once."),
        K("spec.containerRuntime.registries[].mirrors", .list(.string), .none, example: "[https://mirror.example.com:5000]",
          "http(s):// base URLs of mirrors, tried in order before the registry itself."),
        K("spec.containerRuntime.registries[].server", .string, .derived("https://<host> (docker.io: https://registry-1.docker.io)"), example: "https://harbor.example.com:5000",
          "The registry's own http(s):// endpoint, tried after the mirrors."),
        K("spec.containerRuntime.registries[].caFile", .string, .none, example: "harbor-ca.crt",
          "PEM CA bundle on this machine that signs the registry's and mirrors' certificates; pushed to the nodes."),
        K("spec.containerRuntime.registries[].skipVerify", .boolean, .value("false"), example: "true",
          "Accept any certificate from the registry and its mirrors (test registries only)."),
        K("spec.containerRuntime.registries[].credentialsFile", .string, .none, example: "harbor.credentials",
          "File on this machine holding one line USERNAME:PASSWORD; placed on the nodes only in containerd's configuration (0600)."),
    ]

    private static let concurrency: [K] = [
        K("spec.concurrency.hosts", .integer, .value(String(ConcurrencySpec.defaultHosts)), example: "50",
          "Hosts worked on at once (1-\(ConcurrencySpec.maximum)) in every phase that works on hosts in parallel, unless the phase has its own setting. Phases that run once for the cluster, and control-plane (one host at a time), are not affected."),
        K("spec.concurrency.phases", .names(.integer), .none, example: "{node-runtime: 10, node-images: 5}",
          "Hosts at once for one phase, by the names `capstan plan` lists; e.g. fewer for node-runtime or node-images where the hosts share a slow disk or link. Only phases that work on hosts in parallel take a setting; `capstan validate` names them when another is set."),
        K("spec.concurrency.phases.<key>", .integer, .none, example: "10",
          "Hosts at once for this phase (1-\(ConcurrencySpec.maximum))."),
    ]

    private static let upgrade: [K] = [
        K("spec.upgrade.maxUnavailable", .countOrPercent, .value("10%"), example: "\"25%\"",
          "How many workers `upgrade apply` cordons, drains and upgrades at once: a count (at least 1) or a percentage of the workers (1%-100%, at least one host)."),
        K("spec.upgrade.drainTimeout", .duration, .value("5m"), example: "10m",
          "How long one worker's drain may take during `upgrade apply` and `upgrade rollback` (their --drain-timeout overrides it). A drain that PodDisruptionBudgets hold longer stops the run, unless --force-drain deletes the pods anyway."),
    ]

    private static let extraArgs: [K] = KubernetesComponent.allCases.flatMap { c -> [K] in
        let example: (flag: String, value: String) = switch c {
        case .apiServer: ("audit-log-maxage", "7")
        case .controllerManager: ("terminated-pod-gc-threshold", "1000")
        case .scheduler: ("v", "2")
        case .kubelet: ("v", "2")
        }
        return [
            K("spec.extraArgs.\(c.rawValue)", .names(.string), .none, example: "{\(example.flag): \(example.value)}",
              "Flags of \(c.rawValue), by name without dashes."),
            K("spec.extraArgs.\(c.rawValue).<key>", .string, .none, example: example.value,
              "The flag's value as the binary parses it (true or false for a boolean flag); written --<key>=<value>."),
        ]
    }

    private static let componentConfig: [K] = [
        K("spec.componentConfig.kubelet", .names(.field("KubeletConfiguration field")), .none, example: "{maxPods: 150, evictionHard: {memory.available: 500Mi}}",
          "Fields of the kubelet's KubeletConfiguration (kubelet.config.k8s.io/v1beta1), as the file spells them."),
        K("spec.componentConfig.kubelet.<key>", .field("KubeletConfiguration field"), .none, example: "150",
          "The field's value, of the type KubeletConfiguration gives it at kubernetesVersion's minor (a mapping for a struct or map field)."),
        K("spec.componentConfig.kube-proxy", .names(.field("KubeProxyConfiguration field")), .none, example: "{conntrack: {tcpEstablishedTimeout: 2h}}",
          "Fields of kube-proxy's KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1), as the file spells them. Ignored in a managed cluster (the provider runs kube-proxy); the mode stays iptables."),
        K("spec.componentConfig.kube-proxy.<key>", .field("KubeProxyConfiguration field"), .none, example: "{tcpEstablishedTimeout: 2h}",
          "The field's value, of the type KubeProxyConfiguration gives it at kubernetesVersion's minor (a mapping for a struct or map field)."),
    ]

    private static let addons: [K] = [
        K("spec.addons.dns", .mapping, .derived("on, 2 replicas, upstreams from /etc/resolv.conf"), example: "{enabled: true, replicas: 2}",
          "Cluster DNS (CoreDNS) at the 10th address of serviceCIDR, which the kubelets hand to pods."),
        K("spec.addons.monitoring", .mapping, .derived("off"), example: "{enabled: true}",
          "Prometheus scraping the API servers and etcd, and node exporters (`capstan addons render` shows the manifests)."),
        K("spec.addons.dns.enabled", .boolean, .value("true"), example: "false",
          "Whether `apply` keeps CoreDNS in the cluster; false removes the objects it applied."),
        K("spec.addons.dns.image", .string, .derived("the CoreDNS image kubeadm pairs with kubernetesVersion"), example: "registry.k8s.io/coredns/coredns:v1.11.3",
          "CoreDNS image reference (REGISTRY/REPOSITORY:TAG or @sha256:DIGEST)."),
        K("spec.addons.dns.replicas", .integer, .value("2"), example: "3",
          "Number of CoreDNS pods (1-20), spread across nodes."),
        K("spec.addons.dns.upstreams", .list(.string), .value("[/etc/resolv.conf]"), example: "[10.0.0.2, 10.0.0.3:53]",
          "Where names outside the cluster domain go: IP addresses (with an optional :port) or an absolute resolv.conf path."),
        K("spec.addons.monitoring.enabled", .boolean, .value("false"), example: "true",
          "Whether `apply` keeps the monitoring add-on in the cluster."),
    ]

    private static let hosts: [K] = [
        K("spec.hosts[].name", .string, .required, example: "cp1",
          "The node's name (lowercase letters, digits, '-' and '.'), unique in the inventory; commands such as `node add` and `--host` take it."),
        K("spec.hosts[].address", .string, .required, example: "10.0.10.11",
          "IP address or DNS name Capstan connects to over SSH. Unique in the inventory."),
        K("spec.hosts[].internalAddress", .string, .derived("address"), example: "192.168.10.11",
          "IP address cluster traffic binds to (etcd peers, the API server's advertise address), when it differs from the SSH address."),
        K("spec.hosts[].roles", .list(.of(Role.self)), .required, example: "[control-plane, etcd]",
          "What the host runs: control-plane (API server, controller manager, scheduler), etcd (an etcd member) and/or worker (kubelet and kube-proxy for workloads)."),
        K("spec.hosts[].ssh", .mapping, .derived("the values of spec.ssh"), example: "{user: admin, port: 2222}",
          "This host's overrides of spec.ssh; keys left out keep the cluster's value."),
        K("spec.hosts[].labels", .names(.string), .none, example: "{topology.kubernetes.io/zone: rack-a}",
          "Kubernetes labels of this host's Node."),
        K("spec.hosts[].labels.<key>", .string, .none, example: "rack-a",
          "A label: the key is a Kubernetes label key (an optional DNS-subdomain prefix and '/', then a name of at most 63 characters); the value at most 63 letters, digits, '-', '_' or '.'."),
        K("spec.hosts[].taints", .list(.mapping), .none, example: "[{key: example.com/gpu, value: \"true\", effect: NoSchedule}]",
          "Kubernetes taints of this host's Node."),
        K("spec.hosts[].taints[].key", .string, .required, example: "example.com/gpu",
          "The taint's key (a Kubernetes label key)."),
        K("spec.hosts[].taints[].value", .string, .none, example: "\"true\"",
          "The taint's value (at most 63 letters, digits, '-', '_' or '.')."),
        K("spec.hosts[].taints[].effect", .of(Taint.Effect.self), .required, example: "NoSchedule",
          "What the taint does to pods that do not tolerate it."),
    ] + ssh(under: "spec.hosts[].ssh", perHost: true)
}
