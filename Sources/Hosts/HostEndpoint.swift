/// Everything needed to open a connection to one host. Built by the composition root from the
/// inventory (declared `HostSpec` + SSH defaults); the Hosts layer knows nothing of inventories.
public struct HostEndpoint: Sendable, Equatable, Hashable {
    public enum KnownHostsPolicy: String, Sendable, Equatable, Hashable {
        case strict
        case acceptNew = "accept-new"
    }

    public enum Authentication: Sendable, Equatable, Hashable {
        /// A private key file; the passphrase comes from `passphraseEnv` (or a prompt on a terminal).
        case privateKey(path: String, passphraseEnv: String?)
        /// The ssh-agent at SSH_AUTH_SOCK.
        case agent
        /// Password from the named environment variable; only when the inventory asks for it.
        case password(env: String)
    }

    public struct Jump: Sendable, Equatable, Hashable {
        public var address: String
        public var port: Int
        public var user: String
        public var authentication: [Authentication]

        public init(address: String, port: Int = 22, user: String, authentication: [Authentication]) {
            self.address = address
            self.port = port
            self.user = user
            self.authentication = authentication
        }
    }

    /// Name used in messages and output prefixes (the inventory host name).
    public var name: String
    public var address: String
    public var port: Int
    public var user: String
    /// Tried in order until one succeeds.
    public var authentication: [Authentication]
    public var knownHostsFile: String
    public var knownHostsPolicy: KnownHostsPolicy
    public var bastion: Jump?
    /// Run privileged commands through `sudo -n`.
    public var become: Bool
    public var connectTimeoutSeconds: Double

    public init(
        name: String, address: String, port: Int = 22, user: String = "root",
        authentication: [Authentication], knownHostsFile: String,
        knownHostsPolicy: KnownHostsPolicy = .strict, bastion: Jump? = nil, become: Bool = false,
        connectTimeoutSeconds: Double = 10
    ) {
        self.name = name
        self.address = address
        self.port = port
        self.user = user
        self.authentication = authentication
        self.knownHostsFile = knownHostsFile
        self.knownHostsPolicy = knownHostsPolicy
        self.bastion = bastion
        self.become = become
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }
}
