import Foundation
import Hosts

/// How to reach etcd with etcdctl on a member: binaries, endpoint and client certificates. The defaults are
/// kubeadm's paths; tests point it at their own etcd.
public struct EtcdClientAccess: Sendable, Equatable {
    public struct TLS: Sendable, Equatable {
        public var caFile: String
        public var certFile: String
        public var keyFile: String
        public init(caFile: String, certFile: String, keyFile: String) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
        public static let kubeadm = TLS(caFile: "/etc/kubernetes/pki/etcd/ca.crt",
                                        certFile: "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
                                        keyFile: "/etc/kubernetes/pki/etcd/healthcheck-client.key")
    }

    /// etcdctl on the host (`/usr/local/bin/etcdctl` as installed by Capstan).
    public var etcdctl: String
    /// etcdutl (3.5+); nil or missing on the host means etcdctl does the offline work (3.4).
    public var etcdutl: String?
    public var tls: TLS?

    public init(etcdctl: String = "/usr/local/bin/etcdctl", etcdutl: String? = "/usr/local/bin/etcdutl", tls: TLS? = .kubeadm) {
        self.etcdctl = etcdctl
        self.etcdutl = etcdutl
        self.tls = tls
    }

    /// `etcdctl --endpoints=URL [--cacert …] ARGS…`
    func etcdctl(_ endpoint: String, _ arguments: [String]) -> ShellCommand {
        var args = [etcdctl, "--endpoints=" + endpoint, "--command-timeout=10s"]
        if let tls { args += ["--cacert=" + tls.caFile, "--cert=" + tls.certFile, "--key=" + tls.keyFile] }
        return ShellCommand(args + arguments)
    }

    var environment: [String: String] { ["ETCDCTL_API": "3"] }

    /// The tool `host` runs `snapshot status` and `snapshot restore` with: etcdutl where installed (3.5+),
    /// else etcdctl (3.4).
    func offlineTool(on host: any CommandRunner) async throws -> String {
        guard let etcdutl else { return etcdctl }
        let probe = try await host.run(ShellCommand("test", "-x", etcdutl))
        return probe.succeeded ? etcdutl : etcdctl
    }
}

/// Where one etcd member is: its host, URLs and data directory. The backup and restore workflows take these and
/// reach the host through their run's context.
public struct EtcdMemberAddress: Sendable, Equatable {
    public var name: String
    /// Client URL etcdctl uses on that host, e.g. `https://127.0.0.1:2379`.
    public var clientURL: String
    /// Peer URL the member advertises, e.g. `https://10.0.0.1:2380` (restore).
    public var peerURL: String
    /// Data directory (restore).
    public var dataDir: String

    public init(name: String, clientURL: String, peerURL: String, dataDir: String = "/var/lib/etcd") {
        self.name = name
        self.clientURL = clientURL
        self.peerURL = peerURL
        self.dataDir = dataDir
    }
}

/// One etcd member with what runs commands there: a read-only view while reading, the connection `change`
/// hands over while changing.
public struct EtcdMemberTarget: Sendable {
    public var name: String
    public var connection: any CommandRunner
    /// Client URL etcdctl uses on that host, e.g. `https://127.0.0.1:2379`.
    public var clientURL: String
    /// Peer URL the member advertises, e.g. `https://10.0.0.1:2380` (restore).
    public var peerURL: String
    /// Data directory (restore).
    public var dataDir: String

    public init(name: String, connection: any CommandRunner, clientURL: String, peerURL: String, dataDir: String = "/var/lib/etcd") {
        self.name = name
        self.connection = connection
        self.clientURL = clientURL
        self.peerURL = peerURL
        self.dataDir = dataDir
    }

    public init(_ address: EtcdMemberAddress, connection: any CommandRunner) {
        self.init(name: address.name, connection: connection, clientURL: address.clientURL, peerURL: address.peerURL, dataDir: address.dataDir)
    }
}
