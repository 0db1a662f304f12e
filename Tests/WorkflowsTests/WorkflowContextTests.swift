import Foundation
import Hosts
import Testing
import TestSupport
@testable import Workflows

/// Opens `RootedHost`s, each host with its own directory tree under `base`.
struct LocalTreeConnector: HostConnector {
    let base: String
    func connect(_ endpoint: HostEndpoint) async throws -> any HostConnection {
        RootedHost(hostName: endpoint.name, root: base + "/" + endpoint.name)
    }
}

func endpoint(_ name: String) -> HostEndpoint {
    HostEndpoint(name: name, address: "127.0.0.1", authentication: [.agent], knownHostsFile: "/dev/null")
}

func makeTemp() throws -> String {
    let dir = NSTemporaryDirectory() + "capstan-wf-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

let fixedNow: @Sendable () -> Date = { Date(timeIntervalSince1970: 1_795_316_401) } // 2026-11-22T03:00:01Z

@Suite("WorkflowContext: one guarded change path for plan and apply", .tags(.unit))
struct WorkflowContextTests {
    @Test("plan records a create with a diff and writes nothing; apply writes; a re-run changes nothing")
    func ensureFilePlanApply() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let file = ManagedFile(path: "/etc/etcd/etcd.env", text: "A=1\nB=2\n", attributes: FileAttributes(mode: 0o640))

        let plan = WorkflowContext(mode: .plan, connector: LocalTreeConnector(base: base), endpoints: [endpoint("h1")], output: CollectingOutput(), now: fixedNow)
        #expect(try await plan.ensureFile("h1", file))
        let planned = await plan.actions
        #expect(planned == [PlannedAction(host: "h1", description: "create /etc/etcd/etcd.env", diff: "--- /dev/null\n+++ b/etc/etcd/etcd.env\n@@ -0,0 +1,2 @@\n+A=1\n+B=2\n")])
        #expect(!FileManager.default.fileExists(atPath: base + "/h1/etc/etcd/etcd.env"))

        let apply = WorkflowContext(mode: .apply, connector: LocalTreeConnector(base: base), endpoints: [endpoint("h1")], output: CollectingOutput(), now: fixedNow)
        #expect(try await apply.ensureFile("h1", file))
        #expect(FileManager.default.contents(atPath: base + "/h1/etc/etcd/etcd.env") == Data("A=1\nB=2\n".utf8))
        let mode = try FileManager.default.attributesOfItem(atPath: base + "/h1/etc/etcd/etcd.env")[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o640)

        let again = WorkflowContext(mode: .apply, connector: LocalTreeConnector(base: base), endpoints: [endpoint("h1")], output: CollectingOutput(), now: fixedNow)
        #expect(try await again.ensureFile("h1", file) == false)
        #expect(await again.actions.isEmpty)

        var changed = file
        changed.content = Data("A=1\nB=3\n".utf8)
        let replan = WorkflowContext(mode: .plan, connector: LocalTreeConnector(base: base), endpoints: [endpoint("h1")], output: CollectingOutput(), now: fixedNow)
        try await replan.ensureFile("h1", changed)
        #expect(await replan.actions.first?.diff == "--- a/etc/etcd/etcd.env\n+++ b/etc/etcd/etcd.env\n@@ -1,2 +1,2 @@\n A=1\n-B=2\n+B=3\n")
    }

    @Test("secrets appear in plans only as a byte count")
    func secretDiff() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let ctx = WorkflowContext(mode: .plan, connector: LocalTreeConnector(base: base), endpoints: [endpoint("h1")], output: CollectingOutput(), now: fixedNow)
        let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHt\n-----END PRIVATE KEY-----\n"
        try await ctx.ensureFile("h1", ManagedFile(path: "/etc/kubernetes/pki/etcd/server.key", text: key, attributes: FileAttributes(mode: 0o600), secret: true))
        let action = try #require(await ctx.actions.first)
        #expect(action.diff == "(secret, \(key.utf8.count) bytes changed)")
        #expect(!(action.diff ?? "").contains("PRIVATE"))
    }

    @Test("ensureUnit plans loading a new unit file (a daemon-reload only if systemd did not read it) and a start when not active")
    func ensureUnitPlan() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let ctx = WorkflowContext(mode: .plan, connector: LocalTreeConnector(base: base), endpoints: [endpoint("h1")], output: CollectingOutput(), now: fixedNow)
        let unit = ManagedFile(path: "/etc/systemd/system/etcd.service", text: "[Service]\nType=notify\n")
        let change = try await ctx.ensureUnit("h1", unit: "etcd.service", unitFile: unit, inputs: [ManagedFile(path: "/etc/etcd/etcd.env", text: "X=1\n")])
        #expect(change.unitFileChanged && change.inputsChanged && !change.daemonReloaded)
        let descriptions = await ctx.actions.map(\.description)
        #expect(descriptions.prefix(3) == ["create /etc/systemd/system/etcd.service", "create /etc/etcd/etcd.env",
                                           "systemd loads the new etcd.service (systemctl daemon-reload unless it read them by itself)"])
        #expect(!FileManager.default.fileExists(atPath: base + "/h1/etc/systemd/system/etcd.service"))
    }

    @Test("a host outside the run is an error, not a crash")
    func unknownHost() async throws {
        let ctx = WorkflowContext(mode: .plan, connector: LocalTreeConnector(base: "/nonexistent"), endpoints: [endpoint("h1")], output: CollectingOutput(), now: fixedNow)
        await #expect(throws: WorkflowError.self) { _ = try await ctx.reader("h9") }
    }

    @Test("unified diff shows separate hunks with context")
    func unifiedDiff() {
        let old = (1...20).map { "line \($0)" }.joined(separator: "\n") + "\n"
        let new = old.replacingOccurrences(of: "line 2\n", with: "line two\n").replacingOccurrences(of: "line 18\n", with: "")
        let diff = FileDiff.unified(old: old, new: new, oldName: "a/f", newName: "b/f")
        #expect(diff.components(separatedBy: "\n@@").count == 3)
        #expect(diff.contains("-line 2\n+line two\n"))
        #expect(diff.contains(" line 17\n-line 18\n line 19\n"))
    }
}
