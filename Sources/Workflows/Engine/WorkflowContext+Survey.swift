import Foundation
import Hosts

extension WorkflowContext {
    /// Reads the state of `files` and `units` on `host` in one command and keeps it until the phase ends
    /// (or a change makes it stale), so the `ensureFile` / `ensureUnits` / binary checks after it compare
    /// locally. Paths and units already surveyed in this phase are not read again.
    public func survey(_ host: String, files: [String] = [], units: [String] = []) async throws {
        let known = surveys[host] ?? HostSurvey()
        let paths = Self.unique(files).filter { known.files[$0] == nil && HostSurvey.surveyable($0) }
        let missingUnits = Self.unique(units).filter { known.units[$0] == nil }
        guard !paths.isEmpty || !missingUnits.isEmpty else { return }
        let found = try await readSurvey(host, paths: paths, units: missingUnits)
        surveys[host, default: HostSurvey()].merge(found)
    }

    /// The surveyed SHA-256 of `path` on `host`, nil when it was not surveyed, is absent or unreadable.
    public func surveyedChecksum(_ host: String, _ path: String) -> String? {
        if case .present(let state) = surveys[host]?.files[path] { return state.sha256 }
        return nil
    }

    /// Whether `path` on `host` was surveyed in this phase (present, absent or unreadable).
    func isSurveyed(_ host: String, _ path: String) -> Bool { surveys[host]?.files[path] != nil }

    /// Forgets what was surveyed on `host` (the serial runner does this when time passed since).
    func forgetSurvey(_ host: String) { surveys[host] = nil }

    var actionCount: Int { actions.count }

    /// The surveyed state of `path`, or a one-path survey that is not kept (callers that did not survey).
    func observe(_ host: String, _ path: String) async throws -> ObservedFile {
        if let known = surveys[host]?.files[path] { return known }
        guard HostSurvey.surveyable(path) else { return .unknown }
        return try await readSurvey(host, paths: [path], units: []).files[path] ?? .unknown
    }

    /// Unit states, surveyed if not known yet; a unit systemd did not describe counts as neither enabled nor active.
    func unitStates(_ host: String, _ units: [String]) async throws -> [String: SystemdUnitState] {
        try await survey(host, units: units)
        var states: [String: SystemdUnitState] = [:]
        for unit in units { states[unit] = surveys[host]?.units[unit] }
        return states
    }

    private func readSurvey(_ host: String, paths: [String], units: [String]) async throws -> HostSurvey {
        let connection = try await connection(host)
        let commandPaths = paths.map { HostPath.forCommand($0, on: connection) }
        let result = try await connection.run(HostSurvey.command(paths: commandPaths, units: units))
        return HostSurvey.parse(result.stdoutText, paths: paths, commandPaths: commandPaths, units: units)
    }

    static func unique(_ items: [String]) -> [String] {
        var seen: Set<String> = []
        return items.filter { seen.insert($0).inserted }
    }
}
