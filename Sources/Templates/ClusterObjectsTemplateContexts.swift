/// Context of the templates in `addons/cluster/`: the bootstrap RBAC and cluster DNS.
public struct ClusterObjectsContext: Codable, Sendable, Equatable {
    public var clusterName: String
    /// The Service address of cluster DNS: the 10th address of the service CIDR, as kubelets are told.
    public var dnsIP: String
    public var clusterDomain: String
    /// CoreDNS `forward` targets, space-separated.
    public var upstreams: String
    public var replicas: Int
    public var image: String
    /// SHA-256 of the Corefile as rendered: a pod template annotation, so a changed Corefile rolls the pods.
    public var corefileSHA256: String

    public init(clusterName: String, dnsIP: String, clusterDomain: String, upstreams: String, replicas: Int, image: String, corefileSHA256: String = "") {
        self.clusterName = clusterName
        self.dnsIP = dnsIP
        self.clusterDomain = clusterDomain
        self.upstreams = upstreams
        self.replicas = replicas
        self.image = image
        self.corefileSHA256 = corefileSHA256
    }
}
