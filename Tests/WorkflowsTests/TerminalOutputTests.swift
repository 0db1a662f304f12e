import Foundation
import Testing
import TestSupport
@testable import Workflows

/// A clock the test moves by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value = Date(timeIntervalSince1970: 1_764_680_000)
    var now: Date { lock.withLock { value } }
    func advance(_ seconds: Double) { lock.withLock { value += seconds } }
}

@Suite("terminal progress", .tags(.unit))
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
        out.emit(WorkflowEvent(time: t, kind: .warning, phase: "etcd", host: "h2", message: "warning: clock skew 2 s"))
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

    @Test("plan's progress line names the phase, the hosts heard from and the time, passes every event on, and is erased by finish")
    func progressLine() {
        let writes = PhaseRunnerTests.Log()
        let clock = ManualClock()
        let collected = CollectingOutput()
        let line = ProgressLine(label: "plan: reading 3 hosts", write: { writes.add($0) }, next: collected, now: { clock.now }, tickSeconds: nil)
        let t = clock.now
        clock.advance(1.5)
        line.tick()
        #expect(line.text.hasSuffix("plan: reading 3 hosts 1.5s"), "\(line.text)")
        line.emit(WorkflowEvent(time: t, kind: .phaseStarted, phase: "etcd-facts", message: "h1, h2, h3"))
        line.emit(WorkflowEvent(time: t, kind: .hostStatus, phase: "etcd-facts", host: "h2", message: "reading facts"))
        line.emit(WorkflowEvent(time: t, kind: .planned, phase: "etcd-facts", host: "h1", message: "create /etc/etcd/etcd.env"))
        clock.advance(2)
        line.tick()
        #expect(line.text.hasSuffix("plan: reading 3 hosts 3.5s — etcd-facts: h2 h1"), "\(line.text)")
        #expect(writes.all.last?.hasPrefix("\r\u{1B}[2K") == true, "each redraw erases the line first")
        #expect(collected.events.count == 3, "every event reaches the collecting sink")
        line.finish()
        #expect(writes.all.last == "\r\u{1B}[2K")
        let count = writes.all.count
        line.tick()
        line.emit(WorkflowEvent(time: t, kind: .phaseFinished, phase: "etcd-facts", message: ""))
        #expect(writes.all.count == count, "nothing is drawn after finish")
        #expect(collected.events.count == 4)
    }
}
