import Foundation
import Hosts

/// A managed file as a host holds it: what `ensureFile` compares with the wanted content and attributes.
public struct RemoteFileState: Sendable, Equatable {
    /// SHA-256 of the content, lowercase hex.
    public var sha256: String
    /// Permission bits, e.g. 0o600.
    public var mode: UInt32
    /// `user:group`.
    public var owner: String

    public init(sha256: String, mode: UInt32, owner: String) {
        self.sha256 = sha256
        self.mode = mode
        self.owner = owner
    }

    /// Whether mode and owner are as `attributes` ask; a nil owner accepts any, `user` alone any group.
    public func matches(_ attributes: FileAttributes) -> Bool {
        guard mode == attributes.mode else { return false }
        guard let wanted = attributes.owner else { return true }
        if wanted.contains(":") { return owner == wanted }
        return owner.split(separator: ":", maxSplits: 1).first.map(String.init) == wanted
    }

    var attributeText: String { "mode \(String(mode, radix: 8)) \(owner)" }
}

/// What a host answered about a path: absent, present with its state, or not readable this way
/// (a directory, an unreadable file: `ensureFile` then reads it the ordinary way and reports why).
public enum ObservedFile: Sendable, Equatable {
    case absent
    case present(RemoteFileState)
    case unknown
}

/// The state of many files and units of one host, read with ONE remote command: `stat` and `sha256sum`
/// over every path, `systemctl show` over every unit. A no-op run then costs one round trip per host and
/// phase instead of one per file and unit check.
public struct HostSurvey: Sendable, Equatable {
    public var files: [String: ObservedFile] = [:]
    public var units: [String: SystemdUnitState] = [:]
    /// Large files whose checksum had to be computed: no record matched them (see `checksumRecord`).
    public var unrecorded: Set<String> = []
    /// Large files present without a matching record, still to be hashed (filled by `parse`; the
    /// checksum is empty until then).
    var toHash: [String: RemoteFileState] = [:]
    /// Small files read whole (kernel settings, /proc tables) and command outputs keyed by the command
    /// line (`WorkflowContext.probe`), with when they were read.
    var probed = HostProbe()

    public init(files: [String: ObservedFile] = [:], units: [String: SystemdUnitState] = [:]) {
        self.files = files
        self.units = units
    }

    static let statMarker = "#capstan-stat"
    static let sha256Marker = "#capstan-sha256"
    static let recordsMarker = "#capstan-records"
    static let unitsMarker = "#capstan-units"

    /// Where a host keeps the SHA-256 of the large files (binaries) Capstan installed, each with the
    /// inode, size and change time (ns) the file had right after: `<sha256> <inode>:<size>:<ctime> <path>`.
    /// A file whose inode, size and change time still match is not hashed again; any write, rename,
    /// chmod or chown moves the change time, which user space cannot set back.
    public static let checksumRecord = "/var/lib/capstan/checksums"
    static let identityFormat = "%i:%s:%.9Z"
    static let unitProperties = "Id,LoadState,ActiveState,SubState,UnitFileState"

    /// `systemctl` names: a name without a type suffix is a service.
    static func unitName(_ name: String) -> String { name.contains(".") ? name : name + ".service" }

    /// Paths the survey can report on: one output line each, so no newline or backslash (sha256sum
    /// escapes those); others are read the ordinary way.
    static func surveyable(_ path: String) -> Bool { !path.contains("\n") && !path.contains("\\") && !path.isEmpty }

    /// The one command. `large` (a subset of `paths`) are not hashed here: the checksum record is printed instead.
    static func command(paths: [String], large: Set<String> = [], units: [String]) -> ShellCommand {
        var command = ShellCommand("true")
        if !paths.isEmpty {
            let small = paths.filter { !large.contains($0) }
            command = ShellCommand("echo", statMarker).appending(.raw(";"))
                .appending(ShellCommand(["stat", "-c", "%a %U:%G \(identityFormat) %n", "--"] + paths)).appending(.raw("2>/dev/null ;"))
                .appending(ShellCommand("echo", sha256Marker))
            if !small.isEmpty {
                command = command.appending(.raw(";")).appending(ShellCommand(["sha256sum", "--"] + small)).appending(.raw("2>/dev/null"))
            }
            if !large.isEmpty {
                command = command.appending(.raw("; echo")).appending(ShellCommand(recordsMarker)).appending(.raw(";"))
                    .appending(ShellCommand("cat", "--", checksumRecord)).appending(.raw("2>/dev/null"))
            }
        }
        if !units.isEmpty {
            // systemctl comes last: the test double of systemd answers that part itself.
            command = command.appending(.raw("; echo")).appending(ShellCommand(unitsMarker)).appending(.raw(";"))
                .appending(ShellCommand(["systemctl", "show", "--property=" + unitProperties, "--"] + units.map(unitName)))
        }
        return command
    }

