import Foundation
import Inventory
import X509

/// Who a cluster is: its name and a UID Capstan made when it first converged it. Kept in the state
/// directory (`cluster.json`) and on every host (`/etc/capstan/cluster.json`), so a command run with the
/// wrong state directory (a copied inventory, a fresh clone, another cluster's state) sees that the hosts
/// belong to someone else before it writes anything. Together with the CA certificates each host trusts,
/// it is what `ClusterIdentityCheck` compares.
public struct ClusterRecord: Sendable, Hashable, Codable {
    public var cluster: String
    public var uid: String

    public init(cluster: String, uid: String) {
        self.cluster = cluster
        self.uid = uid
    }

    /// A new record with a random UID.
    public static func new(cluster: String) -> ClusterRecord {
        ClusterRecord(cluster: cluster, uid: UUID().uuidString.lowercased())
    }

    public static let statePath = "cluster.json"
    public static let hostPath = "/etc/capstan/cluster.json"

    /// The exact bytes written to the state and to hosts: stable, so a re-run changes nothing.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var data = try encoder.encode(self)
        data.append(0x0a)
        return data
    }

    public static func decode(_ data: Data) throws -> ClusterRecord {
        try JSONDecoder().decode(ClusterRecord.self, from: data)
    }

    /// `1b4e28ba…` for messages.
    public var shortUID: String { String(uid.prefix(8)) + "…" }
}

extension StateDirectory {
    /// The cluster record, nil when this state directory has none yet (new, or made before records existed).
    public func clusterRecord() throws -> ClusterRecord? {
        guard let data = try read(ClusterRecord.statePath) else { return nil }
        do { return try ClusterRecord.decode(data) } catch {
            throw PKIError("cannot read the cluster record", subject: path(ClusterRecord.statePath), reason: "\(error)",
                           hint: "restore it from a backup of the state directory")
        }
    }

    public func saveClusterRecord(_ record: ClusterRecord) throws {
        try ensureDirectory()
        try write(try record.encoded(), to: ClusterRecord.statePath, mode: 0o600)
    }
}

/// The CA certificate files hosts hold, at kubeadm's paths, per authority.
public enum HostAuthorityFiles {
    public static let paths: [(AuthorityName, String)] = [
        (.cluster, PKIManager.remotePKIDirectory + "/ca.crt"),
        (.frontProxy, PKIManager.remotePKIDirectory + "/front-proxy-ca.crt"),
        (.etcd, PKIManager.remotePKIDirectory + "/etcd/ca.crt"),
    ]
}

/// SHA-256 fingerprints (as `openssl x509 -fingerprint -sha256` prints them) of every certificate in a PEM text.
public func certificateFingerprints(pem: String) throws -> [String] {
    try CertificateSummary.bundle(pem: pem).map(\.sha256)
}

/// What the state directory trusts: per authority, every CA certificate it would accept on a host (the
/// current CA and, during a CA rotation, the other one), plus the cluster record.
public struct TrustedIdentity: Sendable, Equatable {
    public var record: ClusterRecord?
    public var authorities: [AuthorityName: Set<String>]

    public init(record: ClusterRecord?, authorities: [AuthorityName: Set<String>]) {
        self.record = record
        self.authorities = authorities
    }

    /// The state directory has neither a record nor any CA: nothing identifies a cluster yet.
    public var isEmpty: Bool { record == nil && authorities.values.allSatisfy(\.isEmpty) }

