/// Context of `containerd/config.toml`, `containerd/containerd.service` and `containerd/crictl.yaml`.
public struct ContainerdContext: Codable, Sendable, Equatable {
    public var clusterName: String
    public var binDir: String
    public var configFile: String
    public var rootDir: String
    public var stateDir: String
    public var socketPath: String
    /// `unix://` URL of `socketPath`, what the kubelet and crictl are given.
    public var runtimeEndpoint: String
    public var sandboxImage: String
    public var runcPath: String
    public var cniBinDir: String
    public var cniConfDir: String

    public init(
        clusterName: String, sandboxImage: String, binDir: String = "/usr/local/bin",
        configFile: String = "/etc/containerd/config.toml", rootDir: String = "/var/lib/containerd",
        stateDir: String = "/run/containerd", socketPath: String = "/run/containerd/containerd.sock",
        runcPath: String = "/usr/local/sbin/runc", cniBinDir: String = "/opt/cni/bin", cniConfDir: String = "/etc/cni/net.d"
    ) {
        self.clusterName = clusterName
        self.binDir = binDir
        self.configFile = configFile
        self.rootDir = rootDir
        self.stateDir = stateDir
        self.socketPath = socketPath
        self.runtimeEndpoint = "unix://" + socketPath
        self.sandboxImage = sandboxImage
        self.runcPath = runcPath
        self.cniBinDir = cniBinDir
        self.cniConfDir = cniConfDir
    }
}
