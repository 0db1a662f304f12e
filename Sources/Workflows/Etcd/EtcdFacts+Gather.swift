import Foundation
import Hosts
import Inventory

/// What one etcd host looks like, gathered in one command.
public struct EtcdHostFacts: Sendable, Equatable {
    public var host: String
    /// Nil when the host answered; else why it could not be read.
    public var unreachable: String?
    public var facts: HostFacts
    /// The data directory holds a member (`<data-dir>/member`): this host has been part of a cluster.
    public var hasData: Bool
    /// `mode owner group` of the data directory, e.g. `700 etcd etcd`; nil when it does not exist.
    public var dataDirStat: String?
    public var userExists: Bool
    /// Binaries whose checksum no record on the host vouched for (hashed instead): recorded by the install.
    public var unrecordedBinaries: [String] = []

    public var reachable: Bool { unreachable == nil }
    public var unit: SystemdUnitState? { facts.units["etcd.service"] }
    public var isActive: Bool { unit?.isActive ?? false }
    public var isEnabled: Bool { unit?.unitFileState == "enabled" }
}

/// The cluster as one member reports it through etcdctl.
public struct EtcdClusterFacts: Sendable, Equatable {
    /// The host whose etcdctl answered; nil when none did.
    public var reportedBy: String?
    public var memberList: EtcdMemberList?
    public var statuses: [EtcdEndpointStatus]
    public var health: [EtcdEndpointHealth]
    public var alarms: [String]

    public static let none = EtcdClusterFacts(reportedBy: nil, memberList: nil, statuses: [], health: [], alarms: [])

    public var leaderID: UInt64? { statuses.first { $0.leader != 0 }?.leader }

    /// Health of `member` (matched by client URL); a member without client URLs has not started.
    public func health(of member: EtcdMember) -> EtcdEndpointHealth? {
        let keys = Set(member.clientURLs.map(FactsParser.endpointKey))
        return health.first { keys.contains(FactsParser.endpointKey($0.endpoint)) }
    }

    public func status(of member: EtcdMember) -> EtcdEndpointStatus? {
        statuses.first { $0.memberID == member.id }
    }

    /// Input for the planner.
    public var observation: EtcdObservation {
        guard let list = memberList else { return EtcdObservation(members: []) }
        let members = list.members.map { m -> EtcdObservedMember in
            guard m.hasStarted else { return EtcdObservedMember(member: m, healthy: false, problem: "added but not started") }
            guard let h = health(of: m) else { return EtcdObservedMember(member: m, healthy: false, problem: "no health answer") }
            return EtcdObservedMember(member: m, healthy: h.health, problem: h.health ? nil : (h.error ?? "unhealthy"))
        }
        return EtcdObservation(members: members, leaderID: leaderID)
    }

    /// Every voting member healthy, a leader present.
    public var isHealthy: Bool {
        guard let list = memberList, !list.members.isEmpty, leaderID != nil else { return false }
        return observation.members.allSatisfy { $0.healthy || $0.member.isLearner }
    }
}

/// Gathers facts over the hosts' connections. Parsing stays in `FactsParser`.
public enum EtcdFactsGatherer {
    /// One round trip per host: OS, architecture, the etcd unit, installed etcd, binary identities and the
    /// checksum record (`HostSurvey.checksumRecord`: binaries unchanged since they were installed are not
    /// hashed), data directory and user. Paths come in as arguments so the script is a constant.
    static let hostScript = """
        B=$1; D=$2; U=$3; R=$4
        echo @@os; cat /etc/os-release 2>/dev/null
        echo @@arch; uname -m
        echo @@unit; systemctl show etcd.service -p Id,LoadState,ActiveState,SubState,UnitFileState,MainPID,NRestarts,ActiveEnterTimestampMonotonic,ExecMainStartTimestamp
        echo @@version; "$B/etcd" --version 2>/dev/null
        echo @@binstat; stat -c '%i:%s:%.9Z %n' "$B/etcd" "$B/etcdctl" "$B/etcdutl" 2>/dev/null
        echo @@record; cat "$R" 2>/dev/null
        echo @@data; test -d "$D/member" && echo member
        echo @@datadir; stat -c '%a %U %G' "$D" 2>/dev/null
        echo @@user; id -u "$U" 2>/dev/null
        echo @@end
        """

    public static func host(_ host: String, spec: EtcdClusterSpec, in ctx: WorkflowContext) async -> EtcdHostFacts {
        do {
            let connection = try await ctx.reader(host)
            let result = try await connection.run(
                ShellCommand(["sh", "-c", hostScript, "sh", spec.binDir, spec.dataDir, spec.user, HostSurvey.checksumRecord]),
                options: RunOptions(timeoutSeconds: 30))
            var facts = parseHost(host, result.stdoutText)
            if facts.reachable, !facts.unrecordedBinaries.isEmpty {
                // No record vouches for these: hash them (a second command, only then).
                let sums = try await connection.run(ShellCommand(["sha256sum", "--"] + facts.unrecordedBinaries), options: RunOptions(timeoutSeconds: 60))
                facts.facts.fileChecksums.merge(FactsParser.sha256sums(sums.stdoutText)) { old, _ in old }
            }
            return facts
        } catch {
            return EtcdHostFacts(host: host, unreachable: "\(error)", facts: HostFacts(host: host), hasData: false, dataDirStat: nil, userExists: false)
        }
    }

