/// Context of every template in `addons/monitoring/`: Prometheus, its RBAC and scrape configuration,
/// node exporters, and (self-managed clusters only) the etcd client-certificate Secret.
public struct MonitoringContext: Codable, Sendable, Equatable {
    /// Scraping etcd over its client URLs with a client certificate kept in a Secret.
    public struct Etcd: Codable, Sendable, Equatable {
        public struct Member: Codable, Sendable, Equatable {
            public var name: String
            /// `address:2379` (IPv6 in brackets).
            public var target: String
            public init(name: String, target: String) {
                self.name = name
                self.target = target
            }
        }

        public var members: [Member]
        public var secretName: String
        /// Where the Secret is mounted in the Prometheus pod.
        public var certDirectory: String
        /// Which certificate the Secret carries, e.g. `etcd/healthcheck-client of h1`; said in the manifest.
        public var clientCertificate: String
        /// etcd's own plain-http metrics listener, named to explain why it is not the scrape target.
        public var localMetricsURL: String
        public var caCertificateBase64: String
        public var certificateBase64: String
        public var keyBase64: String

        public init(
            members: [Member], clientCertificate: String, caCertificateBase64: String, certificateBase64: String,
            keyBase64: String, secretName: String = "etcd-client", certDirectory: String = "/etc/prometheus/secrets/etcd-client",
            localMetricsURL: String = "http://127.0.0.1:2381"
        ) {
            self.members = members
            self.secretName = secretName
            self.certDirectory = certDirectory
            self.clientCertificate = clientCertificate
            self.localMetricsURL = localMetricsURL
            self.caCertificateBase64 = caCertificateBase64
            self.certificateBase64 = certificateBase64
            self.keyBase64 = keyBase64
        }
    }

    /// The add-on's images (Prometheus, node exporter): the manifests' defaults and what air-gapped nodes import.
    public static let images = ["prom/prometheus:v2.53.1", "prom/node-exporter:v1.8.2"]

    public var clusterName: String
    public var namespace: String
    public var prometheusImage: String
    public var nodeExporterImage: String
    public var nodeExporterPort: Int
    public var scrapeInterval: String
    public var retention: String
    public var textfileDirectory: String
    /// Nil when etcd is not scraped (a managed control plane); `etcdOmission` then says why.
    public var etcd: Etcd?
    public var etcdOmission: String?
    /// SHA-256 of the rendered configuration ConfigMap, so a changed configuration rolls the Deployment.
    public var configSHA256: String

    public init(
        clusterName: String, etcd: Etcd?, etcdOmission: String? = nil, namespace: String = "monitoring",
        prometheusImage: String = MonitoringContext.images[0], nodeExporterImage: String = MonitoringContext.images[1],
        nodeExporterPort: Int = 9100, scrapeInterval: String = "30s", retention: String = "15d",
        textfileDirectory: String = "/var/lib/node_exporter/textfile_collector", configSHA256: String = ""
    ) {
        self.clusterName = clusterName
        self.namespace = namespace
        self.prometheusImage = prometheusImage
        self.nodeExporterImage = nodeExporterImage
        self.nodeExporterPort = nodeExporterPort
        self.scrapeInterval = scrapeInterval
        self.retention = retention
        self.textfileDirectory = textfileDirectory
        self.etcd = etcd
        self.etcdOmission = etcdOmission
        self.configSHA256 = configSHA256
    }
}
