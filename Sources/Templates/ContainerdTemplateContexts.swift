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
    /// containerd's `config_path`: one directory per registry holding its `hosts.toml`.
    public var registryConfigPath: String
    public var registryAuths: [RegistryAuthContext]

    public static let registryConfigDirectory = "/etc/containerd/certs.d"

    public init(
        clusterName: String, sandboxImage: String, registryAuths: [RegistryAuthContext] = [], binDir: String = "/usr/local/bin",
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
        self.registryConfigPath = Self.registryConfigDirectory
        self.registryAuths = registryAuths
    }
}

/// Registry credentials in containerd's CRI configuration; values already escaped for a TOML basic string.
public struct RegistryAuthContext: Codable, Sendable, Equatable {
    public var host: String
    public var username: String
    public var password: String

    public init(host: String, username: String, password: String) {
        self.host = TOML.basicString(host)
        self.username = TOML.basicString(username)
        self.password = TOML.basicString(password)
    }
}

/// Context of `containerd/hosts.toml`: one registry's mirrors in order, then its own server.
public struct RegistryHostsContext: Codable, Sendable, Equatable {
    public struct Mirror: Codable, Sendable, Equatable {
        public var url: String
    }

    public var clusterName: String
    public var registry: String
    public var server: String
    public var mirrors: [Mirror]
    public var hasCA: Bool
    public var caPath: String
    public var skipVerify: Bool

    public init(clusterName: String, registry: String, server: String, mirrors: [String], caPath: String?, skipVerify: Bool) {
        self.clusterName = clusterName
        self.registry = registry
        self.server = TOML.basicString(server)
        self.mirrors = mirrors.map { Mirror(url: TOML.basicString($0)) }
        self.hasCA = caPath != nil
        self.caPath = caPath ?? ""
        self.skipVerify = skipVerify
    }
}

public enum TOML {
    /// The inside of a TOML basic string ("…"): backslash, quote and control characters escaped.
    public static func basicString(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f: out += String(format: "\\u%04X", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
