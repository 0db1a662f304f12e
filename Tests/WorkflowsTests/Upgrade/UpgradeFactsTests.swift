import Foundation
import Inventory
import PKI
import Testing
@testable import Workflows

@Suite("What capstan upgrade reads from a host, and its upgrade.json record")
struct UpgradeFactsTests {
    @Test("versions of etcd and every Kubernetes binary and the free space are parsed from one script's output")
    func parseSurvey() {
        let text = """
        @@etcd
        etcd Version: 3.4.23
        @@kube-apiserver
        Kubernetes v1.31.4
        @@kube-controller-manager
        Kubernetes v1.31.4
        @@kube-scheduler
        @@kubelet
        Kubernetes v1.30.2
        @@kube-proxy
        @@kubectl
        Client Version: v1.31.4
        @@df-bin
        overlay 41152736 20000000 19054848 52% /
        @@df-data
        /dev/sdb1 1000000 100 999900 1% /var/lib/etcd
        @@end
        """
        let s = UpgradeFacts.parse(host: "h1", roles: [.controlPlane], text)
        #expect(s.versions.etcd == SemanticVersion(3, 4, 23))
        #expect(s.versions.components == [.apiserver: SemanticVersion(1, 31, 4), .controllerManager: SemanticVersion(1, 31, 4),
                                          .kubelet: SemanticVersion(1, 30, 2), .kubectl: SemanticVersion(1, 31, 4)])
        #expect(s.freeBinKiB == 19_054_848)
        #expect(s.freeDataKiB == 999_900)
    }

    @Test("a bare host: no versions, df still read; garbage is not a version")
    func bareHost() {
        let s = UpgradeFacts.parse(host: "h2", roles: [.worker], "@@etcd\n@@kubelet\nbash: not found\n@@df-bin\nfs 10 5 5 50% /\n@@df-data\nbroken\n@@end\n")
        #expect(s.versions.etcd == nil && s.versions.components.isEmpty)
        #expect(s.freeBinKiB == 5)
        #expect(s.freeDataKiB == nil)
    }

    @Test("the record round-trips through the state directory (0600) and tells a resumable run from a new one")
    func recordRoundTrip() throws {
        let root = NSTemporaryDirectory() + "capstan-upgrade-record-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let state = StateDirectory(root: root)
        #expect(try UpgradeRecord.load(from: state) == nil)
        var r = UpgradeRecord(targetKubernetes: "1.31.4", targetEtcd: "3.5.1", startedAt: Date(timeIntervalSince1970: 1_700_000_000),
                              previousEtcd: ["h1": "3.4.23"], previousEtcdSHA256: ["h1": "abc"])
        r.rollbackPoint = .init(backup: "upglab-20240101T000000Z", revision: 42, etcdVersion: "3.4.23", verifiedAt: Date(timeIntervalSince1970: 1_700_000_010))
        try r.save(to: state)
        #expect(state.mode(UpgradeRecord.fileName) == 0o600)
        let back = try #require(try UpgradeRecord.load(from: state))
        #expect(back == r)
        #expect(back.isResumable(targetKubernetes: "1.31.4", targetEtcd: "3.5.1"))
        #expect(!back.isResumable(targetKubernetes: "1.31.4", targetEtcd: "3.5.2"))
        r.status = .completed
        #expect(!r.isResumable(targetKubernetes: "1.31.4", targetEtcd: "3.5.1"))
    }

    @Test("cluster version = lowest minor the members run: 3.4 while one member is on 3.4, 3.5 once all are")
    func clusterVersion() {
        #expect(EtcdRollback.clusterVersion(running: [SemanticVersion(3, 5, 1), SemanticVersion(3, 4, 23)]) == SemanticVersion(3, 4, 0))
        #expect(EtcdRollback.clusterVersion(running: [SemanticVersion(3, 5, 1), SemanticVersion(3, 5, 1)]) == SemanticVersion(3, 5, 0))
        #expect(EtcdRollback.clusterVersion(running: []) == nil)
    }
}
