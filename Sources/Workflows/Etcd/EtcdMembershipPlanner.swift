/// A member the inventory asks for.
public struct EtcdDesiredMember: Sendable, Equatable {
    public var name: String
    public var peerURL: String
    public var clientURL: String

    public init(name: String, peerURL: String, clientURL: String) {
        self.name = name
        self.peerURL = peerURL
        self.clientURL = clientURL
    }

    /// A member on `address` with etcd's standard ports and TLS.
    public init(name: String, address: String) {
        let host = address.contains(":") ? "[\(address)]" : address
        self.init(name: name, peerURL: "https://\(host):2380", clientURL: "https://\(host):2379")
    }
}

/// A member as seen in the member list, with its health from `endpoint health`.
public struct EtcdObservedMember: Sendable, Equatable {
    public var member: EtcdMember
    public var healthy: Bool
    /// Why it is unhealthy (etcdctl's error), for refusals.
    public var problem: String?

    public init(member: EtcdMember, healthy: Bool, problem: String? = nil) {
        self.member = member
        self.healthy = healthy
        self.problem = problem
    }
}

/// The cluster as observed. No members means no cluster was found on any etcd host.
public struct EtcdObservation: Sendable, Equatable {
    public var members: [EtcdObservedMember]
    public var leaderID: UInt64?

    public init(members: [EtcdObservedMember], leaderID: UInt64? = nil) {
        self.members = members
        self.leaderID = leaderID
    }
}

public struct EtcdPlanOptions: Sendable, Equatable {
    /// Act although members are unhealthy (still at most one membership change, never without quorum).
    public var force: Bool
    /// Members to replace (remove, wipe, add again), e.g. a host that was reinstalled.
    public var replace: Set<String>

    public init(force: Bool = false, replace: Set<String> = []) {
        self.force = force
        self.replace = replace
    }
}

/// One membership step, executed in order, each waiting for health before the next.
public enum EtcdMembershipStep: Sendable, Equatable, CustomStringConvertible {
    /// Start these members together as a new cluster (`--initial-cluster-state new`).
    case bootstrap(members: [String], initialCluster: String)
    /// `etcdctl member add NAME --learner --peer-urls=URL`.
    case addLearner(name: String, peerURL: String)
    /// Start the member with `--initial-cluster-state existing` and this initial cluster.
    case startJoining(name: String, initialCluster: String)
    /// `etcdctl member promote ID` once the learner has caught up.
    case promote(name: String)
    /// `etcdctl member remove ID` (before the member is stopped, so the cluster never waits for it).
    case remove(name: String, id: UInt64)
    /// Stop etcd on the host and wipe its data directory.
    case stopAndWipe(name: String)

    public var description: String {
        switch self {
        case let .bootstrap(members, _): return "bootstrap a new etcd cluster with \(members.joined(separator: ", "))"
        case let .addLearner(name, url): return "add \(name) (\(url)) as a learner"
        case let .startJoining(name, _): return "start \(name) joining the existing cluster"
        case let .promote(name): return "promote learner \(name) to voting member"
        case let .remove(name, id): return "remove member \(name.isEmpty ? "(unstarted)" : name) (\(String(id, radix: 16))) from the cluster"
        case let .stopAndWipe(name): return "stop etcd on \(name) and wipe its data directory"
        }
    }
}

public struct EtcdMembershipPlan: Sendable, Equatable {
    public var steps: [EtcdMembershipStep]
    /// Facts worth telling the user (e.g. members that are unhealthy but allowed by --force).
    public var notes: [String]
}

/// Membership decisions as pure functions of the inventory's etcd hosts and the observed cluster.
public enum EtcdPlanner {
    /// Votes needed for a decision in a cluster of `voters` voting members.
    public static func quorum(_ voters: Int) -> Int { voters / 2 + 1 }

