import Foundation
import Hosts
import Testing
import TestSupport
@testable import Workflows

/// The engine's mode-dependent steps: workflows call these instead of branching on plan or apply.
@Suite("Engine: changes recorded once made, health gates, plan-only fallbacks", .tags(.unit))
struct EngineGateTests {
    struct Boom: Error {}

    func context(_ mode: WorkflowMode, _ base: String, force: Bool = false, output: CollectingOutput = CollectingOutput()) -> WorkflowContext {
        WorkflowContext(mode: mode, options: WorkflowOptions(force: force), connector: LocalTreeConnector(base: base),
                        endpoints: [endpoint("h1")], output: output, now: fixedNow)
    }

    @Test("a change whose body fails is not recorded as made; one that succeeds is, after it ran; plan records without running")
    func failedChangeNotCounted() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let apply = context(.apply, base)
        await #expect(throws: Boom.self) { try await apply.change("h1", "break it") { _ in throw Boom() } }
        #expect(await apply.actions.isEmpty)
        try await apply.change("h1", "touch it") { c in try await c.write(Data("x".utf8), to: "/t", attributes: FileAttributes()) }
        #expect(await apply.actions.map(\.description) == ["touch it"])
        await #expect(throws: Boom.self) { try await apply.changeState("write the state") { throw Boom() } }
        #expect(await apply.actions.map(\.description) == ["touch it"])

