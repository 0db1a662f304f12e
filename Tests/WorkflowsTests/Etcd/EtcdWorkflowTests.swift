import Foundation
import Hosts
import Inventory
import Testing
import TestSupport
@testable import Workflows

/// A test double of an etcd cluster as its members' hosts answer for it: the commands the etcd phases
/// send (etcdctl member add/promote/remove/list, the cluster read, systemctl enable/disable/restart) change
/// the model as etcd and systemd would, and any other command fails the test. It checks etcd's own rules
/// as the real server does: a learner is promoted only once started, a membership change goes through a
/// running voting member, and a restart or stop never leaves fewer running voters than a quorum.
final class EtcdClusterModel: HostModel, @unchecked Sendable {
    struct Member {
        var id: UInt64
        var host: String
        var peerURL: String
        var learner: Bool
        var started: Bool
        var running: Bool
    }

    private let lock = NSLock()
    private var members: [Member] = []
    private var leaderID: UInt64?
    private var nextID: UInt64 = 0xB0
    private var events: [String] = []
    private var violations: [String] = []
    private var failing: Set<String> = []
    let addresses: [String: String]

    init(addresses: [String: String], running voters: [String], leader: String) {
        self.addresses = addresses
        for (i, host) in voters.enumerated() {
            members.append(Member(id: UInt64(0xA0 + i), host: host, peerURL: Self.peerURL(addresses[host]!), learner: false, started: true, running: true))
        }
        leaderID = members.first { $0.host == leader }?.id
    }

    static func peerURL(_ address: String) -> String { "https://\(address):2380" }
    static func clientURL(_ address: String) -> String { "https://\(address):2379" }

    var log: [String] { lock.withLock { events } }
    var problems: [String] { lock.withLock { violations } }
    var voters: [String] { lock.withLock { members.filter { !$0.learner && $0.running }.map(\.host).sorted() } }
    func failRestart(on host: String) { lock.withLock { _ = failing.insert(host) } }
    /// `host`'s etcd stops (a crash): it no longer answers.
    func stop(_ host: String) {
        lock.withLock {
            guard let i = index(of: host) else { return }
            members[i].running = false
            events.append("\(host) down")
        }
    }

    /// What the host named `host` answers to `line`.
    func answer(_ host: String, _ line: String) -> CommandResult {
        lock.withLock { answerLocked(host, line) }
    }

    private func ok(_ text: String = "") -> CommandResult { CommandResult(exitStatus: 0, stdout: Data(text.utf8), stderr: Data()) }
    private func fail(_ text: String) -> CommandResult { CommandResult(exitStatus: 1, stdout: Data(), stderr: Data(text.utf8)) }
    private var quorum: Int { members.filter { !$0.learner }.count / 2 + 1 }
    private func index(of host: String) -> Int? { members.firstIndex { $0.host == host && $0.started } ?? members.firstIndex { $0.peerURL == Self.peerURL(addresses[host] ?? "") } }
    private func runningVoter(_ host: String) -> Bool { index(of: host).map { members[$0].running && !members[$0].learner } ?? false }