    /// The record's lines by path: (sha256, identity).
    static func records(_ text: String) -> [String: (sha256: String, identity: String)] {
        var result: [String: (sha256: String, identity: String)] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0].count == 64, parts[0].allSatisfy(\.isHexDigit) else { continue }
            result[String(parts[2])] = (parts[0].lowercased(), String(parts[1]))
        }
        return result
    }

    /// The record with `entries` (path: sha256, identity) replaced or added; other lines kept.
    static func updatedRecord(_ text: String, _ entries: [String: (sha256: String, identity: String)]) -> String {
        var merged = records(text)
        for (path, entry) in entries { merged[path] = entry }
        return merged.keys.sorted().compactMap { path in merged[path].map { "\($0.sha256) \($0.identity) \(path)\n" } }.joined()
    }

    /// Parses the command's output. `paths` are the managed paths; `large` are managed paths checked against the record.
    static func parse(_ text: String, paths: [String], large: Set<String> = [], units: [String]) -> HostSurvey {
        var statLines: [String] = []
        var shaLines: [String] = []
        var recordLines: [String] = []
        var unitLines: [String] = []
        var section = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            switch line {
            case Substring(statMarker): section = 1
            case Substring(sha256Marker): section = 2
            case Substring(recordsMarker): section = 3
            case Substring(unitsMarker): section = 4
            default:
                switch section {
                case 1: statLines.append(String(line))
                case 2: shaLines.append(String(line))
                case 3: recordLines.append(String(line))
                case 4: unitLines.append(String(line))
                default: break
                }
            }
        }
        var stats: [String: (mode: UInt32, owner: String, identity: String)] = [:]
        for line in statLines {
            let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
            guard parts.count == 4, let mode = UInt32(parts[0], radix: 8) else { continue }
            stats[String(parts[3])] = (mode & 0o7777, String(parts[1]), String(parts[2]))
        }
        let sums = FactsParser.sha256sums(shaLines.joined(separator: "\n"))
        let recorded = records(recordLines.joined(separator: "\n"))
        var survey = HostSurvey()
        // Without the stat section the command did not run as expected: report nothing rather than "absent".
        let answered = text.contains(statMarker)
        for path in paths where answered {
            let stat = stats[path]
            if large.contains(path), let stat {
                if let record = recorded[path], record.identity == stat.identity {
                    survey.files[path] = .present(RemoteFileState(sha256: record.sha256, mode: stat.mode, owner: stat.owner))
                } else {
                    survey.toHash[path] = RemoteFileState(sha256: "", mode: stat.mode, owner: stat.owner)
                }
                continue
            }
            switch (stat, sums[path]) {
            case (nil, nil): survey.files[path] = .absent
            case let (stat?, sum?): survey.files[path] = .present(RemoteFileState(sha256: sum, mode: stat.mode, owner: stat.owner))
            default: survey.files[path] = .unknown
            }
        }
        let states = FactsParser.systemdUnits(unitLines.joined(separator: "\n"))
        let unitsAnswered = text.contains(unitsMarker)
        for unit in units {
            if let state = states[unitName(unit)] {
                survey.units[unit] = state
            } else if unitsAnswered {
                // systemctl did not describe it (no systemd to ask): treated like a unit that is not there.
                survey.units[unit] = SystemdUnitState(name: unitName(unit), loadState: "unknown", activeState: "unknown", subState: "unknown")
            }
        }
        return survey
    }

    mutating func merge(_ other: HostSurvey) {
        files.merge(other.files) { _, new in new }
        units.merge(other.units) { _, new in new }
        unrecorded.formUnion(other.unrecorded)
        probed.merge(other.probed)
    }
}

extension SystemdUnitState {
    /// What `systemctl is-enabled` counts as enabled (exit status 0).
    var isEnabled: Bool {
        ["enabled", "enabled-runtime", "static", "indirect", "generated", "transient", "alias"].contains(unitFileState ?? "")
    }

    /// What `systemctl is-active` counts as active.
    var isRunning: Bool { activeState == "active" || activeState == "reloading" }
}