    /// Splits `@@name` sections of the host script's output.
    static func sections(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        var current: String?
        var lines: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("@@") {
                if let current { result[current] = lines.joined(separator: "\n") }
                current = String(line.dropFirst(2))
                lines = []
            } else {
                lines.append(line)
            }
        }
        if let current { result[current] = lines.joined(separator: "\n") }
        return result
    }

    public static func parseHost(_ host: String, _ text: String) -> EtcdHostFacts {
        let s = sections(text)
        let trimmed = { (key: String) in (s[key] ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }
        var checksums = FactsParser.sha256sums(s["sums"] ?? "")
        let records = HostSurvey.records(s["record"] ?? "")
        var unrecorded: [String] = []
        for line in (s["binstat"] ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let path = String(parts[1])
            guard checksums[path] == nil else { continue }
            if let record = records[path], record.identity == parts[0] {
                checksums[path] = record.sha256
            } else {
                unrecorded.append(path)
            }
        }
        let facts = HostFacts(
            host: host, os: FactsParser.osRelease(s["os"] ?? ""),
            architecture: FactsParser.architecture(unameMachine: s["arch"] ?? ""),
            units: FactsParser.systemdUnits(s["unit"] ?? ""),
            etcdVersion: FactsParser.etcdVersion(s["version"] ?? ""),
            fileChecksums: checksums)
        return EtcdHostFacts(
            host: host, unreachable: s["end"] == nil ? "the facts command stopped early: \(text.suffix(200))" : nil,
            facts: facts, hasData: trimmed("data") == "member",
            dataDirStat: trimmed("datadir").isEmpty ? nil : trimmed("datadir"),
            userExists: !trimmed("user").isEmpty, unrecordedBinaries: unrecorded)
    }

    /// etcdctl on the host against its own client port with the healthcheck-client certificate;
    /// `--cluster` makes status and health cover every member in the member list.
    static let clusterScript = """
        E=$1; P=$2
        c() { "$E" --endpoints=https://127.0.0.1:2379 --cacert="$P/ca.crt" --cert="$P/healthcheck-client.crt" --key="$P/healthcheck-client.key" --dial-timeout=2s --command-timeout=4s "$@"; }
        echo @@members; c member list -w json || exit 3
        echo; echo @@status; c endpoint status --cluster -w json 2>/dev/null
        echo; echo @@health; c endpoint health --cluster -w json 2>/dev/null
        echo; echo @@alarms; c alarm list 2>/dev/null
        echo @@end
        """

    /// The cluster as seen from `host`, or nil when its etcd does not answer.
    public static func cluster(from host: String, spec: EtcdClusterSpec, in ctx: WorkflowContext) async -> EtcdClusterFacts? {
        guard let connection = try? await ctx.reader(host),
              let result = try? await connection.run(
                ShellCommand(["sh", "-c", clusterScript, "sh", spec.etcdctl, spec.pkiDir]), options: RunOptions(timeoutSeconds: 40)),
              result.succeeded else { return nil }
        return parseCluster(host, result.stdoutText)
    }

    public static func parseCluster(_ host: String, _ text: String) -> EtcdClusterFacts? {
        let s = sections(text)
        guard let list = try? FactsParser.etcdMemberList(s["members"] ?? "", host: host) else { return nil }
        let statusText = (s["status"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let healthText = (s["health"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        return EtcdClusterFacts(
            reportedBy: host, memberList: list,
            statuses: statusText.isEmpty ? [] : ((try? FactsParser.etcdEndpointStatus(statusText, host: host)) ?? []),
            health: healthText.isEmpty ? [] : ((try? FactsParser.etcdEndpointHealth(healthText, host: host)) ?? []),
            alarms: (s["alarms"] ?? "").split(separator: "\n").map(String.init).filter { !$0.isEmpty })
    }

    /// Asks each given host in turn (active units first) until one etcd answers.
    public static func cluster(candidates: [EtcdHostFacts], spec: EtcdClusterSpec, in ctx: WorkflowContext) async -> EtcdClusterFacts {
        let ordered = candidates.filter { $0.reachable && $0.isActive } + candidates.filter { $0.reachable && !$0.isActive && $0.hasData }
        for facts in ordered {
            if let cluster = await cluster(from: facts.host, spec: spec, in: ctx) { return cluster }
        }
        return .none
    }

    /// Hosts to read: the members the inventory wants plus any other inventory host (a member being removed).
    public static func all(spec: EtcdClusterSpec, hosts: [String], in ctx: WorkflowContext) async -> [EtcdHostFacts] {
        let outcomes = await FanOut.run(hosts, limit: FanOut.defaultLimit, name: { $0 }) { host in
            await EtcdFactsGatherer.host(host, spec: spec, in: ctx)
        }
        return outcomes.compactMap(\.value)
    }
}
