import Foundation

/// One progress event of a run.
public struct WorkflowEvent: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case phaseStarted = "phase-started"
        case phaseFinished = "phase-finished"
        case phaseSkipped = "phase-skipped"
        case hostStatus = "host-status"
        case action
        case planned
        case failed
        case message
        /// Something the user should look at; the run goes on. The message starts with "warning: ".
        case warning
        /// A fact about the plan itself (what it could not show yet), kept with the plan's warnings.
        case note
    }
    public var time: Date
    public var kind: Kind
    public var phase: String?
    public var host: String?
    public var message: String
    /// On a run's summary: the bytes it moved to hosts (JSON `transfer`).
    public var transfer: TransferTally?

    public init(time: Date, kind: Kind, phase: String? = nil, host: String? = nil, message: String, transfer: TransferTally? = nil) {
        self.time = time
        self.kind = kind
        self.phase = phase
        self.host = host
        self.message = message
        self.transfer = transfer
    }
}

/// Where progress goes: a terminal, a log file or a JSON consumer.
public protocol OutputSink: Sendable {
    func emit(_ event: WorkflowEvent)
}

/// Writes text somewhere (stdout in the CLI, a buffer in tests).
public typealias TextWriter = @Sendable (String) -> Void

enum EventTime {
    static func iso8601(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }
}

/// Timestamped lines for logs and non-terminal stdout: `2026-11-22T03:00:01Z [h1] etcd: started`.
public struct PlainOutput: OutputSink {
    let write: TextWriter
    public init(write: @escaping TextWriter) { self.write = write }

    public func emit(_ event: WorkflowEvent) {
        var line = EventTime.iso8601(event.time)
        if let host = event.host { line += " [\(host)]" }
        if let phase = event.phase { line += " \(phase):" }
        line += " " + PlainOutput.text(event)
        write(line + "\n")
    }

    static func text(_ event: WorkflowEvent) -> String {
        switch event.kind {
        case .phaseStarted: return "started" + (event.message.isEmpty ? "" : " (\(event.message))")
        case .phaseFinished: return "done" + (event.message.isEmpty ? "" : " (\(event.message))")
        case .phaseSkipped: return "skipped" + (event.message.isEmpty ? "" : " (\(event.message))")
        case .failed: return "FAILED: " + event.message
        case .planned: return "would " + event.message
        case .action, .hostStatus, .message, .warning, .note: return event.message
        }
    }
}

/// One JSON object per line (`--output json`).
public struct JSONOutput: OutputSink {
    let write: TextWriter
    public init(write: @escaping TextWriter) { self.write = write }

    public func emit(_ event: WorkflowEvent) {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(event) else { return }
        write(String(decoding: data, as: UTF8.self) + "\n")
    }
}

/// For a terminal: one live line per host (a spinner, the time since the host's first step in this
/// phase, its current step), redrawn in place; phase headers, every change (`action`), warnings and
/// failures scroll above the block, so nothing a host reported is overwritten. A ticker redraws the
/// block while a phase runs, so a long step still shows time passing.
public final class TerminalOutput: OutputSink, @unchecked Sendable {
    let write: TextWriter
    let now: @Sendable () -> Date
    private let lock = NSLock()
    private var order: [String] = []
    private var status: [String: String] = [:]
    private var since: [String: Date] = [:]
    private var drawnLines = 0
    private var frame = 0
    private var ticker: DispatchSourceTimer?

    static let spinner = Array("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")

    /// `tickSeconds` nil: no ticker (the block is redrawn on events only; for tests, which call `tick()`).
    public init(write: @escaping TextWriter, now: @escaping @Sendable () -> Date = { Date() }, tickSeconds: Double? = 0.2) {
        self.write = write
        self.now = now
        if let tickSeconds {
            ticker = startTicker("capstan.terminal-output", every: tickSeconds) { [weak self] in self?.tick() }
        }
    }

    deinit { ticker?.cancel() }

    /// Advances the spinner and redraws the block (nothing to do between phases).
    public func tick() {
        lock.withLock {
            guard !order.isEmpty else { return }
            frame += 1
            write(clearBlock() + block())
        }
    }

    public func emit(_ event: WorkflowEvent) {
        lock.withLock {
            var out = clearBlock()
            switch event.kind {
            case .phaseStarted:
                out += "▸ \(event.phase ?? "")\(event.message.isEmpty ? "" : " — \(event.message)")\n"
                reset()
            case .phaseSkipped:
                out += "○ \(event.phase ?? "") skipped\(event.message.isEmpty ? "" : " (\(event.message))")\n"
            case .phaseFinished:
                for host in order { out += line(host, done: true) }
                out += "✓ \(event.phase ?? "")\(event.message.isEmpty ? "" : " — \(event.message)")\n"
                reset()
            case .failed:
                out += "✗ " + (event.host.map { "[\($0)] " } ?? "") + event.message + "\n"
            case .planned:
                out += "  ~ " + (event.host.map { "[\($0)] " } ?? "") + event.message + "\n"
            case .action, .hostStatus, .message, .warning, .note:
                guard let host = event.host else { out += event.message + "\n"; break }
                if event.kind == .action { out += "  [\(host)] \(event.message)\n" }
                if event.kind == .warning || event.kind == .note { out += "  [\(host)] \(event.message)\n"; break }
                if status[host] == nil { order.append(host); since[host] = now() }
                status[host] = event.message
            }
            write(out + block())
        }
    }

