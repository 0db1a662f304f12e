/// Context of `etcd/etcd.service` and `etcd/etcd.env`: one etcd member.
public struct EtcdMemberContext: Codable, Sendable, Equatable {
    public var clusterName: String
    public var name: String
    public var user: String
    public var group: String
    public var binDir: String
    public var dataDir: String
    public var pkiDir: String
    /// Comma-separated, e.g. `https://10.0.0.1:2379,https://127.0.0.1:2379`.
    public var listenClientURLs: String
    public var advertiseClientURL: String
    public var listenPeerURLs: String
    public var advertisePeerURL: String
    public var metricsURL: String
    public var snapshotCount: Int
    public var quotaBackendBytes: Int
    public var limitNOFILE: Int
    public var startTimeoutSeconds: Int
    public var extraFlags: [String]
    public var initialEnvironmentFile: String
    /// `name=https://ip:2380,…` of the members the new member starts with.
    public var initialCluster: String
    /// `new` when bootstrapping a cluster, `existing` when joining one.
    public var initialClusterState: String
    public var initialClusterToken: String

    /// Capstan's `--snapshot-count` and `--quota-backend-bytes` (`spec.etcd.extraArgs` may replace them).
    public static let defaultSnapshotCount = 10000
    public static let defaultQuotaBackendBytes = 8 * 1024 * 1024 * 1024

    public init(
        clusterName: String, name: String, address: String,
        initialCluster: String, initialClusterState: String, initialClusterToken: String,
        user: String = "etcd", group: String = "etcd", binDir: String = "/usr/local/bin",
        dataDir: String = "/var/lib/etcd", pkiDir: String = "/etc/kubernetes/pki/etcd",
        metricsURL: String = "http://127.0.0.1:2381", snapshotCount: Int = EtcdMemberContext.defaultSnapshotCount,
        quotaBackendBytes: Int = EtcdMemberContext.defaultQuotaBackendBytes, limitNOFILE: Int = 65536, startTimeoutSeconds: Int = 120,
        extraFlags: [String] = [], initialEnvironmentFile: String = "/etc/etcd/etcd.env"
    ) {
        let host = address.contains(":") ? "[\(address)]" : address
        self.clusterName = clusterName
        self.name = name
        self.user = user
        self.group = group
        self.binDir = binDir
        self.dataDir = dataDir
        self.pkiDir = pkiDir
        self.listenClientURLs = "https://\(host):2379,https://127.0.0.1:2379"
        self.advertiseClientURL = "https://\(host):2379"
        self.listenPeerURLs = "https://\(host):2380"
        self.advertisePeerURL = "https://\(host):2380"
        self.metricsURL = metricsURL
        self.snapshotCount = snapshotCount
        self.quotaBackendBytes = quotaBackendBytes
        self.limitNOFILE = limitNOFILE
        self.startTimeoutSeconds = startTimeoutSeconds
        self.extraFlags = extraFlags
        self.initialEnvironmentFile = initialEnvironmentFile
        self.initialCluster = initialCluster
        self.initialClusterState = initialClusterState
        self.initialClusterToken = initialClusterToken
    }
}

/// Context of `etcd/etcd-backup.{service,timer,sh}` on one member.
public struct EtcdBackupContext: Codable, Sendable, Equatable {
    public struct Member: Codable, Sendable, Equatable {
        public var name: String
        public var clientURL: String
        public init(name: String, clientURL: String) {
            self.name = name
            self.clientURL = clientURL
        }
    }

    public struct TLS: Codable, Sendable, Equatable {
        public var caFile: String
        public var certFile: String
        public var keyFile: String
        public init(caFile: String, certFile: String, keyFile: String) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    /// Where the timer ships each snapshot: encrypted on the host to age recipients with the `age` binary and
    /// uploaded to S3 with curl's SigV4 (write-only credentials), the manifest last.
    public struct Ship: Codable, Sendable, Equatable {
        /// `age` from the unit's PATH (Debian's package puts it in /usr/bin), or a path.
        public var ageBinary: String
        public var recipients: [String]
        public var capstanVersion: String
        public var endpoint: String
        public var bucket: String
        public var prefix: String
        public var region: String
        /// 1 for path style, 0 for virtual-host style (shell-friendly).
        public var pathStyle: Int
        /// Empty for the system CAs.
        public var caFile: String
        public var credentialsFile: String
        /// Objects larger than this go up as a multipart upload in parts of this size. 512 MiB: most etcd
        /// databases go up in one PUT, whose checksums come from the pass that encrypts; S3 takes up to 5 GiB so.
        public var partSizeBytes: Int
        /// The PKI object published in the store (one line of JSON) that each manifest names; empty for none.
        public var sharedPKI: String = ""
        /// The Secrets encryption key names (a JSON array) each manifest records; empty for none.
        public var secretsKeys: String = ""
        /// Set to ship to an SFTP store instead of S3 (a list so the template's section renders only when set).
        public var sftp: [SFTP] = []