    /// Reads `state` (and, for a cluster CA that is not Capstan's, the inventory's CA file).
    public static func load(inventory: Inventory, state: StateDirectory) throws -> TrustedIdentity {
        var authorities: [AuthorityName: Set<String>] = [:]
        func add(_ name: AuthorityName, pemAt path: String) throws {
            guard let data = FileManager.default.contents(atPath: path) else { return }
            do {
                authorities[name, default: []].formUnion(try certificateFingerprints(pem: String(decoding: data, as: UTF8.self)))
            } catch {
                throw PKIError("cannot read CA certificate", subject: path, reason: "\(error)", hint: "restore it from a backup of the state directory")
            }
        }
        for name in AuthorityName.allCases {
            let base = PKIManager.statePath(name)
            for suffix in ["", "-next", "-previous"] { try add(name, pemAt: state.path(base + suffix + ".crt")) }
        }
        if inventory.isSelfManaged, let external = inventory.pki.externalCA {
            try add(.cluster, pemAt: InventoryLoader.resolve(external.certFile, relativeTo: inventory.sourcePath))
        }
        if !inventory.isSelfManaged, let managed = inventory.controlPlane.managed {
            try add(.cluster, pemAt: InventoryLoader.resolve(managed.caFile, relativeTo: inventory.sourcePath))
        }
        return TrustedIdentity(record: try state.clusterRecord(), authorities: authorities)
    }
}

/// What one host carries: its cluster record and the fingerprints of the CA certificates it trusts.
public struct HostIdentity: Sendable, Equatable {
    public var host: String
    public var record: ClusterRecord?
    public var authorities: [AuthorityName: [String]]

    public init(host: String, record: ClusterRecord?, authorities: [AuthorityName: [String]]) {
        self.host = host
        self.record = record
        self.authorities = authorities
    }

    /// Nothing of any cluster on this host.
    public var isBare: Bool { record == nil && authorities.values.allSatisfy(\.isEmpty) }

    /// The files `parse` reads: the record and each CA file.
    public static let files = [ClusterRecord.hostPath] + HostAuthorityFiles.paths.map(\.1)

    /// The shell command that prints them, each after a marker line naming it: read-only, one round trip.
    public static func readScript() -> String {
        files.map { path in
            "if [ -f '\(path)' ]; then echo '==> \(path)'; cat '\(path)'; echo; fi"
        }.joined(separator: "; ")
    }

    /// Parses the output of `readScript`. A file that cannot be parsed is an error naming the host and file:
    /// a CA file Capstan cannot read is not one it may overwrite.
    public static func parse(host: String, output: String) throws -> HostIdentity {
        var sections: [String: String] = [:]
        var current: String?
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("==> ") {
                current = String(line.dropFirst(4))
                sections[current ?? ""] = ""
            } else if let key = current {
                sections[key, default: ""] += line + "\n"
            }
        }
        var record: ClusterRecord?
        if let text = sections[ClusterRecord.hostPath] {
            do { record = try ClusterRecord.decode(Data(text.utf8)) } catch {
                throw PKIError("cannot read the cluster record on \(host)", subject: ClusterRecord.hostPath, reason: "\(error)",
                               hint: "look at the file on \(host); Capstan writes it and never changes it by hand")
            }
        }
        var authorities: [AuthorityName: [String]] = [:]
        for (name, path) in HostAuthorityFiles.paths {
            guard let text = sections[path] else { continue }
            do { authorities[name] = try certificateFingerprints(pem: text) } catch {
                throw PKIError("cannot read the CA certificate on \(host)", subject: path, reason: "\(error)",
                               hint: "look at the file on \(host); Capstan will not replace a CA it cannot read")
            }
        }
        return HostIdentity(host: host, record: record, authorities: authorities)
    }
}

/// The comparison every host-changing command makes before it writes anything.
public enum ClusterIdentityCheck {
    /// How one host relates to the state directory.
    public enum Standing: Sendable, Equatable {
        /// Carries nothing of any cluster.
        case bare
        /// Carries this cluster's record and only CAs the state trusts.
        case member
        /// Carries only CAs the state trusts but no record (converged before records existed, or killed
        /// before its record was written): it receives the record.
        case unrecorded
        /// Carries another cluster's record or a CA the state does not trust.
        case foreign(reasons: [String])
    }