    private func reset() {
        order = []
        status = [:]
        since = [:]
    }

    /// Moves to the top of the drawn block and clears it.
    private func clearBlock() -> String {
        defer { drawnLines = 0 }
        return drawnLines > 0 ? "\u{1B}[\(drawnLines)A\u{1B}[J" : ""
    }

    private func block() -> String {
        drawnLines = order.count
        return order.map { line($0, done: false) }.joined()
    }

    private func line(_ host: String, done: Bool) -> String {
        let mark = done ? "✓" : String(Self.spinner[frame % Self.spinner.count])
        let elapsed = since[host].map { max(0, now().timeIntervalSince($0)) } ?? 0
        let time = elapsed < 60 ? String(format: "%4.1fs", elapsed) : "\(Int(elapsed) / 60)m\(String(format: "%02d", Int(elapsed) % 60))s"
        return "  \(mark) " + host.padding(toLength: max(12, host.count + 1), withPad: " ", startingAt: 0) + time.padding(toLength: 7, withPad: " ", startingAt: 0) + (status[host] ?? "") + "\n"
    }
}

/// Keeps events in memory: for `plan` summaries and for callers that render at the end.
public final class CollectingOutput: OutputSink, @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [WorkflowEvent] = []
    public init() {}
    public func emit(_ event: WorkflowEvent) { lock.withLock { stored.append(event) } }
    public var events: [WorkflowEvent] { lock.withLock { stored } }
}

/// For commands that collect before they print (`plan`): one line, redrawn in place on a terminal, naming the
/// phase that runs, the hosts heard from in it and the time since the command began; `finish()` erases it,
/// so what the command prints afterwards starts on a clean line. Events are passed on to `next` unchanged.
public final class ProgressLine: OutputSink, @unchecked Sendable {
    let write: TextWriter
    let next: any OutputSink
    let label: String
    let now: @Sendable () -> Date
    private let started: Date
    private let lock = NSLock()
    private var phase = ""
    private var busy: [String] = []
    private var frame = 0
    private var drawn = false
    private var finished = false
    private var ticker: DispatchSourceTimer?

    public init(label: String, write: @escaping TextWriter, next: any OutputSink, now: @escaping @Sendable () -> Date = { Date() },
                tickSeconds: Double? = 0.2) {
        self.label = label
        self.write = write
        self.next = next
        self.now = now
        started = now()
        if let tickSeconds {
            ticker = startTicker("capstan.progress-line", every: tickSeconds) { [weak self] in self?.tick() }
        }
    }

    deinit { ticker?.cancel() }

    public func emit(_ event: WorkflowEvent) {
        next.emit(event)
        lock.withLock {
            switch event.kind {
            case .phaseStarted:
                phase = event.phase ?? ""
                busy = []
            case .phaseFinished, .phaseSkipped:
                busy = []
            case .action, .hostStatus, .message, .warning, .note, .planned:
                if let host = event.host, !busy.contains(host) { busy.append(host) }
            case .failed:
                if let host = event.host { busy.removeAll { $0 == host } }
            }
            redraw()
        }
    }

    public func tick() {
        lock.withLock {
            frame += 1
            redraw()
        }
    }

    /// Erases the line and stops redrawing.
    public func finish() {
        ticker?.cancel()
        ticker = nil
        lock.withLock {
            if drawn { write("\r\u{1B}[2K") }
            drawn = false
            finished = true
        }
    }

    /// The line as drawn now (without the carriage return and erase sequence).
    public var text: String {
        lock.withLock { line() }
    }

    private func line() -> String {
        let spin = TerminalOutput.spinner[frame % TerminalOutput.spinner.count]
        let elapsed = String(format: "%.1fs", max(0, now().timeIntervalSince(started)))
        var text = "\(spin) \(label) \(elapsed)"
        if !phase.isEmpty { text += " — \(phase)" }
        if !busy.isEmpty {
            let shown = busy.prefix(6).joined(separator: " ")
            text += ": " + shown + (busy.count > 6 ? " +\(busy.count - 6)" : "")
        }
        return text
    }

    private func redraw() {
        guard !finished else { return }
        write("\r\u{1B}[2K" + line())
        drawn = true
    }
}

/// A timer calling `tick` every `seconds` on a queue of its own, until cancelled (the terminal sinks redraw on it).
private func startTicker(_ label: String, every seconds: Double, _ tick: @escaping @Sendable () -> Void) -> DispatchSourceTimer {
    let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: label))
    timer.schedule(deadline: .now() + seconds, repeating: seconds)
    timer.setEventHandler(handler: tick)
    timer.resume()
    return timer
}