    public static func membership(
        desired: [EtcdDesiredMember], observed: EtcdObservation, options: EtcdPlanOptions = EtcdPlanOptions()
    ) throws -> EtcdMembershipPlan {
        let names = desired.map(\.name)
        if Set(names).count != names.count {
            throw WorkflowError.inventory("etcd member names must be unique; got \(names.joined(separator: ", "))")
        }
        if observed.members.isEmpty {
            guard !desired.isEmpty else { return EtcdMembershipPlan(steps: [], notes: []) }
            return EtcdMembershipPlan(steps: [.bootstrap(members: names, initialCluster: initialCluster(desired))], notes: [])
        }
        if desired.isEmpty {
            throw WorkflowError.refused(
                what: "remove every etcd member",
                found: "the inventory has no etcd hosts but a cluster with \(observed.members.count) member(s) runs",
                next: "give hosts the etcd role again, or tear the cluster down with `capstan reset`")
        }

        let voters = observed.members.filter { !$0.member.isLearner }
        let healthyVoters = voters.filter(\.healthy)
        let need = quorum(voters.count)
        let unhealthy = voters.filter { !$0.healthy }
        if healthyVoters.count < need {
            throw WorkflowError.refused(
                what: "change the etcd cluster",
                found: "quorum is lost: \(healthyVoters.count) of \(voters.count) voting members are healthy, \(need) are needed (unhealthy: \(describe(unhealthy)))",
                next: "bring the unhealthy members back, or restore the cluster from a backup (`capstan backup restore`); membership cannot change without quorum")
        }

        // Match observed members to desired ones: started members by name, unstarted ones by peer URL.
        var matched: [String: EtcdObservedMember] = [:]
        var extra: [EtcdObservedMember] = []
        for observedMember in observed.members {
            let m = observedMember.member
            if m.hasStarted, let d = desired.first(where: { $0.name == m.name }) {
                if !m.peerURLs.contains(d.peerURL) && !options.replace.contains(d.name) {
                    throw WorkflowError.refused(
                        what: "change member \(d.name)",
                        found: "its peer URL is \(m.peerURLs.joined(separator: ",")) in the cluster but \(d.peerURL) in the inventory",
                        next: "if the host's address changed, replace the member (--replace \(d.name))")
                }
                matched[d.name] = observedMember
            } else if !m.hasStarted, let d = desired.first(where: { m.peerURLs.contains($0.peerURL) }), matched[d.name] == nil {
                matched[d.name] = observedMember
            } else {
                extra.append(observedMember)
            }
        }
        for name in options.replace.sorted() where !names.contains(name) {
            throw WorkflowError.inventory("cannot replace \(name): it is not an etcd host in the inventory (etcd hosts: \(names.joined(separator: ", ")))")
        }

        var notes: [String] = []
        var changes: [[EtcdMembershipStep]] = []
        // Replacements first: they repair the cluster.
        for d in desired where options.replace.contains(d.name) {
            guard let current = matched[d.name] else { continue }
            changes.append([
                .remove(name: d.name, id: current.member.id), .stopAndWipe(name: d.name),
                .addLearner(name: d.name, peerURL: d.peerURL), .startJoining(name: d.name, initialCluster: ""),
                .promote(name: d.name),
            ])
        }
        // Additions before removals, so the cluster never shrinks below what it had.
        for d in desired where !options.replace.contains(d.name) {
            guard let current = matched[d.name] else {
                changes.append([.addLearner(name: d.name, peerURL: d.peerURL), .startJoining(name: d.name, initialCluster: ""), .promote(name: d.name)])
                continue
            }
            if !current.member.hasStarted {
                changes.append([.startJoining(name: d.name, initialCluster: ""), .promote(name: d.name)])
            } else if current.member.isLearner {
                changes.append([.promote(name: d.name)])
            }
        }
        // Removals: followers first, the leader last.
        let removals = extra.sorted { a, b in (a.member.id == observed.leaderID ? 1 : 0) < (b.member.id == observed.leaderID ? 1 : 0) }
        for r in removals {
            var steps: [EtcdMembershipStep] = [.remove(name: r.member.name, id: r.member.id)]
            if r.member.hasStarted { steps.append(.stopAndWipe(name: r.member.name)) }
            changes.append(steps)
        }

        if !unhealthy.isEmpty {
            let repairing = unhealthy.allSatisfy { options.replace.contains($0.member.name) }
            if !repairing && !options.force {
                throw WorkflowError.refused(
                    what: "change the etcd cluster while it is unhealthy",
                    found: "unhealthy: \(describe(unhealthy)); \(healthyVoters.count) of \(voters.count) voting members healthy",
                    next: "bring the members back (check `journalctl -u etcd` on them), replace a dead one with --replace NAME, or pass --force to go ahead anyway")
            }
            if changes.count > 1 {
                throw WorkflowError.refused(
                    what: "make \(changes.count) membership changes at once",
                    found: "the cluster is unhealthy (\(describe(unhealthy)))",
                    next: "make one change at a time while members are unhealthy: run again with a single change, then the next")
            }
            if !repairing { notes.append("going ahead with unhealthy members because of --force: \(describe(unhealthy))") }
        }

        // Simulate every step against quorum, and fill in each joining member's initial cluster.
        var current: [(name: String, peerURL: String, voter: Bool, healthy: Bool)] = observed.members.map {
            (name: $0.member.name, peerURL: $0.member.peerURLs.first ?? "", voter: !$0.member.isLearner, healthy: $0.healthy)
        }
        var steps: [EtcdMembershipStep] = []
        for step in changes.flatMap({ $0 }) {
            switch step {
            case let .remove(name, id):
                let index = observed.members.firstIndex(where: { $0.member.id == id }).flatMap { i in
                    current.firstIndex(where: { $0.name == observed.members[i].member.name && $0.peerURL == (observed.members[i].member.peerURLs.first ?? "") })
                }
                guard let index else { continue }
                let removed = current[index]
                let votersNow = current.filter(\.voter)
                if removed.voter {
                    if votersNow.count <= 2 {
                        throw WorkflowError.refused(
                            what: "remove \(name) from the etcd cluster",
                            found: "the cluster has \(votersNow.count) voting member(s); removing one leaves a cluster that loses quorum with any single failure (or none at all)",
                            next: "add the new member first (grow to 3), then remove")
                    }
                    let remaining = votersNow.filter { $0.name != removed.name || $0.peerURL != removed.peerURL }
                    let healthyRemaining = remaining.filter(\.healthy).count
                    if healthyRemaining < quorum(remaining.count) {
                        throw WorkflowError.refused(
                            what: "remove \(name) from the etcd cluster",
                            found: "after removal \(healthyRemaining) of \(remaining.count) voting members would be healthy, \(quorum(remaining.count)) are needed",
                            next: "bring the unhealthy members back first")
                    }
                }
                current.remove(at: index)
                steps.append(step)
            case let .addLearner(name, peerURL):
                current.append((name: name, peerURL: peerURL, voter: false, healthy: true))
                steps.append(step)
            case let .startJoining(name, _):
                let cluster = current.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
                steps.append(.startJoining(name: name, initialCluster: cluster))
            case let .promote(name):
                if let index = current.firstIndex(where: { $0.name == name }) { current[index].voter = true }
                steps.append(step)
            case .bootstrap, .stopAndWipe:
                steps.append(step)
            }
        }
        return EtcdMembershipPlan(steps: steps, notes: notes)
    }

    /// The order to restart members in: one at a time, the leader last so leadership moves only once.
    public static func rollingOrder(members: [String], leader: String?) -> [String] {
        members.filter { $0 != leader } + members.filter { $0 == leader }
    }

    /// `name=peerURL,…` for `--initial-cluster`.
    public static func initialCluster(_ members: [EtcdDesiredMember]) -> String {
        members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
    }

    private static func describe(_ members: [EtcdObservedMember]) -> String {
        members.map { m in
            let name = m.member.name.isEmpty ? String(m.member.id, radix: 16) : m.member.name
            return m.problem.map { "\(name) (\($0))" } ?? name
        }.joined(separator: ", ")
    }
}