    private func answerLocked(_ host: String, _ line: String) -> CommandResult {
        let words = line.split(separator: " ").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
        if line.contains("@@members") {
            guard let i = index(of: host), members[i].running else { return CommandResult(exitStatus: 3, stdout: Data(), stderr: Data("connection refused".utf8)) }
            return ok("@@members\n\(memberList())\n@@status\n\(statuses())\n@@health\n\(health())\n@@alarms\n@@end\n")
        }
        if let at = words.firstIndex(of: "member"), words.first?.hasSuffix("etcdctl") == true {
            guard runningVoter(host) else {
                violations.append("etcdctl member \(words[at + 1]) sent to \(host), which is not a running voting member")
                return fail("context deadline exceeded")
            }
            switch words[at + 1] {
            case "list":
                return ok(memberList())
            case "add":
                let name = words[at + 2]
                guard let url = words.first(where: { $0.hasPrefix("--peer-urls=") })?.dropFirst("--peer-urls=".count), words.contains("--learner") else {
                    violations.append("member add without --learner: \(line)")
                    return fail("add as a learner")
                }
                members.append(Member(id: nextID, host: name, peerURL: String(url), learner: true, started: false, running: false))
                nextID += 1
                events.append("add \(name) as learner via \(host)")
                return ok("Member \(name) added")
            case "promote":
                guard let i = members.firstIndex(where: { $0.id == UInt64(words[at + 2], radix: 16) }) else { return fail("member not found") }
                guard members[i].started, members[i].running else { return fail("can only promote a learner member which is in sync with leader") }
                members[i].learner = false
                events.append("promote \(members[i].host) via \(host)")
                return ok()
            case "remove":
                guard let i = members.firstIndex(where: { $0.id == UInt64(words[at + 2], radix: 16) }) else { return fail("member not found") }
                let removed = members.remove(at: i)
                if leaderID == removed.id { leaderID = members.first { !$0.learner && $0.running }?.id }
                if members.filter({ !$0.learner && $0.running }).count < quorum { violations.append("removing \(removed.host) left the cluster without quorum") }
                events.append("remove \(removed.host) via \(host)")
                return ok()
            default:
                break
            }
        }
        if words.starts(with: ["systemctl", "enable", "--now", "etcd.service"]) {
            guard let i = index(of: host) else {
                violations.append("etcd started on \(host), which is not in the member list")
                return fail("cannot join")
            }
            members[i].started = true
            members[i].running = true
            events.append("start \(host)")
            return ok()
        }
        if words.starts(with: ["systemctl", "disable", "--now", "etcd.service"]) {
            if let i = index(of: host) { members[i].running = false }
            events.append("stop and wipe \(host)")
            return ok()
        }
        if words.starts(with: ["systemctl", "restart", "etcd.service"]) {
            guard let i = index(of: host), members[i].running else { return fail("not running") }
            let othersRunning = members.filter { !$0.learner && $0.running && $0.host != host }.count
            if othersRunning < quorum { violations.append("restarting \(host) left \(othersRunning) running voters, below a quorum of \(quorum)") }
            let wasLeader = leaderID == members[i].id
            if failing.contains(host) {
                members[i].running = false
                events.append("restart \(host) failed")
                return fail("Job for etcd.service failed")
            }
            // A restarted leader hands leadership to another voter, as etcd does.
            if wasLeader { leaderID = members.first { !$0.learner && $0.running && $0.host != host }?.id }
            events.append("restart \(host)\(wasLeader ? " (leader)" : "")")
            return ok()
        }
        if words.first == "journalctl" { return ok("(journal)") }
        violations.append("unscripted command on \(host): \(line)")
        return CommandResult(exitStatus: 127, stdout: Data(), stderr: Data("not scripted".utf8))
    }

    private func memberList() -> String {
        let list = members.map { m in
            let name = m.started ? m.host : ""
            let client = m.started ? "[\"\(Self.clientURL(addresses[m.host]!))\"]" : "[]"
            return "{\"ID\":\(m.id),\"name\":\"\(name)\",\"peerURLs\":[\"\(m.peerURL)\"],\"clientURLs\":\(client)\(m.learner ? ",\"isLearner\":true" : "")}"
        }
        return "{\"header\":{\"cluster_id\":1},\"members\":[\(list.joined(separator: ","))]}"
    }

    private func statuses() -> String {
        "[" + members.filter { $0.running }.map { m in
            "{\"Endpoint\":\"\(Self.clientURL(addresses[m.host]!))\",\"Status\":{\"header\":{\"cluster_id\":1,\"member_id\":\(m.id),\"revision\":42},\"version\":\"3.5.1\",\"dbSize\":20480,\"leader\":\(leaderID ?? 0),\"raftIndex\":9,\"raftTerm\":2,\"isLearner\":\(m.learner)}}"
        }.joined(separator: ",") + "]"
    }

    private func health() -> String {
        "[" + members.filter { $0.started }.map { m in
            "{\"endpoint\":\"\(Self.clientURL(addresses[m.host]!))\",\"health\":\(m.running)\(m.running ? "" : ",\"error\":\"connection refused\"")}"
        }.joined(separator: ",") + "]"
    }
}

