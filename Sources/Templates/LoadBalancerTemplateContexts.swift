/// Context of `loadbalancer/haproxy.cfg`: the node-local API balancer of one node.
public struct HAProxyContext: Codable, Sendable, Equatable {
    public struct Backend: Codable, Sendable, Equatable {
        /// The control-plane host's name: a DNS name its API server certificate carries (`verifyhost`).
        public var name: String
        public var address: String
        public var port: Int

        public init(name: String, address: String, port: Int = 6443) {
            self.name = name
            self.address = address.contains(":") ? "[\(address)]" : address
            self.port = port
        }
    }

    public var clusterName: String
    public var nodeName: String
    public var port: Int
    public var backends: [Backend]
    public var caFile: String
    /// Health-check interval: two failed checks mark an API server down, so failover takes at most 2× this.
    public var checkIntervalMs: Int
    public var statsSocket: String

    public static let defaultStatsSocket = "/run/capstan-haproxy-stats.sock"

    public init(clusterName: String, nodeName: String, port: Int, backends: [Backend],
                caFile: String = "/etc/kubernetes/pki/ca.crt", checkIntervalMs: Int = 500,
                statsSocket: String = HAProxyContext.defaultStatsSocket) {
        self.clusterName = clusterName
        self.nodeName = nodeName
        self.port = port
        self.backends = backends
        self.caFile = caFile
        self.checkIntervalMs = checkIntervalMs
        self.statsSocket = statsSocket
    }
}

/// Context of `loadbalancer/keepalived.conf`: one control-plane host's part of the API virtual IP.
public struct KeepalivedContext: Codable, Sendable, Equatable {
    public var clusterName: String
    public var nodeName: String
    /// The virtual IP (the endpoint's address).
    public var address: String
    public var interface: String
    public var virtualRouterID: Int
    /// Higher wins an election; only the first election, since no host preempts.
    public var priority: Int
    /// This host's own address, the source of its adverts.
    public var sourceAddress: String
    /// The other control-plane hosts' addresses.
    public var peers: [String]
    public var caFile: String
    public var apiServerPort: Int

    public init(clusterName: String, nodeName: String, address: String, interface: String, virtualRouterID: Int, priority: Int,
                sourceAddress: String, peers: [String], caFile: String = "/etc/kubernetes/pki/ca.crt", apiServerPort: Int = 6443) {
        self.clusterName = clusterName
        self.nodeName = nodeName
        self.address = address
        self.interface = interface
        self.virtualRouterID = virtualRouterID
        self.priority = priority
        self.sourceAddress = sourceAddress
        self.peers = peers
        self.caFile = caFile
        self.apiServerPort = apiServerPort
    }
}
