import Foundation
import Inventory

/// The one place that decides whether a run may change the etcd version: a plain `apply` never does
/// (no silent upgrade or downgrade as a side effect of adding a node); `capstan upgrade apply` passes
/// `EtcdWorkflowSettings.allowVersionChange`.
public enum EtcdVersionGate {
    /// The version each member runs: the server version its endpoint status reports, else the installed binary's.
    public static func running(hosts: [EtcdHostFacts], cluster: EtcdClusterFacts) -> [String: SemanticVersion] {
        var out: [String: SemanticVersion] = [:]
        for h in hosts where h.isActive {
            if let v = h.facts.etcdVersion { out[h.host] = v }
        }
        for member in cluster.memberList?.members ?? [] where !member.name.isEmpty {
            if let status = cluster.status(of: member), let v = SemanticVersion(parsing: status.version) { out[member.name] = v }
        }
        return out
    }

    /// Nil when `target` may be applied; else the refusal naming the members and the command to use.
    public static func refusal(running: [String: SemanticVersion], target: SemanticVersion, allowVersionChange: Bool) -> WorkflowError? {
        guard !allowVersionChange else { return nil }
        let differing = running.filter { $0.value != target }.sorted { $0.key < $1.key }
        guard !differing.isEmpty else { return nil }
        let found = differing.map { "\($0.key) runs \($0.value)" }.joined(separator: ", ")
        if differing.contains(where: { $0.value < target }) {
            return WorkflowError.refused(
                what: "change etcd to \(target)", found: "\(found); a plain apply never upgrades",
                next: "run `capstan upgrade plan -i FILE --to VERSION` to check the path, then `capstan upgrade apply -i FILE --to VERSION` (takes a verified backup first and rolls one member at a time)")
        }
        return WorkflowError.refused(
            what: "change etcd to \(target)", found: "\(found), newer than the inventory's etcd.version; a plain apply never downgrades",
            next: "set etcd.version to what runs, or return to the previous version with `capstan upgrade rollback -i FILE`")
    }
}
