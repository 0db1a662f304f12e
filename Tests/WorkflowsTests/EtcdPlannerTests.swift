import Foundation
import Testing
import TestSupport
@testable import Workflows

let h = ["h1", "h2", "h3", "h4", "h5"].enumerated().map { EtcdDesiredMember(name: $1, address: "10.213.0.\(11 + $0)") }

func observed(_ desired: [EtcdDesiredMember], unhealthy: Set<String> = [], learners: Set<String> = [], leader: String? = nil) -> EtcdObservation {
    let members = desired.enumerated().map { i, d in
        EtcdObservedMember(
            member: EtcdMember(id: UInt64(0xA0 + i), name: d.name, peerURLs: [d.peerURL], clientURLs: [d.clientURL], isLearner: learners.contains(d.name)),
            healthy: !unhealthy.contains(d.name), problem: unhealthy.contains(d.name) ? "context deadline exceeded" : nil)
    }
    let leaderID = leader.flatMap { l in desired.firstIndex { $0.name == l } }.map { UInt64(0xA0 + $0) }
    return EtcdObservation(members: members, leaderID: leaderID)
}

func refusal(_ body: () throws -> Any) -> String? {
    do {
        _ = try body()
        return nil
    } catch let error as WorkflowError {
        if case .refused = error { return "\(error)" }
        return nil
    } catch {
        return nil
    }
}

@Suite("EtcdPlanner: membership and quorum", .tags(.unit))
struct EtcdPlannerTests {
    @Test("no cluster anywhere: bootstrap all inventory members together")
    func bootstrap() throws {
        let plan = try EtcdPlanner.membership(desired: Array(h[0..<3]), observed: EtcdObservation(members: []))
        #expect(plan.steps == [.bootstrap(members: ["h1", "h2", "h3"], initialCluster: "h1=https://10.213.0.11:2380,h2=https://10.213.0.12:2380,h3=https://10.213.0.13:2380")])
    }

    @Test("healthy and matching: nothing to do")
    func noop() throws {
        #expect(try EtcdPlanner.membership(desired: Array(h[0..<3]), observed: observed(Array(h[0..<3]))).steps.isEmpty)
    }

