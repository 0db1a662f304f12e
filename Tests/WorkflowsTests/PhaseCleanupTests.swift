import Foundation
import Hosts
import Testing
import TestSupport
@testable import Workflows

@Suite("Phase cleanup: run when the run ends, for the phases that started, latest first", .tags(.unit))
struct PhaseCleanupTests {
    struct Boom: Error {}

    /// Names in the order the cleanups ran.
    actor Log {
        var names: [String] = []
        func add(_ name: String) { names.append(name) }
    }

    func phase(_ name: String, _ log: Log, fails: Bool = false) -> Phase {
        Phase(name, concerning: ["h1"]) { _ in if fails { throw Boom() } }
            .cleaningUp { ctx in
                await log.add(name)
                _ = try? await ctx.change("h1", "tidy after \(name)") { _ in }
            }
    }

    func context(_ mode: WorkflowMode, _ base: String, skip: Set<String> = []) -> WorkflowContext {
        WorkflowContext(mode: mode, options: WorkflowOptions(skipPhases: skip), connector: LocalTreeConnector(base: base),
                        endpoints: [endpoint("h1")], output: CollectingOutput(), now: fixedNow)
    }

    @Test("after a success every started phase's cleanup runs, latest first, and its changes are in the report")
    func success() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let log = Log()
        let report = try await PhaseRunner().run(Workflow(name: "w", phases: [phase("a", log), phase("b", log), phase("c", log)]),
                                                 in: context(.apply, base, skip: ["b"]))
        #expect(await log.names == ["c", "a"], "a skipped phase did not start: no cleanup")
        #expect(report.actions.map(\.description) == ["tidy after c", "tidy after a"])
    }

    @Test("after a failure the phases that started are cleaned up, the failing one included, and the failure stands")
    func failure() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let log = Log()
        let workflow = Workflow(name: "w", phases: [phase("a", log), phase("b", log, fails: true), phase("c", log)])
        await #expect {
            _ = try await PhaseRunner().run(workflow, in: context(.apply, base))
        } throws: { error in
            guard case WorkflowError.phaseFailed(let phase, _, _) = error else { return false }
            return phase == "b"
        }
        #expect(await log.names == ["b", "a"])
    }

    @Test("plan mode runs the cleanups too; what they would change is recorded, not made")
    func plan() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let log = Log()
        let ctx = context(.plan, base)
        _ = try await PhaseRunner().run(Workflow(name: "w", phases: [phase("a", log)]), in: ctx)
        #expect(await log.names == ["a"])
        #expect(await ctx.actions.map(\.description) == ["tidy after a"])
    }
}
