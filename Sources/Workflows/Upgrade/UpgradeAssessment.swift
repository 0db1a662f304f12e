import Foundation
import Hosts
import Inventory
import PKI

/// What `upgrade plan/apply/rollback` read from the hosts before deciding anything.
public struct UpgradeSurvey: Sendable {
    public var inventory: Inventory
    public var spec: EtcdClusterSpec
    public var etcdHosts: [EtcdHostFacts]
    public var cluster: EtcdClusterFacts
    public var surveys: [String: UpgradeFacts.Survey]
    public var unreachable: [String: String]

    public var running: [HostVersions] {
        inventory.hosts.compactMap { h in
            guard var v = surveys[h.name]?.versions else { return nil }
            // The running etcd (endpoint status) counts over the binary on disk.
            if let r = EtcdVersionGate.running(hosts: etcdHosts, cluster: cluster)[h.name] { v.etcd = r }
            return v
        }
    }

    public var leader: String? {
        cluster.memberList?.members.first { $0.id == cluster.leaderID }?.name
    }

    /// The members that run `target` now.
    public func members(running target: SemanticVersion) -> [String] {
        let running = EtcdVersionGate.running(hosts: etcdHosts, cluster: cluster)
        return spec.memberNames.filter { running[$0] == target }
    }

    public static func read(_ inventory: Inventory, in context: WorkflowContext) async throws -> UpgradeSurvey {
        let spec = try EtcdClusterSpec(inventory: inventory)
        let etcdHosts = await EtcdFactsGatherer.all(spec: spec, hosts: spec.memberNames, in: context)
        let cluster = await EtcdFactsGatherer.cluster(candidates: etcdHosts, spec: spec, in: context)
        var surveys: [String: UpgradeFacts.Survey] = [:]
        var unreachable: [String: String] = [:]
        let outcomes = await FanOut.run(inventory.hosts, name: { $0.name }) { host -> UpgradeFacts.Survey in
            let c = try await context.reader(host.name)
            let r = try await c.run(UpgradeFacts.command(binDir: spec.binDir, dataDir: spec.dataDir), options: RunOptions(timeoutSeconds: 60))
            return UpgradeFacts.parse(host: host.name, roles: Set(host.roles), r.stdoutText)
        }
        for o in outcomes {
            if let s = o.value { surveys[o.host] = s } else { unreachable[o.host] = o.error.map { "\($0)" } ?? "no answer" }
        }
        return UpgradeSurvey(inventory: inventory, spec: spec, etcdHosts: etcdHosts, cluster: cluster, surveys: surveys, unreachable: unreachable)
    }
}

/// Checks besides the version path: every host readable, etcd healthy, room for the new binaries and a
/// snapshot, no certificate expiring during the upgrade window.
public enum UpgradeChecks {
    public struct Result: Encodable, Sendable {
        public var name: String
        public var ok: Bool
        public var detail: String
    }

