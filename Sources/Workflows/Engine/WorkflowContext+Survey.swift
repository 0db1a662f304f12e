import Foundation
import Hosts

/// What one or more phases read on a host before they compare: files (stat and SHA-256), large files
/// (checked against the checksum record), systemd units, small files read whole and command outputs.
struct SurveyRequest: Sendable {
    var files: [String] = []
    var large: Set<String> = []
    var units: [String] = []
    var probePaths: [String] = []
    var probeCommands: [ShellCommand] = []

    var isEmpty: Bool { files.isEmpty && units.isEmpty && probePaths.isEmpty && probeCommands.isEmpty }

    mutating func add(_ other: SurveyRequest) {
        files += other.files
        large.formUnion(other.large)
        units += other.units
        probePaths += other.probePaths
        probeCommands += other.probeCommands
    }

    /// What of this is not in `known` yet (each item once).
    func missing(from known: HostSurvey) -> SurveyRequest {
        let paths = WorkflowContext.unique(files).filter { known.files[$0] == nil && HostSurvey.surveyable($0) }
        return SurveyRequest(
            files: paths, large: large.intersection(paths),
            units: WorkflowContext.unique(units).filter { known.units[$0] == nil },
            probePaths: WorkflowContext.unique(probePaths).filter { known.probed.paths[$0] == nil },
            probeCommands: Array(Set(probeCommands.filter { known.probed.outputs[$0.line] == nil })).sorted { $0.line < $1.line })
    }
}

/// Collects what phases' survey closures declare, instead of reading it (see `WorkflowContext.declaredReads`).
final class SurveyCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var collected = SurveyRequest()

    @TaskLocal static var current: SurveyCollector?

    func add(_ request: SurveyRequest) {
        lock.lock()
        defer { lock.unlock() }
        collected.add(request)
    }

    var request: SurveyRequest {
        lock.lock()
        defer { lock.unlock() }
        return collected
    }
}

/// A phase's survey, as the runner hands it to the context at the start of a run.
struct SurveyDeclaration: Sendable {
    var hosts: Set<String>
    /// nil: the phase declares nothing (or is skipped).
    var survey: (@Sendable (WorkflowContext, String) async throws -> Void)?
}

extension WorkflowContext {
    /// Reads the state of `files` and `units` on `host` in one command and keeps it for the run, until a
    /// change on the host makes it stale (the entries a change affects at once, everything of the host at
    /// the end of a phase that changed it), so the `ensureFile` / `ensureUnits` / binary checks after it
    /// compare locally. Paths and units already surveyed are not read again.
    ///
    /// When it has to read, the same command also reads what the surveys of the run's later phases declare
    /// for `host` (see `declaredReads`): a host where nothing changes answers once for all of them.
    ///
    /// `largeFiles` (binaries; a subset of `files` or not) are not hashed when the host's checksum record
    /// (`HostSurvey.checksumRecord`) says they are unchanged since Capstan installed them.
    public func survey(_ host: String, files: [String] = [], largeFiles: [String] = [], units: [String] = []) async throws {
        let request = SurveyRequest(files: files + largeFiles, large: Set(largeFiles), units: units)
        if let collector = SurveyCollector.current { return collector.add(request) }
        _ = try await read(host, request)
    }

    /// Small files read whole (`cat`, so /proc and /sys files too) and the output of fixed read-only
    /// commands on `host`: kept with the survey, and read with it. `commands` are keyed for the caller.
    func probe(_ host: String, paths: [String], commands: [(key: String, command: ShellCommand)] = []) async throws -> HostProbe {
        let request = SurveyRequest(probePaths: paths, probeCommands: commands.map(\.command))
        if let collector = SurveyCollector.current {
            collector.add(request)
            return HostProbe()
        }
        let fresh = try await read(host, request)
        var known = surveys[host]?.probed ?? HostProbe()
        known.merge(fresh.probed)
        var answer = HostProbe(read: known.read)
        for path in paths { answer.paths[path] = known.paths[path] ?? .absent }
        for (key, command) in commands { answer.outputs[key] = known.outputs[command.line] }
        return answer
    }

    /// Reads what of `wanted` is not known yet, together with what later phases declared for `host`, and
    /// keeps it; returns what was read.
    private func read(_ host: String, _ wanted: SurveyRequest) async throws -> HostSurvey {
        let known = surveys[host] ?? HostSurvey()
        var missing = wanted.missing(from: known)
        guard !missing.isEmpty else { return HostSurvey() }
        missing.add(await declaredReads(host))
        let found = try await readSurvey(host, missing.missing(from: known))
        surveys[host, default: HostSurvey()].merge(found)
        return found
    }

