import Hosts

/// One named step of a workflow, e.g. `etcd-install`, run on a set of hosts.
public struct Phase: Sendable {
    public enum Execution: Sendable, Equatable {
        /// All hosts at once, at most `limit` at a time; every host's error is collected.
        case parallel(limit: Int)
        /// One host after another, in order; stops at the first failure (rolling changes).
        case serial
        /// The body runs once for the whole phase (cluster-level work such as membership changes).
        case once
    }

    /// The parts of the cluster `apply --only` selects, each a group of phases.
    public enum Part: String, CaseIterable, Sendable {
        case pki, etcd, backup, kubernetes, network
    }

    public var name: String
    public var hosts: [String]
    public var execution: Execution
    /// The part `apply --only` selects it with (`belonging(to:)`); Kubernetes unless the phase says otherwise.
    public internal(set) var part: Part = .kubernetes
    /// What to tell the user to do when the phase fails.
    public var next: String
    let body: @Sendable (WorkflowContext, String?) async throws -> Void
    /// Reads what the body will compare (`WorkflowContext.survey`, `probe`) before it runs. For a serial
    /// phase the runner surveys every host at once first, so hosts with nothing to change cost no round trip
    /// in turn. It only declares reads: the first read of a host in a run also reads what the surveys of the
    /// later phases declare (run with a collector, their reads noted, not made), so a host where nothing
    /// changes answers one survey command for the whole run.
    var survey: (@Sendable (WorkflowContext, String) async throws -> Void)?
    /// Phases that must run before this one in the same run: they prepare run data it reads (`reading`).
    public internal(set) var needs: [String] = []
    /// Tidies what the phase left for the run's later phases (temporary copies): see `cleaningUp`.
    var cleanup: (@Sendable (WorkflowContext) async -> Void)?
    /// For a serial phase: true when, after the surveys, nothing the one-at-a-time order protects is there
    /// (no API server runs yet), so every host is changed at once: see `allAtOnce(when:)`.
    var allAtOnce: (@Sendable (WorkflowContext, [String]) async throws -> Bool)?

    /// A phase whose body runs per host (`execution` .parallel or .serial).
    public init(
        _ name: String, hosts: [String], execution: Execution = .parallel(limit: FanOut.defaultLimit),
        next: String = "fix the cause above and run the command again (completed steps are not repeated)",
        perHost: @escaping @Sendable (WorkflowContext, String) async throws -> Void
    ) {
        self.name = name
        self.hosts = hosts
        self.execution = execution == .once ? .serial : execution
        self.next = next
        self.body = { ctx, host in
            guard let host else { return }
            try await perHost(ctx, host)
        }
    }

    /// A phase whose body runs once; `hosts` are the hosts it concerns (for output and skipping).
    public init(
        _ name: String, concerning hosts: [String],
        next: String = "fix the cause above and run the command again (completed steps are not repeated)",
        once: @escaping @Sendable (WorkflowContext) async throws -> Void
    ) {
        self.name = name
        self.hosts = hosts
        self.execution = .once
        self.next = next
        self.body = { ctx, _ in try await once(ctx) }
    }
}

extension Phase {
    /// This serial phase changes all its hosts at once (as a parallel phase, within the same bound) when
    /// `nothingToProtect`, asked after every host's survey, finds nothing the one-at-a-time order keeps
    /// available: a first install has no running service to roll.
    public func allAtOnce(when nothingToProtect: @escaping @Sendable (WorkflowContext, [String]) async throws -> Bool) -> Phase {
        var phase = self
        phase.allAtOnce = nothingToProtect
        return phase
    }

    /// This phase with `survey` run before the body on each host (all hosts at once for a serial phase).
    public func surveying(_ survey: @escaping @Sendable (WorkflowContext, String) async throws -> Void) -> Phase {
        var phase = self
        phase.survey = survey
        return phase
    }

    /// One host of this phase as the runner runs it, for steps that compose phases host by host outside a
    /// run (`upgrade`): the survey (its reads in one command), then the body; when the body changed the host,
    /// what was read of it is forgotten, as at the end of a phase, so the next phase reads it afresh.
    func run(_ ctx: WorkflowContext, host: String) async throws {
        try await survey?(ctx, host)
        let before = await ctx.actionCount
        try await body(ctx, host)
        if ctx.mode == .apply, await ctx.actionCount != before { await ctx.forgetSurvey(host) }
    }