@Suite("etcd membership changes and rolling restarts against a model of etcd's rules (every command scripted, any other fails)", .tags(.unit))
struct EtcdWorkflowTests {
    static let names = ["h1", "h2", "h3", "h4", "h5"]
    static let addresses = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, "10.213.0.\(11 + $0)") })

    /// One run's setting: a model with `running` voters and `leader`, the inventory's etcd `members`, and the
    /// run data as etcd-facts leaves it (the cluster read from the model, the planner's steps, the members
    /// whose files changed).
    struct Run {
        let model: EtcdClusterModel
        let settings: EtcdWorkflowSettings
        let ctx: WorkflowContext
        let state: EtcdRunState
    }

    func run(members: [String], running: [String], leader: String, changed: [String], healthTimeout: Double = 5,
             inventoryHosts: [String]? = nil) async throws -> Run {
        let model = EtcdClusterModel(addresses: Self.addresses, running: running, leader: leader)
        let inventory = Inventory(
            name: "lab", kubernetesVersion: SemanticVersion(1, 31, 4), controlPlane: ControlPlaneSpec(endpoint: nil),
            hosts: members.map { HostSpec(name: $0, address: Self.addresses[$0]!, roles: [.controlPlane, .etcd]) })
        // The artifact store is never read by these steps.
        var settings = try EtcdWorkflowSettings(inventory: inventory, artifacts: ArtifactStore(origin: .localDirectory(NSTemporaryDirectory()), cacheDirectory: NSTemporaryDirectory()),
                                                healthTimeoutSeconds: healthTimeout)
        if let inventoryHosts { settings.spec.inventoryHosts = inventoryHosts }
        let ctx = WorkflowContext(mode: .apply, connector: ModelConnector { _ in model },
                                  endpoints: Self.names.map { HostEndpoint(name: $0, address: Self.addresses[$0]!, authentication: [.agent], knownHostsFile: "/dev/null") },
                                  output: CollectingOutput(), now: { Date() })
        var cluster: EtcdClusterFacts?
        for host in Self.names where cluster == nil { cluster = await EtcdFactsGatherer.cluster(from: host, spec: settings.spec, in: ctx) }
        let facts = try #require(cluster)
        let state = EtcdRunState()
        await state.record(hosts: [], cluster: facts, plan: try EtcdPlanner.membership(desired: settings.spec.members.map(\.desired), observed: facts.observation))
        for host in changed { await state.markChanged(host) }
        return Run(model: model, settings: settings, ctx: ctx, state: state)
    }

    @Test("3 → 5 members with changed files on the three: each new member is added as a learner through a running voter, started, promoted, one at a time; then the three restart one at a time with the leader last")
    func scaleUpThenRoll() async throws {
        let r = try await run(members: Self.names, running: ["h1", "h2", "h3"], leader: "h2", changed: ["h1", "h2", "h3"])
        let model = r.model
        try await EtcdWorkflow.changeMembership(r.ctx, r.settings, r.state)
        try await EtcdWorkflow.rollingRestart(r.ctx, r.settings, r.state)
        #expect(model.log == [
            "add h4 as learner via h1", "start h4", "promote h4 via h1",
            "add h5 as learner via h1", "start h5", "promote h5 via h1",
            "restart h1", "restart h3", "restart h2 (leader)",
        ])
        #expect(model.voters == Self.names)
        #expect(model.problems.isEmpty, "\(model.problems)")
    }

    @Test("5 → 3 members with the leader among those leaving: each is removed from the member list through a staying voter before it is stopped, and quorum holds throughout")
    func scaleDownPastTheLeader() async throws {
        // The inventory still lists h4 and h5 as hosts (they are wiped), but no longer as etcd members.
        let r = try await run(members: Array(Self.names.prefix(3)), running: Self.names, leader: "h4", changed: [], inventoryHosts: Self.names)
        let model = r.model
        try await EtcdWorkflow.changeMembership(r.ctx, r.settings, r.state)
        #expect(model.log == ["remove h5 via h1", "stop and wipe h5", "remove h4 via h1", "stop and wipe h4"])
        #expect(model.voters == ["h1", "h2", "h3"])
        #expect(model.problems.isEmpty, "\(model.problems)")
    }

    @Test("a member that fails to restart stops the roll there: the members after it, the leader among them, keep running their old files")
    func failedRestartStopsTheRoll() async throws {
        let r = try await run(members: ["h1", "h2", "h3"], running: ["h1", "h2", "h3"], leader: "h1", changed: ["h1", "h2", "h3"])
        let model = r.model
        model.failRestart(on: "h2")
        do {
            try await EtcdWorkflow.rollingRestart(r.ctx, r.settings, r.state)
            Issue.record("the roll must stop at the member that did not restart")
        } catch let error as WorkflowError {
            guard case let .hostFailed(host, what, _, next) = error else { Issue.record("expected hostFailed, got \(error)"); return }
            #expect(host == "h2" && what == "restart etcd")
            #expect(next.contains("the remaining members were not restarted"))
        }
        #expect(model.log == ["restart h2 failed"])
        #expect(model.problems.isEmpty, "\(model.problems)")
    }

    @Test("with a member down, the roll refuses to restart another (its health gate names the member) and restarts nothing")
    func unhealthyClusterIsNotRestarted() async throws {
        let r = try await run(members: ["h1", "h2", "h3"], running: ["h1", "h2", "h3"], leader: "h1", changed: ["h2", "h3"], healthTimeout: 1)
        let model = r.model
        model.stop("h1")
        do {
            try await EtcdWorkflow.rollingRestart(r.ctx, r.settings, r.state)
            Issue.record("a restart while a member is down must be refused")
        } catch let error as WorkflowError {
            guard case let .hostFailed(host, what, _, _) = error else { Issue.record("expected hostFailed, got \(error)"); return }
            #expect(host == "h1" && what.contains("before restarting"))
        }
        #expect(model.log == ["h1 down"], "nothing restarted after h1 went down")
        #expect(model.problems.isEmpty, "\(model.problems)")
    }
}
