import Foundation
import Testing
import TestSupport
import Inventory
@testable import Workflows

@Suite("etcd facts gathering and status report (pure parts)", .tags(.unit))
struct EtcdFactsGatherTests {
    func spec(_ names: [String]) throws -> EtcdClusterSpec {
        let hosts = names.enumerated().map { i, n in HostSpec(name: n, address: "10.0.0.\(i + 1)", roles: [.controlPlane, .etcd]) }
        return try EtcdClusterSpec(inventory: Inventory(name: "t", kubernetesVersion: SemanticVersion(1, 31, 4), etcd: EtcdSpec(version: SemanticVersion(3, 4, 23)), hosts: hosts))
    }

    @Test("parses the host facts script's sections: unit, version, checksums, data dir, user")
    func hostSections() throws {
        let text = """
            @@os
            ID=debian
            VERSION_ID="12"
            @@arch
            x86_64
            @@unit
            \(try fixture("systemctl-show.txt"))
            @@version
            \(try fixture("etcd-3.4/etcd-version.txt"))
            @@sums
            \(String(repeating: "a", count: 64))  /usr/local/bin/etcd
            @@data
            member
            @@datadir
            700 etcd etcd
            @@user
            999
            @@end
            """
        let facts = EtcdFactsGatherer.parseHost("h1", text)
        #expect(facts.reachable)
        #expect(facts.facts.os?.id == "debian")
        #expect(facts.facts.architecture == "amd64")
        #expect(facts.isActive && facts.isEnabled)
        #expect(facts.facts.etcdVersion == SemanticVersion(3, 4, 23))
        #expect(facts.facts.fileChecksums["/usr/local/bin/etcd"] == String(repeating: "a", count: 64))
        #expect(facts.hasData && facts.userExists && facts.dataDirStat == "700 etcd etcd")
    }

    @Test("binaries vouched for by the host's checksum record are not hashed; a changed or unrecorded one is left to hash")
    func recordedBinaries() {
        let sum = String(repeating: "b", count: 64)
        let text = """
            @@os
            ID=debian
            @@arch
            x86_64
            @@unit
            @@version
            @@binstat
            100:21529688:1795329280.047286294 /usr/local/bin/etcd
            101:17157344:1795329299.000000000 /usr/local/bin/etcdctl
            102:100:1795329280.000000000 /usr/local/bin/etcdutl
            @@record
            \(sum) 100:21529688:1795329280.047286294 /usr/local/bin/etcd
            \(sum) 101:17157344:1795329280.000000000 /usr/local/bin/etcdctl
            @@data
            @@datadir
            @@user
            @@end
            """
        let facts = EtcdFactsGatherer.parseHost("h1", text)
        #expect(facts.facts.fileChecksums == ["/usr/local/bin/etcd": sum])
        #expect(facts.unrecordedBinaries == ["/usr/local/bin/etcdctl", "/usr/local/bin/etcdutl"])
    }

    @Test("output cut short (no @@end) marks the host unreadable; a bare host has no data, user or unit")
    func truncatedAndBare() {
        #expect(!EtcdFactsGatherer.parseHost("h1", "@@os\nID=debian\n@@arch\n").reachable)
        let bare = EtcdFactsGatherer.parseHost("h2", "@@os\nID=debian\n@@arch\nx86_64\n@@unit\nId=etcd.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\n@@version\n@@sums\n@@data\n@@datadir\n@@user\n@@end\n")
        #expect(bare.reachable && !bare.hasData && !bare.userExists && !bare.isActive && bare.dataDirStat == nil)
    }

    @Test("cluster facts with one member down: observation marks it unhealthy, status report names it and is unhealthy")
    func oneDown() throws {
        let text = "@@members\n\(try fixture("etcd-3.4/member-list-one-down.json"))\n@@status\n\(try fixture("etcd-3.4/endpoint-status-one-down.json"))\n@@health\n\(try fixture("etcd-3.4/endpoint-health-one-down.json"))\n@@alarms\n@@end\n"
        let cluster = try #require(EtcdFactsGatherer.parseCluster("m1", text))
        #expect(cluster.memberList?.members.count == 3)
        #expect(!cluster.isHealthy)
        let unhealthy = cluster.observation.members.filter { !$0.healthy }.map(\.member.name)
        #expect(unhealthy == ["m3"])
        #expect(cluster.leaderID == 1413030366482205945)

        let hosts = ["m1", "m2", "m3"].map { EtcdFactsGatherer.parseHost($0, "@@end\n") }
        let report = EtcdStatusReport.make(spec: try spec(["m1", "m2", "m3"]), hosts: hosts, cluster: cluster)
        #expect(!report.healthy)
        #expect(report.leader == "m2")
        #expect(report.rows.map(\.healthy) == [true, true, false])
        #expect(report.rows[2].healthError == "context deadline exceeded")
        #expect(report.text.contains("UNHEALTHY"))
    }

    @Test("a healthy cluster's status report is healthy and lists each member's role; a host not answering over SSH makes it unhealthy, with the reason")
    func healthy() throws {
        let text = "@@members\n\(try fixture("etcd-3.5/member-list.json"))\n@@status\n\(try fixture("etcd-3.5/endpoint-status.json"))\n@@health\n\(try fixture("etcd-3.5/endpoint-health.json"))\n@@alarms\n@@end\n"
        let cluster = try #require(EtcdFactsGatherer.parseCluster("x", text))
        #expect(cluster.isHealthy)
        let names = cluster.memberList?.members.map(\.name).sorted() ?? []
        let report = EtcdStatusReport.make(spec: try spec(names), hosts: names.map { EtcdFactsGatherer.parseHost($0, "@@end\n") }, cluster: cluster)
        #expect(report.healthy)
        #expect(report.rows.filter(\.isLeader).count == 1)

        // A host that does not answer over SSH makes the verdict unhealthy although etcd answers through
        // the others; its row and the list name the SSH layer's reason.
        var cut = report
        cut.rows[0].reachable = false
        cut.rows[0].error = "authentication failed for root with ~/.ssh/id_ed25519: check spec.ssh.user and spec.ssh.identityFile"
        cut.attach(unreachable: [cut.rows[0].host: cut.rows[0].error ?? "", "w1": "connection timed out after 10 s"])
        #expect(!cut.healthy)
        #expect(cut.text.contains("UNREACHABLE: authentication failed for root") && cut.text.contains("(etcd healthy)"), "\(cut.text)")
        #expect(cut.text.contains("not answering over SSH: ") && cut.text.contains("w1 (connection timed out after 10 s)"), "\(cut.text)")
        #expect(cut.text.hasSuffix("UNHEALTHY\n"))
        var fine = report
        fine.attach(unreachable: [:])
        #expect(fine.healthy && !fine.text.contains("not answering"))
    }

    @Test("a managed inventory is refused for etcd work with the reason")
    func managedRefused() {
        var inventory = Inventory(name: "m", kubernetesVersion: SemanticVersion(1, 31, 4))
        inventory.controlPlane.mode = .managed
        #expect(throws: WorkflowError.self) { try EtcdClusterSpec(inventory: inventory) }
    }
}
