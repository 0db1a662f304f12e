import Inventory
import Testing
import TestSupport
@testable import Workflows

@Suite("A plain apply never changes the etcd version", .tags(.unit))
struct EtcdVersionGateTests {
    let v3423 = SemanticVersion(3, 4, 23)
    let v351 = SemanticVersion(3, 5, 1)

    @Test("a newer inventory version is refused and names capstan upgrade apply")
    func newerRefused() throws {
        let refusal = try #require(EtcdVersionGate.refusal(running: ["h1": v3423, "h2": v3423], target: v351, allowVersionChange: false))
        guard case let .refused(_, found, next) = refusal else { Issue.record("not a refusal: \(refusal)"); return }
        #expect(found.contains("h1 runs 3.4.23") && found.contains("h2 runs 3.4.23"))
        #expect(next.contains("capstan upgrade apply"))
    }

    @Test("a half-upgraded cluster is refused too (resume goes through capstan upgrade apply)")
    func mixedRefused() throws {
        let refusal = try #require(EtcdVersionGate.refusal(running: ["h1": v351, "h2": v3423], target: v351, allowVersionChange: false))
        #expect("\(refusal)".contains("h2 runs 3.4.23"))
        #expect(!"\(refusal)".contains("h1 runs"))
    }

    @Test("an older inventory version is refused as a downgrade and names rollback")
    func olderRefused() throws {
        let refusal = try #require(EtcdVersionGate.refusal(running: ["h1": v351], target: v3423, allowVersionChange: false))
        #expect("\(refusal)".contains("never downgrades"))
        #expect("\(refusal)".contains("capstan upgrade rollback"))
    }

    @Test("same version, bare hosts, or an upgrade run pass")
    func allowed() {
        #expect(EtcdVersionGate.refusal(running: ["h1": v351], target: v351, allowVersionChange: false) == nil)
        #expect(EtcdVersionGate.refusal(running: [:], target: v351, allowVersionChange: false) == nil)
        #expect(EtcdVersionGate.refusal(running: ["h1": v3423], target: v351, allowVersionChange: true) == nil)
    }

    @Test("running versions come from the endpoint status (what the process runs), not only the binary on disk")
    func runningFromStatus() throws {
        let members = """
        {"header":{"cluster_id":1,"member_id":2,"raft_term":2},"members":[{"ID":2,"name":"h1","peerURLs":["https://10.0.0.1:2380"],"clientURLs":["https://10.0.0.1:2379"]}]}
        """
        let status = """
        [{"Endpoint":"https://10.0.0.1:2379","Status":{"header":{"cluster_id":1,"member_id":2,"revision":5,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":2,"raftIndex":9,"raftTerm":2}}]
        """
        let cluster = EtcdClusterFacts(reportedBy: "h1", memberList: try FactsParser.etcdMemberList(members, host: "h1"),
                                       statuses: try FactsParser.etcdEndpointStatus(status, host: "h1"), health: [], alarms: [])
        var facts = HostFacts(host: "h1")
        facts.etcdVersion = v351
        let host = EtcdHostFacts(host: "h1", unreachable: nil, facts: facts, hasData: true, dataDirStat: "700 etcd etcd", userExists: true)
        #expect(EtcdVersionGate.running(hosts: [host], cluster: cluster) == ["h1": v3423])
    }
}