    /// What the surveys of this and the later phases of the run declare for `host` and have not declared
    /// before. A survey runs here with a collector: its reads are noted, not made. A survey that cannot say
    /// yet (what it compares is built by an earlier phase still to run) is asked again at the next read.
    private func declaredReads(_ host: String) async -> SurveyRequest {
        var request = SurveyRequest()
        for (index, declaration) in declarations.enumerated()
        where index >= phaseIndex && declaration.hosts.contains(host) && !(declared[host]?.contains(index) ?? false) {
            guard let survey = declaration.survey else { continue }
            let collector = SurveyCollector()
            do {
                try await SurveyCollector.$current.withValue(collector) { try await survey(self, host) }
            } catch {
                continue
            }
            declared[host, default: []].insert(index)
            request.add(collector.request)
        }
        return request
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
            let stat = try await c.check(ShellCommand(["stat", "-c", "\(HostSurvey.identityFormat) %n", "--"] + paths))
            var identities: [String: String] = [:]
            for line in stat.stdoutText.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1)
                if parts.count == 2 { identities[String(parts[1])] = String(parts[0]) }
            }
            var entries: [String: (sha256: String, identity: String)] = [:]
            for path in paths {
                if let sum = checksums[path], let identity = identities[path] { entries[path] = (sum, identity) }
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
        try await readSurvey(host, SurveyRequest(files: paths, large: large, units: units))
    }

    /// One command: the probe's reads first, then `stat`/`sha256sum` and `systemctl show` last (the test
    /// double of systemd answers that part itself).
    private func readSurvey(_ host: String, _ request: SurveyRequest) async throws -> HostSurvey {
        let connection = try await openConnection(host)
        let paths = request.files
        let probing = !request.probePaths.isEmpty || !request.probeCommands.isEmpty
        var command: ShellCommand?
        if probing {
            command = HostProbe.command(paths: request.probePaths, commands: request.probeCommands.enumerated().map { ("\($0.offset)", $0.element) })
                .appending(.raw("; printf")).appending(ShellCommand("\\n%s\\n", HostProbe.endMarker))
        }
        if !paths.isEmpty || !request.units.isEmpty {
            let survey = HostSurvey.command(paths: paths, large: request.large.intersection(paths), units: request.units)
            command = command.map { $0.appending(.raw(";")).appending(survey) } ?? survey
        }
        guard let command else { return HostSurvey() }
        let started = now()
        let text = try await connection.run(command).stdoutText
        let ended = now()
        var surveyText = text
        var survey = HostSurvey()
        if probing {
            let end = text.range(of: "\n" + HostProbe.endMarker + "\n")
            let parsed = HostProbe.parse(end.map { String(text[..<$0.lowerBound]) } ?? text)
            surveyText = end.map { String(text[$0.upperBound...]) } ?? ""
            // Without the end marker the command did not run as expected: claim nothing.
            if end != nil {
                survey.probed.read = started...max(started, ended)
                for path in request.probePaths { survey.probed.paths[path] = parsed.paths[path] ?? .absent }
                for (index, probeCommand) in request.probeCommands.enumerated() { survey.probed.outputs[probeCommand.line] = parsed.outputs["\(index)"] ?? "" }
            }
        }
        if !paths.isEmpty || !request.units.isEmpty {
            var files = HostSurvey.parse(surveyText, paths: paths, large: request.large, units: request.units)
            try await hashUnrecorded(&files, connection)
            files.probed = survey.probed
            survey = files
        }
        return survey
    }

    /// Large files no record vouches for: hashed in a second command, only then.
    private func hashUnrecorded(_ survey: inout HostSurvey, _ connection: any HostConnection) async throws {
        guard !survey.toHash.isEmpty else { return }
        let pending = survey.toHash.keys.sorted()
        let sums = FactsParser.sha256sums(try await connection.run(ShellCommand(["sha256sum", "--"] + pending)).stdoutText)
        for path in pending {
            guard var state = survey.toHash[path], let sum = sums[path] else {
                survey.files[path] = .unknown
                continue
            }
            state.sha256 = sum
            survey.files[path] = .present(state)
            survey.unrecorded.insert(path)
        }
        survey.toHash = [:]
    }

    static func unique(_ items: [String]) -> [String] {
        var seen: Set<String> = []
        return items.filter { seen.insert($0).inserted }
    }
}
