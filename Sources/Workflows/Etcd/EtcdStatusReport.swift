import Foundation
import PKI
import Hosts

/// `capstan status` for etcd: one row per etcd host, plus the cluster's verdict.
public struct EtcdStatusReport: Sendable, Equatable, Codable {
    public struct Row: Sendable, Equatable, Codable {
        public var host: String
        public var reachable: Bool
        public var error: String?
        /// `active/running`, `inactive/dead`, `failed/failed`, or nil when unknown.
        public var unit: String?
        public var memberID: String?
        public var memberName: String?
        public var isLearner: Bool
        public var isLeader: Bool
        public var version: String?
        public var dbSize: Int64?
        public var raftIndex: UInt64?
        public var raftTerm: UInt64?
        public var healthy: Bool
        public var healthError: String?
    }

    public var cluster: String
    public var rows: [Row]
    public var leader: String?
    public var alarms: [String]
    /// Member list entries that belong to no inventory host.
    public var unknownMembers: [String]
    public var healthy: Bool
    /// The cluster record the state directory holds (nil: none yet) and each host's standing against it
    /// (`ClusterIdentityGuard.observe`); filled by `status`, not by `make`.
    public var clusterUID: String?
    public var identity: [String: String]?
    /// Inventory hosts that did not answer over SSH, with the reason in words (filled by `status`).
    public var unreachableHosts: [String: String]?

    public static func gather(spec: EtcdClusterSpec, in ctx: WorkflowContext) async -> EtcdStatusReport {
        let hosts = await EtcdFactsGatherer.all(spec: spec, hosts: spec.memberNames, in: ctx)
        let cluster = await EtcdFactsGatherer.cluster(candidates: hosts, spec: spec, in: ctx)
        return make(spec: spec, hosts: hosts, cluster: cluster)
    }

    /// Pure: facts in, report out.
    public static func make(spec: EtcdClusterSpec, hosts: [EtcdHostFacts], cluster: EtcdClusterFacts) -> EtcdStatusReport {
        let members = cluster.memberList?.members ?? []
        var rows: [Row] = []
        for h in hosts {
            let wanted = spec.member(h.host)
            let member = members.first { $0.name == h.host } ?? members.first { m in wanted.map { m.peerURLs.contains($0.desired.peerURL) } ?? false }
            let status = member.flatMap { cluster.status(of: $0) }
            let health = member.flatMap { cluster.health(of: $0) }
            rows.append(Row(
                host: h.host, reachable: h.reachable, error: h.unreachable,
                unit: h.unit.map { "\($0.activeState)/\($0.subState)" },
                memberID: member?.hexID, memberName: member?.name, isLearner: member?.isLearner ?? false,
                isLeader: status?.isLeader ?? false, version: status?.version ?? h.facts.etcdVersion?.description,
                dbSize: status?.dbSize, raftIndex: status?.raftIndex, raftTerm: status?.raftTerm,
                healthy: health?.health ?? false,
                healthError: health?.health == true ? nil : (health?.error ?? (member == nil ? "not a member" : "no answer"))))
        }
        let leader = members.first { $0.id == cluster.leaderID }?.name
        let names = Set(spec.memberNames)
        let unknown = members.filter { !names.contains($0.name) }.map { $0.name.isEmpty ? "\($0.hexID) (unstarted)" : $0.name }
        return EtcdStatusReport(
            cluster: spec.clusterName, rows: rows, leader: leader, alarms: cluster.alarms, unknownMembers: unknown,
            healthy: cluster.isHealthy && cluster.alarms.isEmpty && rows.allSatisfy(\.healthy) && unknown.isEmpty)
    }