    public struct Outcome: Sendable, Equatable {
        public var standings: [String: Standing]
        /// The record this run keeps: the state's, else the one every recorded host agrees on, else nil (a new one is made).
        public var record: ClusterRecord?

        public var foreign: [String] { standings.filter { if case .foreign = $0.value { return true } else { return false } }.keys.sorted() }
        public var needingRecord: [String] {
            standings.filter { $0.value == .bare || $0.value == .unrecorded }.keys.sorted()
        }
    }

    public static func evaluate(trusted: TrustedIdentity, hosts: [HostIdentity]) -> Outcome {
        // A state without a record adopts the record the hosts carry when every CA they hold is trusted
        // (a state restored from before records existed, or imported from the hosts).
        var record = trusted.record
        if record == nil {
            let carried = Set(hosts.compactMap(\.record))
            if carried.count == 1, let only = carried.first, !trusted.isEmpty { record = only }
        }
        var standings: [String: Standing] = [:]
        for host in hosts {
            if host.isBare { standings[host.host] = .bare; continue }
            var reasons: [String] = []
            if let carried = host.record {
                if let record, carried != record {
                    reasons.append("it belongs to cluster \"\(carried.cluster)\" uid \(carried.uid), the state directory to \"\(record.cluster)\" uid \(record.uid)")
                } else if record == nil {
                    reasons.append("it belongs to cluster \"\(carried.cluster)\" uid \(carried.uid); the state directory has no cluster\(trusted.isEmpty ? " and no PKI" : " record")")
                }
            }
            for (name, path) in HostAuthorityFiles.paths {
                let onHost = host.authorities[name] ?? []
                let known = trusted.authorities[name] ?? []
                let strangers = onHost.filter { !known.contains($0) }
                guard !strangers.isEmpty else { continue }
                let stateText = known.isEmpty ? "the state directory has no \(name.rawValue)" : "the state trusts \(known.sorted().map(short).joined(separator: ", "))"
                reasons.append("\(path) holds CA \(strangers.map(short).joined(separator: ", ")); \(stateText)")
            }
            if !reasons.isEmpty {
                standings[host.host] = .foreign(reasons: reasons)
            } else {
                standings[host.host] = host.record == nil ? .unrecorded : .member
            }
        }
        return Outcome(standings: standings, record: record)
    }

    /// `AB:CD:EF:12…` — enough of a fingerprint to compare by eye in a message.
    static func short(_ fingerprint: String) -> String { "sha256 " + String(fingerprint.prefix(23)) + "…" }

    /// The refusal text: which hosts carry what, and the ways out. Nil when no host is foreign.
    public static func refusal(_ outcome: Outcome, state: StateDirectory, inventoryName: String) -> String? {
        let foreign = outcome.foreign
        guard !foreign.isEmpty else { return nil }
        var lines = ["the hosts do not belong to the cluster in the state directory \(state.root):"]
        for host in foreign {
            if case .foreign(let reasons) = outcome.standings[host] {
                for reason in reasons { lines.append("  \(host): \(reason)") }
            }
        }
        let others = outcome.standings.keys.filter { !foreign.contains($0) }.sorted()
        if !others.isEmpty {
            lines.append("  (\(others.joined(separator: ", ")): \(others.map { describe(outcome.standings[$0]) }.joined(separator: ", ")))")
        }
        lines.append("""
        Nothing was changed. Point Capstan at this cluster's state directory (--state-dir DIR or CAPSTAN_STATE_DIR=DIR), \
        restore that directory from your copy or from a backup taken with includePKI, or rebuild it from a control-plane host \
        with `capstan state import -i FILE --from HOST`. A CA on the hosts changes only through `capstan certs rotate --ca`.
        """)
        return lines.joined(separator: "\n")
    }

    static func describe(_ standing: Standing?) -> String {
        switch standing {
        case .bare: return "bare"
        case .member: return "this cluster"
        case .unrecorded: return "trusted CAs, no record"
        case .foreign: return "foreign"
        case nil: return "unknown"
        }
    }
}
