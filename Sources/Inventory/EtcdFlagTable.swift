import Foundation

/// The flags one etcd minor accepts, asked of the real binaries by `Tests/Standins/regen-etcd-flags.py`
/// (`EtcdFlags/etcd-3.<minor>.json`: every flag etcd's `--help` documents, plus flags another minor documents
/// that this binary accepts, each with the type its flag parsing showed). `spec.etcd.extraArgs` is checked
/// against it, and a unit test hands every table flag to the real binary of that minor when one is present.
///
/// The tables come from etcd 3.4.23 and 3.5.1; a later 3.5 patch release may add a flag they lack, so a flag in
/// no table and close to no known one is a warning, not an error.
public struct EtcdFlagTable: Sendable {
    public struct Flag: Sendable, Decodable {
        /// Where `--help` lists it (`Member`, `Clustering`, …, `Unsafe feature`, `TO BE DEPRECATED`), or
        /// `accepted, not in --help`.
        public var section: String
        /// `bool`, `uint`, `int`, `duration`, `string` or `other` (URLs and lists: etcd checks them).
        public var type: String
        public var `default`: String
    }

    public var minor: Int
    public var version: String
    public var flags: [String: Flag]

    private struct File: Decodable {
        var version: String
        var flags: [String: Flag]
    }

    /// The table of etcd 3.`minor`, or nil when Capstan carries none.
    public static func load(minor: Int) -> EtcdFlagTable? {
        guard let url = Bundle.module.url(forResource: "EtcdFlags/etcd-3.\(minor)", withExtension: "json"),
              let data = try? Data(contentsOf: url),
              let file = try? JSONDecoder().decode(File.self, from: data) else { return nil }
        return EtcdFlagTable(minor: minor, version: file.version, flags: file.flags)
    }

    /// The minors Capstan carries a table for.
    public static let minors = [4, 5]

    /// Flags of etcd's command line Capstan sets itself, with what sets them. The initial-cluster settings are
    /// in /etc/etcd/etcd.env for a member's first start.
    public static let reserved: [String: String] = {
        var out: [String: String] = [:]
        for flag in ["name", "listen-client-urls", "advertise-client-urls", "listen-peer-urls", "initial-advertise-peer-urls"] {
            out[flag] = "the host's name and address in spec.hosts"
        }
        out["data-dir"] = "spec.etcd.dataDir"
        out["listen-metrics-urls"] = "Capstan's health checks and monitoring (http://127.0.0.1:2381)"
        for flag in ["client-cert-auth", "trusted-ca-file", "cert-file", "key-file", "peer-client-cert-auth",
                     "peer-trusted-ca-file", "peer-cert-file", "peer-key-file"] {
            out[flag] = "Capstan's PKI (mutual TLS with the etcd CA)"
        }
        for flag in ["initial-cluster", "initial-cluster-state", "initial-cluster-token"] {
            out[flag] = "Capstan's membership changes (written for a member's first start)"
        }
        out["config-file"] = "Capstan's command line (with a configuration file etcd ignores every flag, TLS included)"
        out["force-new-cluster"] = "capstan backup restore (on a running member it would drop every other member)"
        return out
    }()
}