    @Test("scale 3 → 5: each new member added as learner, started with the current cluster, then promoted")
    func scaleUp() throws {
        let plan = try EtcdPlanner.membership(desired: h, observed: observed(Array(h[0..<3])))
        #expect(plan.steps == [
            .addLearner(name: "h4", peerURL: "https://10.213.0.14:2380"),
            .startJoining(name: "h4", initialCluster: "h1=https://10.213.0.11:2380,h2=https://10.213.0.12:2380,h3=https://10.213.0.13:2380,h4=https://10.213.0.14:2380"),
            .promote(name: "h4"),
            .addLearner(name: "h5", peerURL: "https://10.213.0.15:2380"),
            .startJoining(name: "h5", initialCluster: "h1=https://10.213.0.11:2380,h2=https://10.213.0.12:2380,h3=https://10.213.0.13:2380,h4=https://10.213.0.14:2380,h5=https://10.213.0.15:2380"),
            .promote(name: "h5"),
        ])
    }

    @Test("scale 5 → 3: members removed from the list before stop and wipe, the leader last")
    func scaleDown() throws {
        let plan = try EtcdPlanner.membership(desired: Array(h[0..<3]), observed: observed(h, leader: "h4"))
        #expect(plan.steps == [.remove(name: "h5", id: 0xA4), .stopAndWipe(name: "h5"), .remove(name: "h4", id: 0xA3), .stopAndWipe(name: "h4")])
    }

    @Test("replacing the dead first member: remove, wipe, add as learner with the survivors' cluster, promote")
    func replaceFirst() throws {
        let plan = try EtcdPlanner.membership(desired: Array(h[0..<3]), observed: observed(Array(h[0..<3]), unhealthy: ["h1"], leader: "h2"),
                                              options: EtcdPlanOptions(replace: ["h1"]))
        #expect(plan.steps == [
            .remove(name: "h1", id: 0xA0), .stopAndWipe(name: "h1"),
            .addLearner(name: "h1", peerURL: "https://10.213.0.11:2380"),
            .startJoining(name: "h1", initialCluster: "h2=https://10.213.0.12:2380,h3=https://10.213.0.13:2380,h1=https://10.213.0.11:2380"),
            .promote(name: "h1"),
        ])
        #expect(plan.notes.isEmpty)
    }

    @Test("an added-but-unstarted learner is started and promoted, not added twice")
    func resumesLearner() throws {
        var obs = observed(Array(h[0..<3]))
        obs.members.append(EtcdObservedMember(member: EtcdMember(id: 0xB0, name: "", peerURLs: [h[3].peerURL], isLearner: true), healthy: false))
        let plan = try EtcdPlanner.membership(desired: Array(h[0..<4]), observed: obs)
        #expect(plan.steps.map(\.description) == ["start h4 joining the existing cluster", "promote learner h4 to voting member"])
    }

    @Test("refuses to remove from a 2-member cluster and says why")
    func twoMembers() {
        let message = refusal { try EtcdPlanner.membership(desired: [h[0]], observed: observed(Array(h[0..<2]))) }
        #expect(message?.contains("2 voting member(s)") == true)
        #expect(message?.contains("add the new member first") == true)
    }

    @Test("refuses when quorum is already lost, even with --force")
    func quorumLost() {
        let message = refusal {
            try EtcdPlanner.membership(desired: Array(h[0..<3]), observed: observed(Array(h[0..<3]), unhealthy: ["h2", "h3"]), options: EtcdPlanOptions(force: true))
        }
        #expect(message?.contains("quorum is lost: 1 of 3") == true)
        #expect(message?.contains("h2 (context deadline exceeded)") == true)
    }

    @Test("refuses to act while a member is unhealthy unless --force, naming the member and its error")
    func unhealthy() throws {
        let obs = observed(Array(h[0..<3]), unhealthy: ["h3"])
        let message = refusal { try EtcdPlanner.membership(desired: Array(h[0..<3]), observed: obs) }
        #expect(message?.contains("unhealthy: h3 (context deadline exceeded); 2 of 3") == true)
        #expect(message?.contains("--force") == true)
        let forced = try EtcdPlanner.membership(desired: Array(h[0..<3]), observed: obs, options: EtcdPlanOptions(force: true))
        #expect(forced.steps.isEmpty)
        #expect(forced.notes.first?.contains("h3") == true)
    }

    @Test("with an unhealthy member, more than one change at a time is refused even with --force")
    func oneChangeWhenUnhealthy() {
        let message = refusal {
            try EtcdPlanner.membership(desired: h, observed: observed(Array(h[0..<3]), unhealthy: ["h3"]), options: EtcdPlanOptions(force: true))
        }
        #expect(message?.contains("make 2 membership changes at once") == true)
    }

    @Test("refuses a removal that would leave too few healthy members")
    func removalLosesQuorum() {
        // 4 voters, h4 to be removed, h2 and h3 unhealthy: 2 of 4 healthy is below quorum 3 already.
        let lost = refusal { try EtcdPlanner.membership(desired: Array(h[0..<3]), observed: observed(Array(h[0..<4]), unhealthy: ["h2", "h3"]), options: EtcdPlanOptions(force: true)) }
        #expect(lost?.contains("quorum is lost") == true)
        // 5 voters, h1 and h2 down (3 of 5 healthy, quorum kept): removing healthy h5 leaves 2 of 4 healthy < 3.
        let removal = refusal { try EtcdPlanner.membership(desired: Array(h[0..<4]), observed: observed(h, unhealthy: ["h1", "h2"]), options: EtcdPlanOptions(force: true)) }
        #expect(removal?.contains("after removal 2 of 4 voting members would be healthy, 3 are needed") == true)
    }

    @Test("a changed peer URL needs an explicit replace")
    func peerURLChanged() throws {
        var desired = Array(h[0..<3])
        desired[1] = EtcdDesiredMember(name: "h2", address: "10.213.0.99")
        let message = refusal { try EtcdPlanner.membership(desired: desired, observed: observed(Array(h[0..<3]))) }
        #expect(message?.contains("--replace h2") == true)
        let plan = try EtcdPlanner.membership(desired: desired, observed: observed(Array(h[0..<3])), options: EtcdPlanOptions(replace: ["h2"]))
        #expect(plan.steps.first == .remove(name: "h2", id: 0xA1))
        #expect(plan.steps.contains(.addLearner(name: "h2", peerURL: "https://10.213.0.99:2380")))
    }

    @Test("refuses to drop every member and rejects replacing a host that is not an etcd host")
    func invalid() {
        #expect(refusal { try EtcdPlanner.membership(desired: [], observed: observed(Array(h[0..<3]))) }?.contains("capstan reset") == true)
        #expect(throws: WorkflowError.self) {
            try EtcdPlanner.membership(desired: Array(h[0..<3]), observed: observed(Array(h[0..<3])), options: EtcdPlanOptions(replace: ["h9"]))
        }
    }

    @Test("plans from the real 3.5 member list: the inventory matches the running cluster")
    func fromRealMemberList() throws {
        let list = try FactsParser.etcdMemberList(try fixture("etcd-3.5/member-list.json"))
        let desired = list.members.map { EtcdDesiredMember(name: $0.name, peerURL: $0.peerURLs[0], clientURL: $0.clientURLs[0]) }
        let obs = EtcdObservation(members: list.members.map { EtcdObservedMember(member: $0, healthy: true) })
        #expect(try EtcdPlanner.membership(desired: desired, observed: obs).steps.isEmpty)
        let plan = try EtcdPlanner.membership(desired: Array(desired.sorted { $0.name < $1.name }.prefix(2)) + [h[3]], observed: obs)
        #expect(plan.steps.first == .addLearner(name: "h4", peerURL: h[3].peerURL))
        #expect(plan.steps.last == .stopAndWipe(name: "m3"))
    }

    @Test("rolling restarts go one member at a time with the leader last", arguments: [
        (["h1", "h2", "h3"], "h1", ["h2", "h3", "h1"]),
        (["h1", "h2", "h3"], "h3", ["h1", "h2", "h3"]),
        (["h1", "h2", "h3"], nil, ["h1", "h2", "h3"]),
    ] as [([String], String?, [String])])
    func rolling(_ members: [String], _ leader: String?, _ expected: [String]) {
        #expect(EtcdPlanner.rollingOrder(members: members, leader: leader) == expected)
    }

    @Test("quorum sizes", arguments: [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)])
    func quorum(_ n: Int, _ q: Int) { #expect(EtcdPlanner.quorum(n) == q) }
}
