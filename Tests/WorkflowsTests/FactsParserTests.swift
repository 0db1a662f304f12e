import Foundation
import Inventory
import Testing
import TestSupport
@testable import Workflows

func fixture(_ name: String) throws -> String {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil))
    return try String(contentsOf: url, encoding: .utf8)
}

@Suite("Facts parsing (fixtures from real etcd 3.4.23 and 3.5.1 clusters)", .tags(.unit))
struct FactsParserTests {
    @Test("parses member lists of 3.4 and 3.5, including 64-bit IDs and an unstarted learner", arguments: ["3.4", "3.5"])
    func memberList(_ v: String) throws {
        let list = try FactsParser.etcdMemberList(try fixture("etcd-\(v)/member-list.json"))
        #expect(list.members.count == 3)
        #expect(Set(list.members.map(\.name)) == ["m1", "m2", "m3"])
        #expect(list.members.allSatisfy { $0.hasStarted && !$0.isLearner && $0.peerURLs.count == 1 })
        let learners = try FactsParser.etcdMemberList(try fixture("etcd-\(v)/member-list-learner.json"))
        let learner = try #require(learners.members.first { $0.isLearner })
        #expect(learner.name == "")
        #expect(!learner.hasStarted)
        #expect(learner.clientURLs.isEmpty)
        #expect(learners.members.count == 4)
    }

    @Test("parses endpoint status and finds exactly one leader", arguments: ["3.4", "3.5"])
    func endpointStatus(_ v: String) throws {
        let status = try FactsParser.etcdEndpointStatus(try fixture("etcd-\(v)/endpoint-status.json"))
        #expect(status.count == 3)
        #expect(status.filter(\.isLeader).count == 1)
        #expect(status.allSatisfy { $0.version == (v == "3.4" ? "3.4.23" : "3.5.1") && $0.dbSize > 0 && $0.revision >= 2 })
        #expect(Set(status.map(\.leader)).count == 1)
    }

    @Test("parses endpoint health with one member down", arguments: ["3.4", "3.5"])
    func endpointHealth(_ v: String) throws {
        let all = try FactsParser.etcdEndpointHealth(try fixture("etcd-\(v)/endpoint-health.json"))
        #expect(all.count == 3 && all.allSatisfy(\.health))
        let down = try FactsParser.etcdEndpointHealth(try fixture("etcd-\(v)/endpoint-health-one-down.json"))
        let sick = down.filter { !$0.health }
        #expect(sick.count == 1)
        #expect(sick.first?.error == "context deadline exceeded")
        #expect(FactsParser.endpointKey(sick.first?.endpoint ?? "") == FactsParser.endpointKey("http://" + (sick.first?.endpoint ?? "")))
    }

    @Test("reads etcd versions from etcd --version and etcdctl version")
    func versions() throws {
        #expect(FactsParser.etcdVersion(try fixture("etcd-3.4/etcd-version.txt")) == SemanticVersion(3, 4, 23))
        #expect(FactsParser.etcdVersion(try fixture("etcd-3.5/etcd-version.txt")) == SemanticVersion(3, 5, 1))
        #expect(FactsParser.etcdVersion(try fixture("etcd-3.5/etcdctl-version.txt")) == SemanticVersion(3, 5, 1))
        #expect(FactsParser.etcdVersion("sh: etcd: not found") == nil)
    }

    @Test("garbage instead of JSON is an error naming the command and host")
    func garbage() {
        #expect(throws: EtcdFactsError.self) { try FactsParser.etcdMemberList("Error: context deadline exceeded", host: "h2") }
        do {
            _ = try FactsParser.etcdEndpointStatus("nope", host: "h2")
        } catch {
            #expect("\(error)".contains("h2") && "\(error)".contains("endpoint status"))
        }
    }

    @Test("parses os-release, uname -m and sha256sum output")
    func osAndFiles() throws {
        let os = try #require(FactsParser.osRelease(try fixture("os-release-debian12")))
        #expect(os.id == "debian")
        #expect(os.versionID == "12")
        #expect(FactsParser.architecture(unameMachine: "x86_64\n") == "amd64")
        #expect(FactsParser.architecture(unameMachine: "aarch64") == "arm64")
        #expect(FactsParser.architecture(unameMachine: "mips") == nil)
        let sums = FactsParser.sha256sums("""
        e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  /etc/etcd/etcd.env
        9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 */usr/local/bin/etcd
        sha256sum: /etc/missing: No such file or directory
        """)
        #expect(sums == ["/etc/etcd/etcd.env": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                         "/usr/local/bin/etcd": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"])
    }

    @Test("parses systemctl show blocks with start timestamps")
    func systemctlShow() throws {
        // Captured from a lab host after `capstan apply` (systemd prints properties in its own order).
        let units = FactsParser.systemdUnits(try fixture("systemctl-show.txt"))
        let etcd = try #require(units["etcd.service"])
        #expect(etcd.isActive && etcd.isLoaded)
        #expect(etcd.subState == "running")
        #expect(etcd.unitFileState == "enabled")
        #expect(etcd.activeEnterMonotonic == 3_079_622_555)
        #expect(etcd.execMainStartTimestamp == "Sun 2026-11-22 03:33:05 UTC")
        #expect(etcd.mainPID == 161)
        #expect(etcd.restarts == 0)
        let timer = try #require(units["etcd-backup.timer"])
        #expect(timer.loadState == "not-found" && !timer.isLoaded)
        #expect(timer.activeState == "inactive")
        #expect(timer.unitFileState == nil)
        #expect(timer.activeEnterMonotonic == 0)
    }
}
