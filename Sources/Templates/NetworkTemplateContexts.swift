/// Context of the `network/` templates: one node's bridge CNI configuration, its routes file, the
/// script that applies that file and the oneshot unit that runs the script at boot.
public struct PodNetworkContext: Codable, Sendable, Equatable {
    public struct Route: Codable, Sendable, Equatable {
        /// The other node's pod subnet.
        public var subnet: String
        /// The other node's cluster address.
        public var via: String
        public var node: String

        public init(subnet: String, via: String, node: String) {
            self.subnet = subnet
            self.via = via
            self.node = node
        }
    }

    public var clusterName: String
    public var nodeName: String
    public var networkName: String
    public var bridge: String
    /// This node's pod subnet and its first address (the bridge's, the pods' gateway).
    public var subnet: String
    public var gateway: String
    public var podCIDR: String
    public var routes: [Route]
    public var configFile: String
    public var scriptPath: String
    public var unit: String
    /// The route protocol number that marks Capstan's routes (`ip route … proto N`).
    public var routeProtocol: Int

    public init(
        clusterName: String, nodeName: String, subnet: String, gateway: String, podCIDR: String, routes: [Route],
        networkName: String = "capstan", bridge: String = "cni0", configFile: String = "/etc/capstan/pod-network.conf",
        scriptPath: String = "/usr/local/lib/capstan/pod-network.sh", unit: String = "capstan-pod-network.service", routeProtocol: Int = 211
    ) {
        self.clusterName = clusterName
        self.nodeName = nodeName
        self.networkName = networkName
        self.bridge = bridge
        self.subnet = subnet
        self.gateway = gateway
        self.podCIDR = podCIDR
        self.routes = routes
        self.configFile = configFile
        self.scriptPath = scriptPath
        self.unit = unit
        self.routeProtocol = routeProtocol
    }
}