    /// Adds the cluster identity as `ClusterIdentityGuard.observe` saw it; a host of another cluster makes
    /// the report unhealthy (every changing command would refuse).
    public mutating func attach(identity outcome: ClusterIdentityCheck.Outcome, unread: [String], uid: String?) {
        clusterUID = uid ?? outcome.record?.uid
        var standings: [String: String] = [:]
        for (host, standing) in outcome.standings {
            switch standing {
            case .bare: standings[host] = "no record yet"
            case .member: standings[host] = "this cluster"
            case .unrecorded: standings[host] = "trusted CAs, record not yet written"
            case .foreign(let reasons): standings[host] = "ANOTHER CLUSTER (" + reasons.joined(separator: "; ") + ")"
            }
        }
        for host in unread { standings[host] = "not checked (no answer)" }
        identity = standings
        if !outcome.foreign.isEmpty { healthy = false }
    }

    /// Why the report is unhealthy, in words (hosts that do not answer over SSH are the caller's to name).
    public var problems: [String] {
        var out = rows.filter { !$0.healthy }.map { "\($0.host): etcd \($0.healthError ?? $0.error ?? "not healthy")" }
        if !alarms.isEmpty { out.append("etcd alarms: " + alarms.joined(separator: "; ")) }
        if !unknownMembers.isEmpty { out.append("etcd members not in the inventory: " + unknownMembers.joined(separator: ", ")) }
        for (host, standing) in (identity ?? [:]).sorted(by: { $0.key < $1.key }) where standing.hasPrefix("ANOTHER CLUSTER") {
            out.append("\(host) belongs to another cluster")
        }
        let sshOnly = !(unreachableHosts ?? [:]).isEmpty
        if out.isEmpty && !healthy && !sshOnly { out.append("etcd is not healthy") }
        return out
    }

    /// Adds the inventory hosts that did not answer over SSH: any makes the report unhealthy, since no
    /// command can converge or check them (a reachable etcd member behind a broken SSH key still counts).
    public mutating func attach(unreachable: [String: String]) {
        unreachableHosts = unreachable
        if !unreachable.isEmpty { healthy = false }
    }

    /// A fixed-width table for terminals.
    public var text: String { details + "cluster \(cluster): " + (healthy ? "healthy" : "UNHEALTHY") + "\n" }

    /// The table and its notes, without the verdict line.
    public var details: String {
        let header = ["HOST", "REACHABLE", "UNIT", "MEMBER", "ROLE", "VERSION", "DB SIZE", "RAFT INDEX", "TERM", "HEALTH"]
        var table = [header]
        for r in rows {
            let role = r.memberID == nil ? "-" : (r.isLeader ? "leader" : (r.isLearner ? "learner" : "follower"))
            table.append([
                r.host, r.reachable ? "yes" : "no", r.unit ?? "-", r.memberID.map { "\($0) (\(r.memberName ?? ""))" } ?? "-", role,
                r.version ?? "-", r.dbSize.map(ByteCount.text) ?? "-", r.raftIndex.map(String.init) ?? "-", r.raftTerm.map(String.init) ?? "-",
                !r.reachable ? "UNREACHABLE: " + (r.error ?? "no answer over SSH") + (r.healthy ? " (etcd healthy)" : "")
                    : r.healthy ? "healthy" : "DOWN" + (r.healthError.map { ": \($0)" } ?? (r.error.map { ": \($0)" } ?? "")),
            ])
        }
        let widths = header.indices.map { i in table.map { $0[i].count }.max() ?? 0 }
        var out = table.map { row in
            row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
        out += "leader: \(leader ?? "none")"
        out += "; alarms: " + (alarms.isEmpty ? "none" : alarms.joined(separator: "; "))
        if !unknownMembers.isEmpty { out += "; members not in the inventory: " + unknownMembers.joined(separator: ", ") }
        if let identity {
            let groups = Dictionary(grouping: identity.keys.sorted(), by: { identity[$0] ?? "" })
            out += "\nidentity: uid \(clusterUID ?? "none in the state directory"); "
                + groups.keys.sorted().map { "\($0): \(groups[$0]?.joined(separator: ", ") ?? "")" }.joined(separator: "; ")
        }
        if let unreachableHosts, !unreachableHosts.isEmpty {
            out += "\nnot answering over SSH: " + unreachableHosts.keys.sorted().map { "\($0) (\(unreachableHosts[$0] ?? ""))" }.joined(separator: "; ")
        }
        return out + "\n"
    }
}