        /// An SFTP store the timer uploads to with `sftp -b`, as an account restricted to uploads on the store.
        public struct SFTP: Codable, Sendable, Equatable {
            public var host: String
            public var port: Int
            public var user: String
            public var path: String
            public var identityFile: String
            public var knownHostsFile: String
            public init(host: String, port: Int, user: String, path: String, identityFile: String, knownHostsFile: String) {
                self.host = host
                self.port = port
                self.user = user
                self.path = path
                self.identityFile = identityFile
                self.knownHostsFile = knownHostsFile
            }
        }

        /// Shipping to an SFTP store.
        public init(ageBinary: String = "age", recipients: [String], capstanVersion: String, sftp: SFTP) {
            self.init(ageBinary: ageBinary, recipients: recipients, capstanVersion: capstanVersion, endpoint: "", bucket: "", prefix: "",
                      region: "", pathStyle: true, caFile: nil, credentialsFile: "")
            self.sftp = [sftp]
        }

        public init(ageBinary: String = "age", recipients: [String], capstanVersion: String, endpoint: String, bucket: String,
                    prefix: String, region: String, pathStyle: Bool, caFile: String?, credentialsFile: String,
                    partSizeBytes: Int = 512 << 20) {
            self.ageBinary = ageBinary
            self.recipients = recipients
            self.capstanVersion = capstanVersion
            self.endpoint = endpoint
            self.bucket = bucket
            self.prefix = prefix
            self.region = region
            self.pathStyle = pathStyle ? 1 : 0
            self.caFile = caFile ?? ""
            self.credentialsFile = credentialsFile
            self.partSizeBytes = partSizeBytes
        }
    }

    public var clusterName: String
    public var memberName: String
    /// Zero or one shipping target (a list so the template's section renders only when it is set).
    public var ship: [Ship]
    /// Members in the order that decides which healthy one takes the snapshot.
    public var members: [Member]
    public var binDir: String
    public var backupDir: String
    public var keep: Int
    public var stateDir: String
    /// Where the backup timer's textfile-collector metrics go (node_exporter's default directory).
    public static let defaultMetricsFile = "/var/lib/node_exporter/textfile_collector/capstan_etcd_backup.prom"
    public var metricsFile: String
    public var tls: TLS?
    public var scriptPath: String
    public var schedule: String
    public var randomizedDelaySeconds: Int
    public var timeoutSeconds: Int

    public init(
        clusterName: String, memberName: String, members: [Member], schedule: String, randomizedDelaySeconds: Int,
        keep: Int, binDir: String = "/usr/local/bin", backupDir: String = "/var/backups/etcd",
        stateDir: String = "/var/lib/capstan/etcd-backup",
        metricsFile: String = EtcdBackupContext.defaultMetricsFile,
        tls: TLS? = TLS(caFile: "/etc/kubernetes/pki/etcd/ca.crt", certFile: "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
                        keyFile: "/etc/kubernetes/pki/etcd/healthcheck-client.key"),
        scriptPath: String = "/usr/local/lib/capstan/etcd-backup.sh", timeoutSeconds: Int = 1800, ship: Ship? = nil
    ) {
        self.ship = ship.map { [$0] } ?? []
        self.clusterName = clusterName
        self.memberName = memberName
        self.members = members
        self.binDir = binDir
        self.backupDir = backupDir
        self.keep = keep
        self.stateDir = stateDir
        self.metricsFile = metricsFile
        self.tls = tls
        self.scriptPath = scriptPath
        self.schedule = schedule
        self.randomizedDelaySeconds = randomizedDelaySeconds
        self.timeoutSeconds = timeoutSeconds
    }
}
