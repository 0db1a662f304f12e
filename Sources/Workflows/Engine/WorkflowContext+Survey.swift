import Foundation
import Hosts

extension WorkflowContext {
    /// Reads the state of `files` and `units` on `host` in one command and keeps it until the phase ends
    /// (or a change makes it stale), so the `ensureFile` / `ensureUnits` / binary checks after it compare
    /// locally. Paths and units already surveyed in this phase are not read again.
    ///
    /// `largeFiles` (binaries; a subset of `files` or not) are not hashed when the host's checksum record
    /// (`HostSurvey.checksumRecord`) says they are unchanged since Capstan installed them.
    public func survey(_ host: String, files: [String] = [], largeFiles: [String] = [], units: [String] = []) async throws {
        let known = surveys[host] ?? HostSurvey()
        let paths = Self.unique(files + largeFiles).filter { known.files[$0] == nil && HostSurvey.surveyable($0) }
        let missingUnits = Self.unique(units).filter { known.units[$0] == nil }
        guard !paths.isEmpty || !missingUnits.isEmpty else { return }
        let found = try await readSurvey(host, paths: paths, large: Set(largeFiles), units: missingUnits)
        surveys[host, default: HostSurvey()].merge(found)
    }

    /// Large files of `host` that were hashed because no checksum record matched them (to be recorded).
    func unrecordedFiles(_ host: String) -> Set<String> { surveys[host]?.unrecorded ?? [] }

    /// Records the SHA-256 of files just installed (or found correct but unrecorded) on `host`, with their
    /// identity now, so later surveys need not hash them: one guarded change.
    func recordChecksums(_ host: String, _ checksums: [String: String]) async throws {
        guard !checksums.isEmpty else { return }
        let record = HostSurvey.checksumRecord
        let paths = checksums.keys.sorted()
        try await change(host, "record the sha256 of \(paths.count) installed file(s) in \(record) (unchanged files are not hashed again)",
                         affecting: [record]) { c in
            let mapped = paths.map { HostPath.forCommand($0, on: c) }
            let stat = try await c.check(ShellCommand(["stat", "-c", "\(HostSurvey.identityFormat) %n", "--"] + mapped))
            var identities: [String: String] = [:]
            for line in stat.stdoutText.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1)
                if parts.count == 2 { identities[String(parts[1])] = String(parts[0]) }
            }
            var entries: [String: (sha256: String, identity: String)] = [:]
            for (path, commandPath) in zip(paths, mapped) {
                if let sum = checksums[path], let identity = identities[commandPath] { entries[path] = (sum, identity) }
            }
            let current = try await c.read(record).map { String(decoding: $0, as: UTF8.self) } ?? ""
            try await c.write(Data(HostSurvey.updatedRecord(current, entries).utf8), to: record, attributes: FileAttributes(mode: 0o644))
        }
        for path in paths { surveys[host]?.unrecorded.remove(path) }
    }

    /// The surveyed SHA-256 of `path` on `host`, nil when it was not surveyed, is absent or unreadable.
    public func surveyedChecksum(_ host: String, _ path: String) -> String? {
        if case .present(let state) = surveys[host]?.files[path] { return state.sha256 }
        return nil
    }

    /// Whether `file` on `host` differs from what it should hold (content, mode or owner), without
    /// changing or recording anything: for callers that decide *when* to write (e.g. one member at a time).
    public func differs(_ host: String, _ file: ManagedFile) async throws -> Bool {
        switch try await observe(host, file.path) {
        case .present(let state): return state.sha256 != FileDiff.sha256Hex(file.content) || !state.matches(file.attributes)
        case .absent: return true
        case .unknown: return try await openConnection(host).read(file.path) != file.content
        }
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

    private func readSurvey(_ host: String, paths: [String], large: Set<String> = [], units: [String]) async throws -> HostSurvey {
        let connection = try await openConnection(host)
        let commandPaths = paths.map { HostPath.forCommand($0, on: connection) }
        let commandLarge = Set(zip(paths, commandPaths).filter { large.contains($0.0) }.map { $0.1 })
        let result = try await connection.run(HostSurvey.command(
            paths: commandPaths, large: commandLarge, record: HostPath.forCommand(HostSurvey.checksumRecord, on: connection), units: units))
        var survey = HostSurvey.parse(result.stdoutText, paths: paths, commandPaths: commandPaths, large: large, units: units)
        if !survey.toHash.isEmpty {
            // No record vouches for these: hash them (a second command, only then).
            let pending = survey.toHash.keys.sorted()
            let mapped = pending.map { HostPath.forCommand($0, on: connection) }
            let sums = FactsParser.sha256sums(try await connection.run(ShellCommand(["sha256sum", "--"] + mapped)).stdoutText)
            for (path, commandPath) in zip(pending, mapped) {
                guard var state = survey.toHash[path], let sum = sums[commandPath] else {
                    survey.files[path] = .unknown
                    continue
                }
                state.sha256 = sum
                survey.files[path] = .present(state)
                survey.unrecorded.insert(path)
            }
            survey.toHash = [:]
        }
        return survey
    }

    static func unique(_ items: [String]) -> [String] {
        var seen: Set<String> = []
        return items.filter { seen.insert($0).inserted }
    }
}