    public static func run(_ survey: UpgradeSurvey, etcdTarget: SemanticVersion?, artifacts: ArtifactStore, window: TimeSpan, now: Date) async -> [Result] {
        var out: [Result] = []
        out.append(Result(name: "hosts reachable", ok: survey.unreachable.isEmpty,
                          detail: survey.unreachable.isEmpty ? "\(survey.surveys.count) host(s) answered"
                            : survey.unreachable.map { "\($0.key): \($0.value)" }.sorted().joined(separator: "; ")))
        let members = survey.spec.memberNames
        if survey.cluster.memberList == nil {
            out.append(Result(name: "etcd healthy", ok: false, detail: "no etcd member answers on \(members.joined(separator: ", "))"))
        } else {
            let bad = survey.cluster.observation.members.filter { !$0.healthy }.map { "\($0.member.name) (\($0.problem ?? "unhealthy"))" }
            let alarms = survey.cluster.alarms
            out.append(Result(name: "etcd healthy", ok: survey.cluster.isHealthy && alarms.isEmpty,
                              detail: survey.cluster.isHealthy && alarms.isEmpty
                                ? "\(survey.cluster.memberList?.members.count ?? 0) member(s) healthy, leader \(survey.leader ?? "?")"
                                : (bad + alarms.map { "alarm \($0)" }).joined(separator: ", ")))
        }
        // Room: the new binaries on the binary directory's file system; a snapshot (db size) plus the binaries on the data one.
        // The members' own architectures (as the etcd phases pick their archives), the largest release counted.
        var binaryKiB: Int64 = 0
        if let etcdTarget {
            let architectures = Set(survey.etcdHosts.filter(\.reachable).map { $0.facts.architecture ?? "amd64" })
            for architecture in architectures.sorted() {
                do {
                    let archive = try await artifacts.etcdArchive(version: etcdTarget.description, architecture: architecture)
                    let temp = NSTemporaryDirectory() + "capstan-upgrade-size-" + UUID().uuidString
                    defer { try? FileManager.default.removeItem(atPath: temp) }
                    let bins = try ArtifactStore.unpackEtcd(archive, into: temp)
                    var kiB: Int64 = 0
                    for path in [bins.etcd, bins.etcdctl] + (bins.etcdutl.map { [$0] } ?? []) {
                        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
                        kiB += size / 1024 + 1
                    }
                    binaryKiB = max(binaryKiB, kiB)
                } catch {
                    out.append(Result(name: "etcd \(etcdTarget) artifacts", ok: false, detail: "\(error)"))
                }
            }
        }
        let dbKiB = (survey.cluster.statuses.map(\.dbSize).max() ?? 0) / 1024 + 1
        var short: [String] = []
        var seen: [String] = []
        for host in members {
            guard let s = survey.surveys[host] else { continue }
            let needBin = binaryKiB, needData = dbKiB + binaryKiB
            if let free = s.freeBinKiB, free < needBin { short.append("\(host): \(free) KiB free for binaries, needs \(needBin)") }
            if let free = s.freeDataKiB, free < needData { short.append("\(host): \(free) KiB free for the snapshot, needs \(needData)") }
            if s.freeBinKiB == nil || s.freeDataKiB == nil { short.append("\(host): df did not answer") }
            seen.append("\(host) \(s.freeDataKiB.map { "\($0 / 1024) MiB" } ?? "?") free")
        }
        out.append(Result(name: "free disk", ok: short.isEmpty,
                          detail: short.isEmpty ? "needs \(binaryKiB / 1024 + 1) MiB binaries + \(dbKiB / 1024 + 1) MiB snapshot; \(seen.joined(separator: ", "))" : short.joined(separator: "; ")))
        do {
            let plan = try PKIManager(inventory: survey.inventory, state: StateDirectory(inventory: survey.inventory)).plan(now: now, renewBefore: window)
            let expiring = plan.reissues.filter { r in r.reasons.contains { if case .expired = $0 { return true }; if case .expiresSoon = $0 { return true }; return false } }
            out.append(Result(name: "certificates valid through the window", ok: expiring.isEmpty,
                              detail: expiring.isEmpty ? "no certificate expires within \(window)"
                                : expiring.map { "\($0.certificate.name)\($0.certificate.host.map { " (\($0))" } ?? ""): \($0.reasons.map(\.description).joined(separator: ", "))" }.joined(separator: "; ") + " — renew first (`capstan certs renew`)"))
        } catch {
            out.append(Result(name: "certificates valid through the window", ok: false, detail: "cannot read the PKI state: \(error)"))
        }
        return out
    }
}

/// The shared part of `upgrade plan` and `upgrade apply` of a self-managed cluster: the hosts read, the
/// plan (or why there is none) and the checks.
public struct UpgradeAssessment: Sendable {
    public var inventory: Inventory
    public var survey: UpgradeSurvey
    public var plan: UpgradePlan?
    public var refusal: UpgradeRefusal?
    public var checks: [UpgradeChecks.Result]

    public var blocked: Bool { refusal != nil || checks.contains { !$0.ok } }

    public static func make(_ inventory: Inventory, kubernetes: SemanticVersion, etcd: SemanticVersion?, in context: WorkflowContext) async throws -> UpgradeAssessment {
        let survey = try await UpgradeSurvey.read(inventory, in: context)
        let request = UpgradeRequest(running: survey.running, kubernetes: kubernetes, etcd: etcd, etcdMembers: survey.spec.memberNames,
                                     etcdLeader: survey.leader, maxUnavailable: inventory.upgrade.maxUnavailable, knownReleases: [kubernetes])
        var plan: UpgradePlan?
        var refusal: UpgradeRefusal?
        do { plan = try UpgradePlanner.plan(request) } catch { refusal = error }
        let checks = await UpgradeChecks.run(survey, etcdTarget: plan?.etcdTarget, artifacts: try ArtifactStore(for: inventory),
                                             window: .days(7), now: Date())
        return UpgradeAssessment(inventory: inventory, survey: survey, plan: plan, refusal: refusal, checks: checks)
    }
}

/// `upgrade plan` / `upgrade apply` of a managed cluster: the provider upgrades its control plane, Capstan
/// the workers it joined, never past the provider's API server.
public struct ManagedUpgradeAssessment: Sendable {
    public var inventory: Inventory
    public var survey: ManagedUpgradeSurvey
    public var steps: [UpgradeStep]
    public var refusal: UpgradeRefusal?

    public var blocked: Bool { refusal != nil }

    public static func make(_ inventory: Inventory, kubernetes target: SemanticVersion, in context: WorkflowContext) async throws -> ManagedUpgradeAssessment {
        let survey = try await ManagedUpgradeSurvey.read(inventory, in: context)
        do {
            let steps = try ManagedUpgradePlanner.plan(workers: survey.workers, controlPlane: survey.controlPlane, target: target,
                                                       maxUnavailable: inventory.upgrade.maxUnavailable)
            return ManagedUpgradeAssessment(inventory: inventory, survey: survey, steps: steps, refusal: nil)
        } catch {
            return ManagedUpgradeAssessment(inventory: inventory, survey: survey, steps: [], refusal: error)
        }
    }
}
