import Foundation
import Inventory
import PKI

/// `<state>/upgrade.json`: the rollback point and the progress of the current (or last) upgrade, so a
/// re-run continues and `upgrade rollback` knows where to go back to.
public struct UpgradeRecord: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case inProgress = "in-progress"
        case failed
        case etcdDone = "etcd-done"
        case completed
        case rolledBack = "rolled-back"
    }

    public struct RollbackPoint: Codable, Sendable, Equatable {
        /// Backup name for `capstan backup restore --from`.
        public var backup: String
        public var revision: Int64
        public var etcdVersion: String
        public var verifiedAt: Date

        public init(backup: String, revision: Int64, etcdVersion: String, verifiedAt: Date) {
            self.backup = backup
            self.revision = revision
            self.etcdVersion = etcdVersion
            self.verifiedAt = verifiedAt
        }
    }

    public var targetKubernetes: String
    public var targetEtcd: String?
    public var startedAt: Date
    public var updatedAt: Date
    public var status: Status
    public var rollbackPoint: RollbackPoint?
    /// etcd version each member ran before the upgrade (the rollback target).
    public var previousEtcd: [String: String]
    /// sha256 of each member's etcd binary before the upgrade.
    public var previousEtcdSHA256: [String: String]
    /// Members known to run the target etcd.
    public var upgraded: [String]
    /// Kubernetes version each host ran before the upgrade (kube-apiserver on control-plane hosts, the
    /// kubelet elsewhere): what `upgrade rollback` returns the hosts to. Absent in records of etcd-only runs.
    public var previousKubernetes: [String: String]?
    /// Hosts whose Kubernetes step passed its health gates.
    public var kubernetesUpgraded: [String]?
    /// The hosts of the Kubernetes step under way when the last run stopped: a resumed run starts with them.
    public var kubernetesPending: [String]?
    /// The member where the last run stopped, and why.
    public var stoppedAt: String?
    public var message: String?

    public static let fileName = "upgrade.json"

    public init(targetKubernetes: String, targetEtcd: String?, startedAt: Date, previousEtcd: [String: String], previousEtcdSHA256: [String: String]) {
        self.targetKubernetes = targetKubernetes
        self.targetEtcd = targetEtcd
        self.startedAt = startedAt
        updatedAt = startedAt
        status = .inProgress
        self.previousEtcd = previousEtcd
        self.previousEtcdSHA256 = previousEtcdSHA256
        upgraded = []
    }

    /// An unfinished run for the same targets: continue it (same rollback point) rather than start over.
    public func isResumable(targetKubernetes: String, targetEtcd: String?) -> Bool {
        (status == .inProgress || status == .failed) && self.targetKubernetes == targetKubernetes && self.targetEtcd == targetEtcd
    }

    public static func load(from state: StateDirectory) throws -> UpgradeRecord? {
        guard let data = try state.read(fileName) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(UpgradeRecord.self, from: data)
    }

    /// Atomic write (0600) through the state directory.
    public func save(to state: StateDirectory) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try state.ensureDirectory()
        _ = try state.write(try encoder.encode(self), to: UpgradeRecord.fileName, mode: 0o600)
    }
}

/// What a rollback may do with etcd.
public enum EtcdRollback {
    /// The cluster version etcd settles on: the lowest major.minor its members run (nil when none answers).
    public static func clusterVersion(running: [SemanticVersion]) -> SemanticVersion? {
        running.map { SemanticVersion($0.major, $0.minor, 0) }.min()
    }
}