    /// It works on its hosts in parallel, so `spec.concurrency` bounds how many at once. The others run once
    /// for the cluster (PKI, etcd membership and health, cluster objects) or one host at a time so the API and
    /// etcd keep quorum (control-plane).
    public var worksOnHostsInParallel: Bool {
        if case .parallel = execution { true } else { false }
    }

    /// This phase as one of `part`'s, for `apply --only`.
    public func belonging(to part: Part) -> Phase {
        var phase = self
        phase.part = part
        return phase
    }

    /// This phase with `cleanup`, which the runner runs once the run ends, succeeded or failed, if the phase
    /// started: the cleanups of the phases that started run latest first, under their phase's name, in plan
    /// mode too (where the phases changed nothing, so a cleanup should find nothing to do). A cleanup reports
    /// its own problems (`WorkflowContext.emit`); it cannot change the run's outcome.
    public func cleaningUp(_ cleanup: @escaping @Sendable (WorkflowContext) async -> Void) -> Phase {
        var phase = self
        phase.cleanup = cleanup
        return phase
    }

    /// This phase reading `data`: the phase that sets it must run before this one in the same run, or the
    /// runner refuses to start (`WorkflowError.neededPhaseMissing`). Data known up front needs no phase.
    public func reading<Value>(_ data: RunData<Value>) -> Phase {
        var phase = self
        if let preparer = data.preparer, !phase.needs.contains(preparer) { phase.needs.append(preparer) }
        return phase
    }
}

/// An ordered list of phases, built by a pure function of inventory and facts.
public struct Workflow: Sendable {
    public var name: String
    public var phases: [Phase]

    public init(name: String, phases: [Phase]) {
        self.name = name
        self.phases = phases
    }
}

/// What happened in a run.
public struct RunReport: Sendable, Equatable {
    public var completed: [String]
    public var skipped: [String]
    public var actions: [PlannedAction]
    /// Bytes moved to hosts: from this machine, and between hosts by peer transfer.
    public var transfer = TransferTally()
}

/// Runs a workflow's phases in order, skipping those named in the options, and stops at the first
/// failing phase with a `WorkflowError.phaseFailed` naming the phase and every failing host.
public struct PhaseRunner: Sendable {
    public init() {}

    public func run(_ workflow: Workflow, in ctx: WorkflowContext) async throws -> RunReport {
        let known = workflow.phases.map(\.name)
        let unknown = ctx.options.skipPhases.subtracting(known).sorted()
        if !unknown.isEmpty { throw WorkflowError.unknownPhase(names: unknown, known: known) }
        try Self.checkNeeds(workflow.phases, skipping: ctx.options.skipPhases)

        var started: [Phase] = []
        do {
            var report = try await runPhases(workflow, in: ctx, started: &started)
            await cleanUp(started, ctx)
            report.actions = await ctx.actions
            return report
        } catch {
            await cleanUp(started, ctx)
            throw error
        }
    }

    /// The cleanups of the phases that started, latest first.
    private func cleanUp(_ started: [Phase], _ ctx: WorkflowContext) async {
        for phase in started.reversed() {
            guard let cleanup = phase.cleanup else { continue }
            await ctx.setPhase(phase.name)
            await cleanup(ctx)
        }
        if started.contains(where: { $0.cleanup != nil }) { await ctx.setPhase(nil) }
    }

    private func runPhases(_ workflow: Workflow, in ctx: WorkflowContext, started: inout [Phase]) async throws -> RunReport {
        var completed: [String] = []
        var skipped: [String] = []
        // The first read of a host also reads what the later phases' surveys declare for it.
        await ctx.beginRun(workflow.phases.map { phase in
            SurveyDeclaration(hosts: Set(phase.hosts), survey: ctx.options.skipPhases.contains(phase.name) ? nil : phase.survey)
        })
        for (index, phase) in workflow.phases.enumerated() {
            await ctx.setPhase(phase.name, index: index)
            if ctx.options.skipPhases.contains(phase.name) {
                await ctx.emit(.phaseSkipped, "--skip-phases")
                skipped.append(phase.name)
                continue
            }
            await ctx.emit(.phaseStarted, phase.hosts.joined(separator: ", "))
            started.append(phase)
            let failures: [WorkflowError.HostFailure]
            do {
                failures = try await execute(phase, ctx)
                await ctx.stopPeerServers()
            } catch {
                await ctx.stopPeerServers()
                throw error
            }
            if !failures.isEmpty {
                for failure in failures { await ctx.emit(.failed, host: failure.host, failure.message) }
                await ctx.setPhase(nil)
                throw WorkflowError.phaseFailed(phase: phase.name, failures: failures, next: phase.next)
            }
            await ctx.emit(.phaseFinished, "")
            completed.append(phase.name)
        }
        await ctx.setPhase(nil)
        return RunReport(completed: completed, skipped: skipped, actions: await ctx.actions, transfer: await ctx.transferTally)
    }

