import Foundation
import Hosts

public enum WorkflowMode: String, Sendable, Codable {
    /// Read hosts, record what would change, change nothing.
    case plan
    /// Converge the hosts.
    case apply
}

public struct WorkflowOptions: Sendable, Equatable {
    /// Act even when health checks say the cluster is unhealthy.
    public var force: Bool
    /// Phases to skip, by name.
    public var skipPhases: Set<String>

    public init(force: Bool = false, skipPhases: Set<String> = []) {
        self.force = force
        self.skipPhases = skipPhases
    }
}

/// One remote change: done in `apply`, recorded in `plan`.
public struct PlannedAction: Sendable, Equatable, Codable {
    public var host: String
    public var description: String
    /// Unified diff for file changes; nil for commands.
    public var diff: String?

    public init(host: String, description: String, diff: String? = nil) {
        self.host = host
        self.description = description
        self.diff = diff
    }
}

/// A file Capstan manages on a host.
public struct ManagedFile: Sendable, Equatable {
    public var path: String
    public var content: Data
    public var attributes: FileAttributes
    /// Secrets (private keys, tokens) never appear in diffs or output.
    public var secret: Bool

    public init(path: String, content: Data, attributes: FileAttributes = FileAttributes(), secret: Bool = false) {
        self.path = path
        self.content = content
        self.attributes = attributes
        self.secret = secret
    }

    public init(path: String, text: String, attributes: FileAttributes = FileAttributes(), secret: Bool = false) {
        self.init(path: path, content: Data(text.utf8), attributes: attributes, secret: secret)
    }
}

/// What `ensureUnit` did (or, in plan mode, would do).
public struct UnitChange: Sendable, Equatable {
    public var unitFileChanged: Bool
    public var inputsChanged: Bool
    public var daemonReloaded: Bool
    public var restarted: Bool
    public var enabled: Bool
    public var started: Bool

    public var changed: Bool { unitFileChanged || inputsChanged || restarted || enabled || started }
}

/// Everything a workflow touches the world through: host connections, output, the clock, the mode.
///
/// Every remote change goes through `change` (directly or via `ensureFile` / `ensureUnit`), so plan and
/// apply share one path: in plan mode the change is recorded with its diff instead of being made.
public actor WorkflowContext {
    public nonisolated let mode: WorkflowMode
    public nonisolated let options: WorkflowOptions
    public nonisolated let output: any OutputSink
    public nonisolated let now: @Sendable () -> Date
    /// The current phase, for output.
    public private(set) var phase: String?

    private let connector: any HostConnector
    private let endpoints: [String: HostEndpoint]
    private var connections: [String: Task<any HostConnection, any Error>] = [:]
    private var recorded: [PlannedAction] = []

    public init(
        mode: WorkflowMode, options: WorkflowOptions = WorkflowOptions(), connector: any HostConnector,
        endpoints: [HostEndpoint], output: any OutputSink, now: @escaping @Sendable () -> Date
    ) {
        self.mode = mode
        self.options = options
        self.connector = connector
        self.endpoints = Dictionary(endpoints.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.output = output
        self.now = now
    }

    /// Every action done or planned so far, in order.
    public var actions: [PlannedAction] { recorded }

    public var hostNames: [String] { endpoints.keys.sorted() }

    func setPhase(_ name: String?) { phase = name }

    /// The host's connection, opened on first use and reused for everything after.
    public func connection(_ host: String) async throws -> any HostConnection {
        if let existing = connections[host] { return try await existing.value }
        guard let endpoint = endpoints[host] else { throw WorkflowError.unknownHost(host) }
        let connector = self.connector
        let task = Task { try await connector.connect(endpoint) }
        connections[host] = task
        do {
            return try await task.value
        } catch {
            connections[host] = nil
            throw error
        }
    }

    public func closeAll() async {
        let open = connections.values
        connections = [:]
        for task in open {
            if let connection = try? await task.value { await connection.close() }
        }
    }

    public func emit(_ kind: WorkflowEvent.Kind, host: String? = nil, _ message: String) {
        output.emit(WorkflowEvent(time: now(), kind: kind, phase: phase, host: host, message: message))
    }

    /// The single guarded call for remote changes. In apply mode runs `body`; in plan mode records the
    /// action and its diff and does nothing. Returns true when the change was made (or would be).
    @discardableResult
    public func change(
        _ host: String, _ description: String, diff: String? = nil,
        _ body: @Sendable (any HostConnection) async throws -> Void
    ) async throws -> Bool {
        recorded.append(PlannedAction(host: host, description: description, diff: diff))
        switch mode {
        case .plan:
            emit(.planned, host: host, description)
        case .apply:
            let connection = try await connection(host)
            emit(.action, host: host, description)
            try await body(connection)
        }
        return true
    }

    /// Makes `file` on `host` hold exactly its content. Unchanged content means no action.
    /// Returns true when the file was (or in plan mode would be) written.
    @discardableResult
    public func ensureFile(_ host: String, _ file: ManagedFile) async throws -> Bool {
        let connection = try await connection(host)
        let current = try await connection.read(file.path)
        if current == file.content { return false }
        let diff = FileDiff.describe(path: file.path, old: current, new: file.content, secret: file.secret)
        let verb = current == nil ? "create" : "update"
        return try await change(host, "\(verb) \(file.path)", diff: diff) { connection in
            try await connection.write(file.content, to: file.path, attributes: file.attributes)
        }
    }

    /// Converges a systemd unit: writes its unit file and input files (configs, certificates, binaries),
    /// runs `daemon-reload` only when the unit file changed, restarts only when the unit or an input
    /// changed (and `restartOnChange`), enables it, and starts it when it is not active.
    @discardableResult
    public func ensureUnit(
        _ host: String, unit: String, unitFile: ManagedFile, inputs: [ManagedFile] = [],
        enable: Bool = true, restartOnChange: Bool = true
    ) async throws -> UnitChange {
        var result = UnitChange(unitFileChanged: false, inputsChanged: false, daemonReloaded: false, restarted: false, enabled: false, started: false)
        result.unitFileChanged = try await ensureFile(host, unitFile)
        for input in inputs where try await ensureFile(host, input) { result.inputsChanged = true }
        if result.unitFileChanged {
            result.daemonReloaded = try await change(host, "systemctl daemon-reload (\(unit) changed)") { c in
                try await c.check(ShellCommand("systemctl", "daemon-reload"))
            }
        }
        let connection = try await connection(host)
        if enable {
            let enabled = try await connection.run(ShellCommand("systemctl", "is-enabled", "--quiet", unit))
            if !enabled.succeeded {
                result.enabled = try await change(host, "systemctl enable \(unit)") { c in
                    try await c.check(ShellCommand("systemctl", "enable", unit))
                }
            }
        }
        let active = try await connection.run(ShellCommand("systemctl", "is-active", "--quiet", unit))
        if !active.succeeded {
            result.started = try await change(host, "systemctl start \(unit)") { c in
                try await c.check(ShellCommand("systemctl", "start", unit))
            }
        } else if restartOnChange && (result.unitFileChanged || result.inputsChanged) {
            result.restarted = try await change(host, "systemctl restart \(unit) (its files changed)") { c in
                try await c.check(ShellCommand("systemctl", "restart", unit))
            }
        }
        return result
    }
}
