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
    }
    public var time: Date
    public var kind: Kind
    public var phase: String?
    public var host: String?
    public var message: String

    public init(time: Date, kind: Kind, phase: String? = nil, host: String? = nil, message: String) {
        self.time = time
        self.kind = kind
        self.phase = phase
        self.host = host
        self.message = message
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
        case .action, .hostStatus, .message: return event.message
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

/// For a terminal: one status line per host, redrawn in place as hosts progress; phase headers and
/// failures scroll above the block.
public final class TerminalOutput: OutputSink, @unchecked Sendable {
    let write: TextWriter
    private let lock = NSLock()
    private var order: [String] = []
    private var status: [String: String] = [:]
    private var drawnLines = 0

    public init(write: @escaping TextWriter) { self.write = write }

    public func emit(_ event: WorkflowEvent) {
        lock.withLock {
            var out = ""
            // Move to the top of the status block and clear it.
            if drawnLines > 0 { out += "\u{1B}[\(drawnLines)A\u{1B}[J" }
            switch event.kind {
            case .phaseStarted:
                out += "▸ \(event.phase ?? "")\(event.message.isEmpty ? "" : " — \(event.message)")\n"
                order = []
                status = [:]
            case .phaseSkipped:
                out += "○ \(event.phase ?? "") skipped\(event.message.isEmpty ? "" : " (\(event.message))")\n"
            case .phaseFinished:
                for host in order { out += TerminalOutput.line(host, status[host] ?? "") }
                out += "✓ \(event.phase ?? "")\(event.message.isEmpty ? "" : " — \(event.message)")\n"
                order = []
                status = [:]
            case .failed:
                out += "✗ " + (event.host.map { "[\($0)] " } ?? "") + event.message + "\n"
            case .planned:
                out += "  ~ " + (event.host.map { "[\($0)] " } ?? "") + event.message + "\n"
            case .action, .hostStatus, .message:
                if let host = event.host {
                    if status[host] == nil { order.append(host) }
                    status[host] = event.message
                } else {
                    out += event.message + "\n"
                }
            }
            drawnLines = 0
            for host in order {
                out += TerminalOutput.line(host, status[host] ?? "")
                drawnLines += 1
            }
            write(out)
        }
    }

    private static func line(_ host: String, _ text: String) -> String {
        "  " + host.padding(toLength: max(12, host.count + 1), withPad: " ", startingAt: 0) + text + "\n"
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
