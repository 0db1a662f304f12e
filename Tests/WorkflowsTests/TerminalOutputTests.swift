import Foundation
import Testing
@testable import Workflows

/// A clock the test moves by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value = Date(timeIntervalSince1970: 1_764_680_000)
    var now: Date { lock.withLock { value } }
    func advance(_ seconds: Double) { lock.withLock { value += seconds } }
}

@Suite("terminal progress")
struct TerminalOutputTests {
    @Test("one live line per host with a spinner and its elapsed time, redrawn in place; changes and warnings scroll above and stay")
    func live() {
        let writes = PhaseRunnerTests.Log()
        let clock = ManualClock()
        let out = TerminalOutput(write: { writes.add($0) }, now: { clock.now }, tickSeconds: nil)
        let t = clock.now
        out.emit(WorkflowEvent(time: t, kind: .phaseStarted, phase: "etcd", message: "h1, h2"))
        out.emit(WorkflowEvent(time: t, kind: .hostStatus, phase: "etcd", host: "h1", message: "reading facts"))
        out.emit(WorkflowEvent(time: t, kind: .hostStatus, phase: "etcd", host: "h2", message: "reading facts"))
        #expect(writes.all.last == "\u{1B}[1A\u{1B}[J  ⠋ h1           0.0s  reading facts\n  ⠋ h2           0.0s  reading facts\n")

        // Time passes with no event: the ticker's redraw moves the spinner and the clock.
        clock.advance(12.5)
        out.tick()
        #expect(writes.all.last == "\u{1B}[2A\u{1B}[J  ⠙ h1          12.5s  reading facts\n  ⠙ h2          12.5s  reading facts\n")

        // A warning and a change scroll above the block; the warning does not replace h2's step.
        out.emit(WorkflowEvent(time: t, kind: .message, phase: "etcd", host: "h2", message: "warning: clock skew 2 s"))
        out.emit(WorkflowEvent(time: t, kind: .action, phase: "etcd", host: "h1", message: "restart etcd"))
        let screen = writes.all.suffix(2).joined()
        #expect(screen.contains("  [h2] warning: clock skew 2 s\n") && screen.contains("  [h1] restart etcd\n"), "\(screen)")
        #expect(writes.all.last?.hasSuffix("  ⠙ h1          12.5s  restart etcd\n  ⠙ h2          12.5s  reading facts\n") == true, "\(writes.all.last ?? "")")

        // The phase ends: the hosts' last lines stay, marked done, and the block is empty (ticks draw nothing).
        clock.advance(60)
        out.emit(WorkflowEvent(time: t, kind: .phaseFinished, phase: "etcd", message: "2 hosts"))
        #expect(writes.all.last == "\u{1B}[2A\u{1B}[J  ✓ h1          1m12s  restart etcd\n  ✓ h2          1m12s  reading facts\n✓ etcd — 2 hosts\n")
        let count = writes.all.count
        out.tick()
        #expect(writes.all.count == count)
    }
}