        let plan = context(.plan, base)
        try await plan.change("h1", "break it") { _ in throw Boom() }
        let never = try await plan.changeState("write the state") { () -> Int in throw Boom() }
        #expect(never == nil)
        #expect(await plan.actions.map(\.description) == ["break it", "write the state"])
    }

    @Test("gates run in apply only; the safety gate is skipped by --force too")
    func gates() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let ran = Counter()
        #expect(try await context(.apply, base).gate { await ran.bump(); return 7 } == 7)
        #expect(try await context(.plan, base).gate { await ran.bump(); return 7 } == nil)
        try await context(.apply, base).safetyGate { await ran.bump() }
        try await context(.apply, base, force: true).safetyGate { await ran.bump() }
        try await context(.plan, base).safetyGate { await ran.bump() }
        #expect(await ran.value == 2)
        await #expect(throws: Boom.self) { try await context(.apply, base).gate { throw Boom() } }
    }

    @Test("a read that needs earlier changes: in plan the fallback stands in; in apply the error stands")
    func readAfterEarlierChanges() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let planned = try await context(.plan, base).readAfterEarlierChanges({ () -> [String] in throw Boom() }, assuming: { _ in ["fresh"] })
        #expect(planned == ["fresh"])
        await #expect(throws: Boom.self) {
            _ = try await context(.apply, base).readAfterEarlierChanges({ () -> [String] in throw Boom() }, assuming: { _ in ["fresh"] })
        }
        #expect(try await context(.apply, base).readAfterEarlierChanges({ ["read"] }, assuming: { _ in ["fresh"] }) == ["read"])
    }

    @Test("state convergence records what the plan says in plan mode and what the body reports in apply mode")
    func convergeState() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let plan = context(.plan, base)
        try await plan.convergeState(planned: ["create CA ca", "issue a"]) { Issue.record("plan ran the body"); return ((), []) }
        #expect(await plan.actions == [PlannedAction(host: "state", description: "create CA ca"), PlannedAction(host: "state", description: "issue a")])
        let apply = context(.apply, base)
        try await apply.convergeState(planned: ["create CA ca"]) { ((), ["create CA ca", "write kubeconfig/admin.conf"]) }
        #expect(await apply.actions.map(\.description) == ["create CA ca", "write kubeconfig/admin.conf"])
    }

    @Test("a blocker fails apply and is a warning in plan; announcements are planned or plain messages")
    func blockersAndAnnouncements() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let planOutput = CollectingOutput()
        let plan = context(.plan, base, output: planOutput)
        #expect(await plan.blocker(host: "h1", "ip_forward is 0") == nil)
        await plan.announce(host: "h1", "pod subnet 10.244.1.0/24 (new)")
        #expect(planOutput.events.map(\.kind) == [.warning, .planned])
        #expect(planOutput.events.first?.message == "warning: ip_forward is 0")
        #expect(await plan.actions.isEmpty, "announcements are not actions")

        let applyOutput = CollectingOutput()
        let apply = context(.apply, base, output: applyOutput)
        #expect(await apply.blocker(host: "h1", "ip_forward is 0") == "ip_forward is 0")
        await apply.announce(host: "h1", "pod subnet 10.244.1.0/24 (new)")
        #expect(applyOutput.events.map(\.kind) == [.message])
    }

    @Test("a step-by-step plan ends at the step whose record it cannot write, naming what follows; apply goes on")
    func planEndsHere() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let planOutput = CollectingOutput()
        let plan = context(.plan, base, output: planOutput)
        #expect(await plan.planEndsHere(then: "roll the key out host by host"))
        #expect(await plan.planEndsHere())
        #expect(planOutput.events.map(\.kind) == [.planned])
        #expect(planOutput.events.map(\.message) == ["then: roll the key out host by host"])

        let applyOutput = CollectingOutput()
        let apply = context(.apply, base, output: applyOutput)
        #expect(await apply.planEndsHere(then: "roll the key out host by host") == false)
        #expect(applyOutput.events.isEmpty)
    }

    @Test("an upload names its size in the action and reports the bytes sent and the rate on the host's line")
    func uploadReportsBytes() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let local = base + "/kubelet"
        _ = FileManager.default.createFile(atPath: local, contents: Data(repeating: 1, count: 3 * 1024 * 1024 + 512 * 1024))
        let output = CollectingOutput()
        let ctx = context(.apply, base, output: output)
        try await ctx.upload("h1", "install", detail: "sha256 abc", localFile: local, to: "/usr/local/bin/kubelet", attributes: FileAttributes(mode: 0o755))
        #expect(await ctx.actions.map(\.description) == ["install /usr/local/bin/kubelet (sha256 abc, 3.5 MiB)"])
        let sent = output.events.filter { $0.kind == .hostStatus && $0.host == "h1" }.map(\.message)
        let line = sent.first ?? ""
        #expect(sent.count == 1, "\(sent)")
        #expect(line.hasPrefix("/usr/local/bin/kubelet: sent 3.5 MiB in ") && line.hasSuffix("/s)"), "\(line)")
        let written = FileManager.default.contents(atPath: base + "/h1/usr/local/bin/kubelet")
        #expect(written?.count == 3_670_016)
        #expect(ByteCount.text(512) == "512 B")
        #expect(ByteCount.sent(10_485_760, seconds: 2) == "sent 10.0 MiB in 2.0s (5.0 MiB/s)")
    }

    @Test("a failed phase keeps each host's error with its type")
    func typedCauses() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let ctx = context(.apply, base)
        let phase = Phase("drain", hosts: ["h1"]) { _, host in
            throw WorkflowError.drainIncomplete(node: host, controlHost: "cp", reason: "pdb", next: "free it")
        }
        do {
            _ = try await PhaseRunner().run(Workflow(name: "t", phases: [phase]), in: ctx)
            Issue.record("the phase did not fail")
        } catch let error as WorkflowError {
            #expect(error.incompleteDrain == "h1")
            guard case let .phaseFailed(_, failures, _) = error else { Issue.record("not a phase failure: \(error)"); return }
            #expect(failures.first?.cause is WorkflowError)
            #expect(failures.first?.message.contains("failed to drain h1") == true)
        }
        #expect(WorkflowError.unexpectedAnswer("drain this").incompleteDrain == nil, "no text is matched: only the case counts")
    }
}

actor Counter {
    var value = 0
    func bump() { value += 1 }
}
