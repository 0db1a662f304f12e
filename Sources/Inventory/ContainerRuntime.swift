/// `spec.containerRuntime`: how containerd on the nodes reaches registries.
public struct ContainerRuntimeSpec: Sendable, Equatable {
    public var registries: [RegistrySpec]

    public init(registries: [RegistrySpec] = []) {
        self.registries = registries
    }
}

/// One registry as images name it (`registry.k8s.io`, `docker.io`, `harbor.example.com:5000`): the mirrors
/// containerd tries first, the CA that signs them, and credentials (rendered as containerd's
/// `/etc/containerd/certs.d/<host>/hosts.toml` and the CRI plugin's registry auth).
public struct RegistrySpec: Sendable, Equatable {
    /// The registry host (and port) image references name.
    public var host: String
    /// Mirror base URLs (`https://mirror.example.com:5000`), tried in order before the registry itself.
    public var mirrors: [String]
    /// `server`: the registry's own URL; nil means `https://<host>` (docker.io: `https://registry-1.docker.io`).
    public var server: String?
    /// PEM CA bundle (local file) that signs the registry's and mirrors' certificates; pushed to the nodes.
    public var caFile: String?
    /// Accept any certificate from the mirrors and the registry (test registries only).
    public var skipVerify: Bool
    /// A local file holding `USERNAME:PASSWORD`, placed on the nodes only in containerd's config (0600).
    public var credentialsFile: String?

    public init(host: String, mirrors: [String] = [], server: String? = nil, caFile: String? = nil, skipVerify: Bool = false,
                credentialsFile: String? = nil) {
        self.host = host
        self.mirrors = mirrors
        self.server = server
        self.caFile = caFile
        self.skipVerify = skipVerify
        self.credentialsFile = credentialsFile
    }
}
