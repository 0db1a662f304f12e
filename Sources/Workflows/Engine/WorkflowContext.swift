import Foundation
import Hosts
import Inventory

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
    /// Hosts at once per phase (the inventory's `spec.concurrency`).
    public var concurrency: ConcurrencySpec

    public init(force: Bool = false, skipPhases: Set<String> = [], concurrency: ConcurrencySpec = ConcurrencySpec()) {
        self.force = force
        self.skipPhases = skipPhases
        self.concurrency = concurrency
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
    /// A `systemctl daemon-reload` ran (or, in plan mode, will run) for this unit's file; false when its file
    /// was new and systemd may have read it without one.
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
/// Reads are batched: `survey` reads the state of every file and unit a phase compares on a host in one
/// command, and the ensure calls compare against it, so a no-op costs one round trip per host and phase.
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
    /// What surveys read from each host in this run (see `survey`); an entry goes when a change could have
    /// made it stale, and a host's whole survey at the end of a phase that changed the host.
    var surveys: [String: HostSurvey] = [:]
    /// Hosts changed (in apply mode) since the current phase started.
    private var changedHosts: Set<String> = []
    /// The surveys of the run's phases, in order, and where the run is: read ahead with the first read of a host.
    var declarations: [SurveyDeclaration] = []
    var phaseIndex = 0
    /// Per host, the declarations already read (or found to declare nothing).
    var declared: [String: Set<Int>] = [:]
    /// Peer transfer of verified files between hosts, when enabled (`enablePeerTransfer`).
    var peers: PeerTransfer?
    /// Bytes and files `upload` sent from this machine in this run.
    var uploadTally = TransferTally()
    /// The run's typed data (`RunData`), by its `RunData`'s key; a new run starts without it.
    var runValues: [UUID: Task<any Sendable, any Error>] = [:]

    public init(
        mode: WorkflowMode, options: WorkflowOptions = WorkflowOptions(), connector: any HostConnector,
        endpoints: [HostEndpoint], output: any OutputSink, now: @escaping @Sendable () -> Date,
        peerAddresses: [String: String]? = nil
    ) {
        peers = peerAddresses.map { PeerTransfer(addresses: $0) }
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

    /// A run of `declarations` (non-skipped phases' surveys, in order) starts: nothing read before is kept.
    func beginRun(_ declarations: [SurveyDeclaration]) {
        self.declarations = declarations
        declared = [:]
        phaseIndex = 0
        surveys = [:]
        changedHosts = []
        runValues = [:]
    }

    /// The phase at `index` of the run starts (nil: the run ended). What the previous phase changed on a host
    /// may have made anything of it stale: those hosts are read again, with what the phases from here declare.
    func setPhase(_ name: String?, index: Int? = nil) {
        phase = name
        if let index { phaseIndex = index }
        for host in changedHosts {
            surveys[host] = nil
            declared[host] = nil
        }
        changedHosts = []
        if name == nil { surveys = [:] }
    }

    /// The host's connection, opened on first use and reused for everything after. The engine's own: the
    /// workflows read through `reader` and change through `change`.
    func openConnection(_ host: String) async throws -> any HostConnection {
        if let existing = connections[host] { return try await existing.value }
        guard let endpoint = endpoints[host] else { throw WorkflowError.unknownHost(host) }
        let connector = self.connector
        let task = Task { () async throws -> any HostConnection in
            let connection = try await connector.connect(endpoint)
            guard let trace = CommandTrace.shared else { return connection }
            return TracedConnection(inner: connection, trace: trace) { [weak self] in await self?.phase }
        }
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

    /// The single guarded call for remote changes. In apply mode runs `body` and records the action once
    /// it succeeded; in plan mode records the action and its diff and does nothing. Returns true when the
    /// change was made (or would be).
    ///
    /// `body` may change anything on the host, so in apply mode what was surveyed there is forgotten.
    @discardableResult
    public func change(
        _ host: String, _ description: String, diff: String? = nil,
        _ body: @Sendable (any HostConnection) async throws -> Void
    ) async throws -> Bool {
        try await change(host, description, diff: diff, affecting: nil, body)
    }

    /// The guarded call for changes to the local state directory: recorded as an action on `state`, made
    /// only in apply mode (and recorded there once `body` succeeded), so plan and `--dry-run` show it and
    /// write nothing.
    /// Returns what `body` returned, nil in plan mode.
    @discardableResult
    public func changeState<T: Sendable>(_ description: String, _ body: @Sendable () async throws -> T) async throws -> T? {
        try await changeHere(Self.stateTarget, description, body)
    }

    /// A change made through the cluster's API from this machine (kubectl with the operator's kubeconfig, for
    /// a managed cluster whose control plane Capstan does not run): recorded as an action on `cluster`, made
    /// only in apply mode.
    public func changeCluster(_ description: String, _ body: @Sendable () async throws -> Void) async throws {
        _ = try await changeHere(Self.clusterTarget, description, body)
    }

    private func changeHere<T: Sendable>(_ target: String, _ description: String, _ body: @Sendable () async throws -> T) async throws -> T? {
        switch mode {
        case .plan:
            recorded.append(PlannedAction(host: target, description: description))
            emit(.planned, host: target, description)
            return nil
        case .apply:
            emit(.action, host: target, description)
            let result = try await body()
            recorded.append(PlannedAction(host: target, description: description))
            return result
        }
    }

    /// Converges part of the local state directory whose own code decides what to write (the PKI): in plan
    /// mode `planned` is recorded, one action each; in apply mode `body` runs and what it reports it wrote
    /// is recorded, and its result returned (nil in plan mode). `body` must write nothing when nothing
    /// differs, so a converged state costs no action.
    @discardableResult
    public func convergeState<T: Sendable>(planned: [String], _ body: @Sendable () async throws -> (T, [String])) async throws -> T? {
        switch mode {
        case .plan:
            for description in planned {
                recorded.append(PlannedAction(host: Self.stateTarget, description: description))
                emit(.planned, host: Self.stateTarget, description)
            }
            return nil
        case .apply:
            let (result, done) = try await body()
            for description in done {
                recorded.append(PlannedAction(host: Self.stateTarget, description: description))
                emit(.action, host: Self.stateTarget, description)
            }
            return result
        }
    }

    /// Capstan's own records that change nothing in the cluster (the host roster, the upgrade record):
    /// written in apply mode, not an action (a converged cluster still applies with 0 changes), skipped in
    /// plan mode.
    public nonisolated func bookkeeping(_ body: @Sendable () async throws -> Void) async throws {
        if mode == .apply { try await body() }
    }

    /// A health gate: waits, in apply mode, for what the changes before it must lead to (a member healthy,
    /// an API server ready) and returns what `body` returns. In plan mode nothing changed, so there is
    /// nothing to wait for: `body` is not run and the result is nil.
    @discardableResult
    public nonisolated func gate<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T? {
        guard mode == .apply else { return nil }
        return try await body()
    }

    /// A step-by-step operation (a key rotation) whose next steps start from the state the step just recorded
    /// can be planned only up to that record. In plan mode this announces what would follow (`then`), and
    /// returns true: the caller's plan ends here. In apply mode the record was written: it returns false and
    /// the caller goes on.
    public func planEndsHere(then next: String? = nil) -> Bool {
        guard mode == .plan else { return false }
        if let next { announce("then: " + next) }
        return true
    }

    /// A safety check before a disruptive change (etcd healthy before a member restarts): a health gate
    /// that `--force` skips.
    public nonisolated func safetyGate(_ body: @Sendable () async throws -> Void) async throws {
        guard !options.force else { return }
        try await gate(body)
    }

    /// Reads something that exists only once earlier changes of this run are made (containerd's image
    /// store, the API server). In apply mode a failed read is an error; in plan mode those changes were
    /// only recorded, so what `assuming` makes of the error stands in for the read.
    public nonisolated func readAfterEarlierChanges<T: Sendable>(
        _ read: @Sendable () async throws -> T, assuming: @Sendable (any Error) async throws -> T
    ) async throws -> T {
        do {
            return try await read()
        } catch where mode == .plan {
            return try await assuming(error)
        }
    }

    /// Something apply will do or did as a consequence of the run's changes, not a change of its own (a
    /// pod subnet chosen for a node): shown as planned in plan mode, as a message in apply mode.
    public func announce(host: String? = nil, _ message: String) {
        emit(mode == .plan ? .planned : .message, host: host, message)
    }

    /// A problem that stops apply on `host`: returned for the caller to fail with. In plan mode, which
    /// changes nothing, it is shown as a warning and nil is returned.
    public func blocker(host: String, _ problem: String) -> String? {
        guard mode == .plan else { return problem }
        emit(.warning, host: host, "warning: \(problem)")
        return nil
    }

    /// The target name of local state changes in actions and output.
    public static let stateTarget = "state"
    /// The target name of changes made through the cluster's API from this machine.
    public static let clusterTarget = "cluster"

    /// `change` for a body that touches only `paths` of the surveyed files (nil: anything): only those
    /// survey entries are forgotten. A caller that changes a unit's state forgets that unit itself.
    @discardableResult
    func change(
        _ host: String, _ description: String, diff: String? = nil, affecting paths: [String]?,
        _ body: @Sendable (any HostConnection) async throws -> Void
    ) async throws -> Bool {
        _ = try await changeProducing(host, description, diff: diff, affecting: paths, body)
        return true
    }

    /// `change` for a body that produces something the caller goes on with (a stored backup's manifest):
    /// what `body` returned in apply mode, nil in plan mode, where `body` does not run.
    public func changeProducing<T: Sendable>(
        _ host: String, _ description: String, diff: String? = nil, affecting paths: [String]? = nil,
        _ body: @Sendable (any HostConnection) async throws -> T
    ) async throws -> T? {
        switch mode {
        case .plan:
            recorded.append(PlannedAction(host: host, description: description, diff: diff))
            emit(.planned, host: host, description)
            return nil
        case .apply:
            let connection = try await openConnection(host)
            emit(.action, host: host, description)
            changedHosts.insert(host)
            if let paths {
                for path in paths { surveys[host]?.files[path] = nil }
            } else {
                surveys[host] = nil
            }
            // Recorded once made: a change whose body fails is reported by the phase, not counted as made.
            let result = try await body(connection)
            recorded.append(PlannedAction(host: host, description: description, diff: diff))
            return result
        }
    }

    /// A change the host decides and makes in one round trip (a file written and acted on only when it
    /// differs): `command` runs once, with `apply` false and a read-only runner in plan mode, and returns
    /// what it did (or would do), nil when nothing was needed. Recorded as an action only when it returned
    /// one; in apply mode the survey of `paths` is forgotten first.
    @discardableResult
    public func changeDecidedOnHost(_ host: String, affecting paths: [String],
                                    _ command: @Sendable (_ apply: Bool, any CommandRunner) async throws -> String?) async throws -> String? {
        switch mode {
        case .plan:
            guard let description = try await command(false, try await reader(host)) else { return nil }
            recorded.append(PlannedAction(host: host, description: description))
            emit(.planned, host: host, description)
            return description
        case .apply:
            let connection = try await openConnection(host)
            for path in paths { surveys[host]?.files[path] = nil }
            let description: String?
            do {
                description = try await command(true, connection)
            } catch {
                changedHosts.insert(host)
                throw error
            }
            guard let description else { return nil }
            changedHosts.insert(host)
            emit(.action, host: host, description)
            recorded.append(PlannedAction(host: host, description: description))
            return description
        }
    }

    /// Makes `file` on `host` hold exactly its content, mode and owner. Unchanged means no action.
    /// Returns true when the file was (or in plan mode would be) written.
    ///
    /// The comparison uses what `survey` read when the path was surveyed in this phase (no round trip);
    /// the current content is read only for a plan's diff of a file that differs (or for a path not surveyed).
    @discardableResult
    public func ensureFile(_ host: String, _ file: ManagedFile) async throws -> Bool {
        let observed = try await observe(host, file.path)
        let wanted = FileDiff.sha256Hex(file.content)
        let current: Data?
        switch observed {
        case .present(let state) where state.sha256 == wanted:
            if state.matches(file.attributes) { return false }
            let target = RemoteFileState(sha256: wanted, mode: file.attributes.mode, owner: file.attributes.owner ?? state.owner)
            return try await write(host, file, "set \(file.path) to \(target.attributeText) (was \(state.attributeText))", diff: nil, previousOwner: state.owner)
        case .absent:
            current = nil
        case .present(let state) where file.secret:
            // A secret's diff shows no content: nothing to read.
            return try await write(host, file, "update \(file.path)", diff: FileDiff.describe(path: file.path, old: nil, new: file.content, secret: true),
                                   previousOwner: state.owner)
        case .present(let state) where mode == .apply:
            // The survey's checksum says the content differs, and only plans show diffs: nothing to read.
            return try await write(host, file, "update \(file.path)", diff: nil, previousOwner: state.owner)
        case .present, .unknown:
            current = try await openConnection(host).read(file.path)
            if current == file.content, case .unknown = observed { return false }
        }
        let diff = FileDiff.describe(path: file.path, old: current, new: file.content, secret: file.secret)
        var previousOwner: String?
        if case .present(let state) = observed { previousOwner = state.owner }
        return try await write(host, file, "\(current == nil ? "create" : "update") \(file.path)", diff: diff, previousOwner: previousOwner)
    }

    private func write(_ host: String, _ file: ManagedFile, _ description: String, diff: String?, previousOwner: String?) async throws -> Bool {
        try await change(host, description, diff: diff, affecting: [file.path]) { connection in
            try await connection.write(file.content, to: file.path, attributes: file.attributes)
        }
        if mode == .apply, surveys[host] != nil {
            surveys[host]?.files[file.path] = .present(RemoteFileState(
                sha256: FileDiff.sha256Hex(file.content), mode: file.attributes.mode, owner: file.attributes.owner ?? previousOwner ?? ""))
        }
        return true
    }

    /// Converges a systemd unit: writes its unit file and input files (configs, certificates, binaries),
    /// runs `daemon-reload` only when the unit file changed, restarts only when the unit or an input
    /// changed (and `restartOnChange`), enables it, and starts it when it is not active.
    @discardableResult
    public func ensureUnit(
        _ host: String, unit: String, unitFile: ManagedFile, inputs: [ManagedFile] = [],
        enable: Bool = true, restartOnChange: Bool = true
    ) async throws -> UnitChange {
        let units = try await ensureUnits(host, [ManagedUnit(unit: unit, unitFile: unitFile, inputs: inputs, enable: enable, restartOnChange: restartOnChange)])
        guard let change = units.first else { throw WorkflowError.internalInvariant("no result for \(unit) on \(host)") }
        return change
    }

    /// Converges several units of one host together: their files are compared in one survey, changed unit
    /// files are loaded with at most ONE `daemon-reload`, the units are enabled in one `systemctl enable`,
    /// then each is started (not active) or restarted (its files or dependencies changed) in order.
    ///
    /// A reload runs every generator and re-reads every unit, which is most of what systemd costs a host
    /// during an apply, so it runs only when needed: when a unit systemd had loaded changed, or when systemd
    /// did not load a new unit file by itself (it does on first use once its unit cache sees the file).
    /// The enable keeps its own reload: without it `systemctl show` and `systemctl status` go on reporting
    /// the unit as disabled (systemd caches the state), and the next run would enable it again.
    public func ensureUnits(_ host: String, _ units: [ManagedUnit]) async throws -> [UnitChange] {
        guard !units.isEmpty else { return [] }
        try await survey(host, files: units.flatMap { [$0.unitFile] + $0.inputs }.map(\.path), units: units.map(\.unit))
        let before = try await unitStates(host, units.map(\.unit))
        var results: [UnitChange] = []
        for unit in units {
            var result = UnitChange(unitFileChanged: false, inputsChanged: false, daemonReloaded: false, restarted: false, enabled: false, started: false)
            result.unitFileChanged = try await ensureFile(host, unit.unitFile)
            for input in unit.inputs where try await ensureFile(host, input) { result.inputsChanged = true }
            results.append(result)
        }
        let reloaded = zip(units, results).filter { $0.1.unitFileChanged }.map { $0.0.unit }
        if !reloaded.isEmpty {
            let listed = reloaded.joined(separator: ", ")
            if reloaded.contains(where: { before[$0]?.isLoaded ?? true }) {
                try await change(host, "systemctl daemon-reload (\(listed) changed)", affecting: []) { c in
                    try await c.check(ShellCommand("systemctl", "daemon-reload"))
                }
                for i in results.indices where results[i].unitFileChanged { results[i].daemonReloaded = true }
            } else {
                try await change(host, "systemd loads the new \(listed) (systemctl daemon-reload unless it read them by itself)", affecting: []) { c in
                    let loaded = try await c.run(ShellCommand(["systemctl", "show", "--property=LoadState,NeedDaemonReload", "--"] + reloaded))
                    if loaded.exitStatus != 0 || !Self.loadedAsWritten(loaded.stdoutText) {
                        try await c.check(ShellCommand("systemctl", "daemon-reload"))
                    }
                }
            }
            // systemd reads the new unit files now: their states are read again below.
            for unit in reloaded { surveys[host]?.units[unit] = nil }
        }
        let states = try await unitStates(host, units.map(\.unit))
        let disabled = units.filter { $0.enable && !(states[$0.unit]?.isEnabled ?? false) }.map(\.unit)
        if !disabled.isEmpty {
            try await change(host, "systemctl enable \(disabled.joined(separator: " "))", affecting: []) { c in
                try await c.check(ShellCommand(["systemctl", "enable"] + disabled))
            }
            for i in units.indices where disabled.contains(units[i].unit) { results[i].enabled = true }
        }
        for (i, unit) in units.enumerated() {
            let filesChanged = results[i].unitFileChanged || results[i].inputsChanged
            if !unit.start {
                // Started by another unit: nothing to start or restart here.
            } else if !(states[unit.unit]?.isRunning ?? false) {
                results[i].started = try await change(host, "systemctl start \(unit.unit)", affecting: []) { c in
                    try await c.check(ShellCommand("systemctl", "start", unit.unit))
                }
            } else if unit.restartOnChange && filesChanged {
                results[i].restarted = try await change(host, "systemctl restart \(unit.unit) (its files changed)", affecting: []) { c in
                    try await c.check(ShellCommand("systemctl", "restart", unit.unit))
                }
            } else if let reason = unit.restartBecause {
                results[i].restarted = try await change(host, "systemctl restart \(unit.unit) (\(reason))", affecting: []) { c in
                    try await c.check(ShellCommand("systemctl", "restart", unit.unit))
                }
            }
            if mode == .apply, results[i].changed { surveys[host]?.units[unit.unit] = nil }
        }
        return results
    }

    /// Whether `systemctl show --property=LoadState,NeedDaemonReload` says every unit is loaded from its file
    /// as it is on disk now.
    static func loadedAsWritten(_ show: String) -> Bool {
        let lines = show.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.hasPrefix("LoadState=") || $0.hasPrefix("NeedDaemonReload=") }
        return lines.contains("LoadState=loaded") && lines.allSatisfy { $0 == "LoadState=loaded" || $0 == "NeedDaemonReload=no" }
    }
}

/// A systemd unit `ensureUnits` converges.
public struct ManagedUnit: Sendable, Equatable {
    public var unit: String
    public var unitFile: ManagedFile
    /// Files the unit reads (configs, certificates): a change restarts it when `restartOnChange`.
    public var inputs: [ManagedFile]
    public var enable: Bool
    /// False for a unit that only another unit starts (a timer's service): it is loaded, never started here.
    public var start: Bool
    public var restartOnChange: Bool
    /// Why the unit must restart although its own files are unchanged (a binary or a certificate that
    /// another step installed changed), shown in the action; nil when nothing else changed.
    public var restartBecause: String?

    public init(unit: String, unitFile: ManagedFile, inputs: [ManagedFile] = [], enable: Bool = true, start: Bool = true,
                restartOnChange: Bool = true, restartBecause: String? = nil) {
        self.unit = unit
        self.unitFile = unitFile
        self.inputs = inputs
        self.enable = enable
        self.start = start
        self.restartOnChange = restartOnChange
        self.restartBecause = restartBecause
    }
}