    /// Every phase that runs finds the phases it needs earlier in the list and not skipped; else nothing runs.
    static func checkNeeds(_ phases: [Phase], skipping: Set<String>) throws {
        var missing: [String: [String]] = [:]
        for (index, phase) in phases.enumerated() where !skipping.contains(phase.name) {
            for needed in phase.needs where skipping.contains(needed) || !phases.prefix(index).contains(where: { $0.name == needed }) {
                missing[needed, default: []].append(phase.name)
            }
        }
        guard let (needed, by) = missing.min(by: { $0.key < $1.key }) else { return }
        throw WorkflowError.neededPhaseMissing(phase: needed, neededBy: by, skipped: skipping.contains(needed))
    }

    /// A refusal to act on another cluster ends the run as it is (not as a phase failure: nothing started).
    private func execute(_ phase: Phase, _ ctx: WorkflowContext) async throws -> [WorkflowError.HostFailure] {
        switch phase.execution {
        case .once:
            do {
                try await phase.body(ctx, nil)
                return []
            } catch {
                if case WorkflowError.identityMismatch = error { throw error }
                return [WorkflowError.HostFailure(host: phase.hosts.joined(separator: ","), cause: error)]
            }
        case .serial:
            let limit = ctx.options.concurrency.limit(for: phase.name) ?? FanOut.defaultLimit
            var surveyed = phase.hosts
            if let survey = phase.survey {
                // Checking is parallel, changing stays one host at a time: a host whose survey fails is
                // read again in its turn and fails there, in order.
                let outcomes = await FanOut.run(phase.hosts, limit: limit, name: { $0 }) { host in
                    try await survey(ctx, host)
                }
                surveyed = outcomes.filter { $0.error == nil }.map(\.host)
            }
            if let nothingToProtect = phase.allAtOnce, surveyed.count == phase.hosts.count,
               (try? await nothingToProtect(ctx, phase.hosts)) == true {
                await ctx.emit(.message, "nothing runs yet on \(phase.hosts.joined(separator: ", ")): all of them at once")
                return await allHosts(phase, ctx, limit: limit, surveying: false)
            }
            let before = await ctx.actionCount
            for host in phase.hosts {
                // Once an earlier host changed (and waited for its health gate), read this one afresh.
                if ctx.mode == .apply, await ctx.actionCount != before { await ctx.forgetSurvey(host) }
                do {
                    try await phase.body(ctx, host)
                    await ctx.emit(.hostStatus, host: host, "done")
                } catch {
                    return [WorkflowError.HostFailure(host: host, cause: error)]
                }
            }
            return []
        case .parallel(let limit):
            // The phase's own bound, unless the inventory sets one (`spec.concurrency`).
            return await allHosts(phase, ctx, limit: ctx.options.concurrency.limit(for: phase.name) ?? limit, surveying: true)
        }
    }

    /// Every host of `phase` at once (at most `limit` at a time), each host's error collected; `surveying`:
    /// each host's survey first (a serial phase has surveyed them all already).
    private func allHosts(_ phase: Phase, _ ctx: WorkflowContext, limit: Int, surveying: Bool) async -> [WorkflowError.HostFailure] {
        let body = phase.body
        let survey = surveying ? phase.survey : nil
        let outcomes = await FanOut.run(phase.hosts, limit: limit, name: { $0 }) { host in
            try await survey?(ctx, host)
            try await body(ctx, host)
            await ctx.emit(.hostStatus, host: host, "done")
        }
        return outcomes.compactMap { outcome in
            outcome.error.map { WorkflowError.HostFailure(host: outcome.host, cause: $0) }
        }
    }
}
