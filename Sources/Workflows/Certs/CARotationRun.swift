import Foundation
import PKI

/// A `certs rotate --ca all` run: the CAs it has not finished yet, in order, kept in
/// `<state>/rotation-all.json` beside the per-CA record. The per-CA record (`rotation.json`) is removed
/// when a CA finishes and the next one's is written only when that CA begins, so without this file a run
/// killed between two CAs would start again with the first and rotate a CA that was just rotated.
public struct CARotationRun: Sendable, Equatable, Codable {
    public static let path = "rotation-all.json"
    /// The order `--ca all` rotates in: etcd first (nothing else depends on the cluster CA for it),
    /// then the cluster CA, then the front-proxy CA.
    public static let order: [AuthorityName] = [.etcd, .cluster, .frontProxy]

    /// CAs still to rotate; the first is the one in progress or next.
    public var remaining: [AuthorityName]
    public var startedAt: Date

    public init(remaining: [AuthorityName], startedAt: Date) {
        self.remaining = remaining
        self.startedAt = startedAt
    }

    /// What `--ca all` rotates now: the recorded run's remaining CAs, or all of them when no run is
    /// recorded (a finished run leaves none). A CA whose rotation is in progress (`rotation.json`) comes
    /// first, because no other CA can start before it finishes.
    public static func resume(recorded: CARotationRun?, inProgress: AuthorityName?, now: Date) -> CARotationRun {
        let continued = recorded.flatMap { $0.remaining.isEmpty ? nil : $0 }
        var remaining = continued?.remaining ?? order
        if let inProgress { remaining = [inProgress] + remaining.filter { $0 != inProgress } }
        return CARotationRun(remaining: remaining, startedAt: continued?.startedAt ?? now)
    }

    /// The run once `authority` is rotated; nil when nothing remains (the run is over).
    public func completing(_ authority: AuthorityName) -> CARotationRun? {
        let rest = remaining.filter { $0 != authority }
        return rest.isEmpty ? nil : CARotationRun(remaining: rest, startedAt: startedAt)
    }

    /// The recorded run, if any.
    public static func load(_ state: StateDirectory) throws -> CARotationRun? {
        let data: Data?
        do { data = try state.read(path) } catch {
            throw WorkflowError.stateFile("cannot read \(state.path(path)): \(error); check the state directory's permissions", cause: error)
        }
        guard let data else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do { return try decoder.decode(CARotationRun.self, from: data) } catch {
            throw WorkflowError.stateFile("cannot read the `--ca all` run record \(state.path(path)): \(error); restore it from a backup, or remove it to let `--ca all` start again with etcd", cause: error)
        }
    }

    /// Records `run` atomically, or removes the record when `run` is nil.
    public static func save(_ run: CARotationRun?, in state: StateDirectory) throws {
        do {
            guard let run else {
                _ = try state.remove(path)
                return
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            _ = try state.write(try encoder.encode(run), to: path, mode: 0o600)
        } catch {
            throw WorkflowError.stateFile("cannot write \(state.path(path)): \(error); check the state directory's permissions and free space", cause: error)
        }
    }
}

extension CertRotation {
    /// `certs rotate --ca all`: every CA of `CARotationRun.order`, one after the other, each through
    /// `rotateCA`. The run is recorded before the first CA begins, and each CA leaves it (in `rotateCA`,
    /// before its own record is removed), so a run killed at any point continues with the CA it was on or
    /// the next one. Returns the CAs completed and, with `stopAfter`, where the rotation stopped.
    public static func rotateAllCAs(manager: PKIManager, stopAfter: CARotationRecord.Phase?, _ ctx: WorkflowContext,
                                    _ settings: EtcdWorkflowSettings) async throws -> (completed: [AuthorityName], stopped: CARotationRecord?) {
        let recorded = try CARotationRun.load(manager.state)
        let run = CARotationRun.resume(recorded: recorded, inProgress: try manager.loadRotation()?.authority, now: ctx.now())
        if recorded != nil {
            await ctx.emit(.message, "continuing the `--ca all` run started \(ISO8601DateFormatter().string(from: run.startedAt)): remaining \(run.remaining.map(\.rawValue).joined(separator: ", "))")
        }
        try CARotationRun.save(run, in: manager.state)
        var completed: [AuthorityName] = []
        while let authority = try CARotationRun.load(manager.state)?.remaining.first {
            guard !completed.contains(authority) else {
                throw WorkflowError.stateFile("the `--ca all` run record still lists \(authority.rawValue) after its rotation completed; remove \(manager.state.path(CARotationRun.path)) and run again")
            }
            if let stopped = try await rotateCA(authority, manager: manager, stopAfter: stopAfter, ctx, settings) { return (completed, stopped) }
            completed.append(authority)
        }
        return (completed, nil)
    }
}
