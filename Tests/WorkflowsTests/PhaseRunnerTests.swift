import Foundation
import Hosts
import Inventory
import Testing
import TestSupport
@testable import Workflows

@Suite("PhaseRunner and output", .tags(.unit))
struct PhaseRunnerTests {
    final class Log: @unchecked Sendable {
        let lock = NSLock()
        var items: [String] = []
        func add(_ s: String) { lock.withLock { items.append(s) } }
        var all: [String] { lock.withLock { items } }
    }

    func context(_ options: WorkflowOptions = WorkflowOptions(), output: any OutputSink = CollectingOutput()) -> WorkflowContext {
        WorkflowContext(mode: .apply, options: options, connector: LocalTreeConnector(base: "/nonexistent"),
                        endpoints: ["h1", "h2", "h3"].map(endpoint), output: output, now: fixedNow)
    }

    @Test("runs phases in order, serial phases host by host, and skips phases by name")
    func orderAndSkip() async throws {
        let log = Log()
        let wf = Workflow(name: "etcd", phases: [
            Phase("prepare", hosts: ["h1", "h2"]) { _, host in log.add("prepare \(host)") },
            Phase("binaries", hosts: ["h1"]) { _, host in log.add("binaries \(host)") },
            Phase("restart", hosts: ["h3", "h1", "h2"], execution: .serial) { _, host in log.add("restart \(host)") },
            Phase("membership", concerning: ["h1", "h2", "h3"]) { _ in log.add("membership") },
        ])
        let report = try await PhaseRunner().run(wf, in: context(WorkflowOptions(skipPhases: ["binaries"])))
        #expect(report.completed == ["prepare", "restart", "membership"])
        #expect(report.skipped == ["binaries"])
        #expect(Set(log.all.prefix(2)) == ["prepare h1", "prepare h2"])
        #expect(Array(log.all.dropFirst(2)) == ["restart h3", "restart h1", "restart h2", "membership"])
    }

    @Test("reports the failing phase and every failing host, and runs no later phase")
    func failure() async throws {
        let log = Log()
        struct Boom: Error, CustomStringConvertible { var description: String { "member not healthy after 60s" } }
        let wf = Workflow(name: "etcd", phases: [
            Phase("start", hosts: ["h1", "h2", "h3"]) { _, host in if host != "h1" { throw Boom() } },
            Phase("verify", hosts: ["h1"]) { _, _ in log.add("verify") },
        ])
        do {
            _ = try await PhaseRunner().run(wf, in: context())
            Issue.record("expected a failure")
        } catch let WorkflowError.phaseFailed(phase, failures, next) {
            #expect(phase == "start")
            #expect(failures.map(\.host) == ["h2", "h3"])
            #expect(failures.allSatisfy { $0.message == "member not healthy after 60s" })
            #expect(!next.isEmpty)
        }
        #expect(log.all.isEmpty)
    }

    @Test("a serial phase stops at the first failing host")
    func serialStops() async throws {
        let log = Log()
        struct Boom: Error {}
        let wf = Workflow(name: "roll", phases: [
            Phase("restart", hosts: ["h2", "h3", "h1"], execution: .serial) { _, host in
                log.add(host)
                if host == "h3" { throw Boom() }
            },
        ])
        await #expect(throws: WorkflowError.self) { _ = try await PhaseRunner().run(wf, in: context()) }
        #expect(log.all == ["h2", "h3"])
    }

    @Test("an unknown phase name in skipPhases is an error listing the phases")
    func unknownSkip() async {
        let wf = Workflow(name: "x", phases: [Phase("a", hosts: []) { _, _ in }])
        do {
            _ = try await PhaseRunner().run(wf, in: context(WorkflowOptions(skipPhases: ["b"])))
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("unknown phase b") && "\(error)".contains("phases: a"))
        }
    }

    @Test("plain output writes timestamped host lines; JSON output one object per event")
    func outputs() async throws {
        let lines = Log()
        let json = Log()
        let wf = Workflow(name: "etcd", phases: [Phase("etcd", hosts: ["h1"]) { ctx, host in await ctx.emit(.action, host: host, "started") }])
        _ = try await PhaseRunner().run(wf, in: context(output: PlainOutput { lines.add($0) }))
        #expect(lines.all.contains("2026-11-22T03:00:01Z [h1] etcd: started\n"))
        #expect(lines.all.first == "2026-11-22T03:00:01Z etcd: started (h1)\n")
        _ = try await PhaseRunner().run(wf, in: context(output: JSONOutput { json.add($0) }))
        let first = try JSONSerialization.jsonObject(with: Data(json.all[1].utf8)) as? [String: Any]
        #expect(first?["host"] as? String == "h1")
        #expect(first?["kind"] as? String == "action")
        #expect(first?["time"] as? String == "2026-11-22T03:00:01Z")
        let terminal = Log()
        _ = try await PhaseRunner().run(wf, in: context(output: TerminalOutput(write: { terminal.add($0) }, tickSeconds: nil)))
        #expect(terminal.all.joined().contains("  [h1] started\n"))
        #expect(terminal.all.joined().contains("  ✓ h1          "))
    }

    /// Counts bodies running at once, and the most seen.
    actor Gauge {
        var now = 0, most = 0
        func enter() { now += 1; most = max(most, now) }
        func leave() { now -= 1 }
    }

    @Test("spec.concurrency bounds how many hosts a parallel phase works on at once: per phase, else overall")
    func concurrencyFromTheInventory() async throws {
        let hosts = (1...12).map { "h\($0)" }
        func most(_ phase: String, _ setting: ConcurrencySpec) async throws -> Int {
            let gauge = Gauge()
            let wf = Workflow(name: "nodes", phases: [
                Phase(phase, hosts: hosts) { _, _ in
                    await gauge.enter()
                    try await Task.sleep(nanoseconds: 20_000_000)
                    await gauge.leave()
                },
            ])
            _ = try await PhaseRunner().run(wf, in: context(WorkflowOptions(concurrency: setting)))
            return await gauge.most
        }
        #expect(ConcurrencySpec.defaultHosts == FanOut.defaultLimit, "the schema documents the engine's default")
        #expect(try await most("node-runtime", ConcurrencySpec()) == 12, "the default (30) lets all 12 run at once")
        #expect(try await most("node-runtime", ConcurrencySpec(hosts: 4)) == 4)
        #expect(try await most("node-runtime", ConcurrencySpec(hosts: 4, phases: ["node-runtime": 2])) == 2)
        #expect(try await most("node-kubelet", ConcurrencySpec(hosts: 4, phases: ["node-runtime": 2])) == 4, "another phase keeps the overall bound")
    }
}
