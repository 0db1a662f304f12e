import Foundation

/// Typed data the phases of one run share, in the spirit of kubeadm's workflow data: a phase whose work
/// needs what an earlier phase of the same run produces (the PKI it created, the artifacts it verified) reads
/// it from here instead of being built after that phase by hand.
///
/// - An input (`RunData(setBy:)`) is set by one phase of the run, its prepare step. A phase declares what it
///   reads (`Phase.reading`), and the runner refuses to start a run where that phase is skipped or comes
///   later (`WorkflowError.neededPhaseMissing`). A read that was not declared, before the data is set, fails
///   with `WorkflowError.runDataMissing` naming the preparer.
/// - `map` derives a value from it (templates rendered, files read). It is computed once per run, by the
///   first phase that asks (hosts asking at the same time wait for that one computation), and kept until the
///   next run begins. A failed computation is not kept: the next asker computes again.
/// - `RunData(fixed:)` is a value known when the phases are built (a caller that has the PKI and the
///   artifacts already, such as `upgrade`).
///
/// A phase's survey asks for run data like its body. Surveys of later phases are declared ahead, with the
/// first read of a host: before the preparer ran, such a survey cannot say yet and is asked again later.
public final class RunData<Value: Sendable>: Sendable {
    /// The phase that sets the data this comes from; nil for data known up front.
    public let preparer: String?
    /// Its values' key in a context: unique for the process (an object's address could be reused once it
    /// is freed, and a context can outlive the phases that used it, as `upgrade`'s does).
    let key = UUID()
    private let compute: @Sendable (WorkflowContext) async throws -> Value
    /// The derived data, resolved by `resolveDerived` (the preparer checks them before any host changes).
    private let derived = DerivedList()

    /// A value the phase `phase` sets in each run (`set`).
    public init(setBy phase: String) {
        preparer = phase
        compute = { _ in throw WorkflowError.runDataMissing(phase: phase) }
    }

    /// A value known up front, the same in every run.
    public init(fixed value: Value) {
        preparer = nil
        compute = { _ in value }
    }

    private init(preparer: String?, compute: @escaping @Sendable (WorkflowContext) async throws -> Value) {
        self.preparer = preparer
        self.compute = compute
    }

    /// The value for this run of `ctx`.
    public func value(in ctx: WorkflowContext) async throws -> Value {
        let any = try await ctx.runValue(key) { try await self.compute(ctx) }
        guard let value = any as? Value else { preconditionFailure("run data of another type under one key") }
        return value
    }

    /// Sets the value for this run of `ctx` (the preparer's step); what was derived from an earlier value
    /// of this run is computed again.
    public func set(_ value: Value, in ctx: WorkflowContext) async {
        await ctx.setRunValue(key, value, dropping: derived.keys(deep: true))
    }

    /// Data computed from this value once per run, when first asked.
    public func map<T: Sendable>(_ transform: @escaping @Sendable (Value) throws -> T) -> RunData<T> {
        let child = RunData<T>(preparer: preparer) { ctx in try transform(try await self.value(in: ctx)) }
        derived.add(key: child.key, children: child.derived) { ctx in _ = try await child.value(in: ctx) }
        return child
    }

    /// Computes everything derived from this value (and from what is derived from it) for this run, so a
    /// broken template or a missing file fails the preparer, before any later phase touches a host.
    public func resolveDerived(in ctx: WorkflowContext) async throws {
        for resolve in derived.resolvers(deep: true) { try await resolve(ctx) }
    }
}

/// The data derived from one `RunData`, each with its own derived data.
private final class DerivedList: Sendable {
    private struct Entry: Sendable {
        var key: UUID
        var children: DerivedList
        var resolve: @Sendable (WorkflowContext) async throws -> Void
    }
    private let lock = NSLock()
    nonisolated(unsafe) private var entries: [Entry] = []

    func add(key: UUID, children: DerivedList, resolve: @escaping @Sendable (WorkflowContext) async throws -> Void) {
        lock.withLock { entries.append(Entry(key: key, children: children, resolve: resolve)) }
    }

    private var current: [Entry] { lock.withLock { entries } }

    func keys(deep: Bool) -> [UUID] {
        current.flatMap { [$0.key] + (deep ? $0.children.keys(deep: true) : []) }
    }

    func resolvers(deep: Bool) -> [@Sendable (WorkflowContext) async throws -> Void] {
        current.flatMap { [$0.resolve] + (deep ? $0.children.resolvers(deep: true) : []) }
    }
}

extension WorkflowContext {
    /// The run's value under `key`, computed by `compute` on first use; concurrent askers share the one
    /// computation. A failure is not kept.
    func runValue(_ key: UUID, _ compute: @escaping @Sendable () async throws -> any Sendable) async throws -> any Sendable {
        if let task = runValues[key] { return try await task.value }
        let task = Task<any Sendable, any Error> { try await compute() }
        runValues[key] = task
        do {
            return try await task.value
        } catch {
            if runValues[key] == task { runValues[key] = nil }
            throw error
        }
    }

    func setRunValue(_ key: UUID, _ value: any Sendable, dropping derived: [UUID]) {
        runValues[key] = Task { value }
        for key in derived { runValues[key] = nil }
    }
}
