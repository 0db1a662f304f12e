import Foundation
import Hosts
import Inventory
import PKI
import Testing
import TestSupport
@testable import Workflows

@Suite("What capstan upgrade reads from a host, and its upgrade.json record", .tags(.unit))
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

    /// Runs the survey script here with sh against a scratch binary directory.
    static func survey(_ command: ShellCommand) throws -> String {
        try runProgram(["sh", "-c", command.description]).stdout
    }

    @Test("a binary the checksum record vouches for as the release's file is not run; any other is, and a changed file is run again")
    func vouchedBinaries() throws {
        let root = NSTemporaryDirectory() + "capstan-vouch-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let bin = root + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        // Each stand-in binary notes that it ran, then prints a version.
        func binary(_ name: String, _ version: String) throws -> String {
            let text = "#!/bin/sh\necho \(name) >> \(root)/ran\necho 'Kubernetes v\(version)'\n"
            try Data(text.utf8).write(to: URL(fileURLWithPath: "\(bin)/\(name)"))
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(bin)/\(name)")
            return FileDiff.sha256Hex(Data(text.utf8))
        }
        let kubelet = try binary("kubelet", "1.31.4")
        let proxy = try binary("kube-proxy", "1.31.4")
        let apiserver = try binary("kube-apiserver", "1.30.2")
        // The record as Capstan writes it after installing: sha256, identity then, path.
        func identity(_ name: String) throws -> String {
            try Self.survey(ShellCommand("stat", "-c", HostSurvey.identityFormat, "\(bin)/\(name)")).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let record = try [("kubelet", kubelet), ("kube-proxy", proxy), ("kube-apiserver", apiserver)]
            .map { "\($0.1) \(try identity($0.0)) \(bin)/\($0.0)\n" }.joined()
        try Data(record.utf8).write(to: URL(fileURLWithPath: root + "/checksums"))
        let target = SemanticVersion(1, 31, 4)
        // The release's checksums for 1.31.4: kubelet's and kube-proxy's match, kube-apiserver's (another release) does not.
        let release: [KubeComponent: String] = [.kubelet: kubelet, .kubeProxy: proxy, .apiserver: String(repeating: "0", count: 64)]
        let command = UpgradeFacts.command(binDir: bin, dataDir: "/", record: root + "/checksums", vouched: release)

        var s = UpgradeFacts.parse(host: "h1", roles: [.controlPlane], try Self.survey(command), vouched: release, release: target)
        #expect(s.versions.components == [.kubelet: target, .kubeProxy: target, .apiserver: SemanticVersion(1, 30, 2)])
        let ran = { (try? String(contentsOfFile: root + "/ran", encoding: .utf8)) ?? "" }
        #expect(ran() == "kube-apiserver\n", "only the binary the record does not vouch for as 1.31.4 runs")

        // Rewritten in place (the change time moves): the record no longer vouches, the binary runs and tells.
        _ = try binary("kubelet", "1.30.0")
        try FileManager.default.removeItem(atPath: root + "/ran")
        s = UpgradeFacts.parse(host: "h1", roles: [.controlPlane], try Self.survey(command), vouched: release, release: target)
        #expect(s.versions.components[.kubelet] == SemanticVersion(1, 30, 0))
        #expect(s.versions.components[.kubeProxy] == target)
        #expect(ran() == "kube-apiserver\nkubelet\n")

        // Without release checksums (the list could not be read) every binary runs, as before.
        try FileManager.default.removeItem(atPath: root + "/ran")
        s = UpgradeFacts.parse(host: "h1", roles: [.controlPlane], try Self.survey(UpgradeFacts.command(binDir: bin, dataDir: "/")))
        #expect(s.versions.components[.kubeProxy] == target)
        #expect(ran().split(separator: "\n").sorted() == ["kube-apiserver", "kube-proxy", "kubelet"])
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
