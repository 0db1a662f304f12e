import Foundation
import Hosts

/// Several reads of one host in ONE command: small files (kernel-provided ones too, read with `cat`
/// because SFTP servers report /proc files as empty), whether paths are directories, and the output of
/// fixed commands. Node checks use it so a host costs one round trip, not one per fact.
struct HostProbe: Sendable, Equatable {
    enum Entry: Sendable, Equatable {
        case file(String)
        case directory
        case absent
    }

    var paths: [String: Entry] = [:]
    var outputs: [String: String] = [:]
    /// When the host answered: between the command's start and its end on this machine's clock.
    var read: ClosedRange<Date>?

    func text(_ path: String) -> String? {
        if case .file(let text) = paths[path] { return text }
        return nil
    }

    func isDirectory(_ path: String) -> Bool { paths[path] == .directory }

    static let marker = "#capstan-probe "
    /// Ends the probe's output when another read follows it in the same command.
    static let endMarker = "#capstan-probe-end"

    /// `other`'s entries added to (or replacing) these; the read interval spans both.
    mutating func merge(_ other: HostProbe) {
        paths.merge(other.paths) { _, new in new }
        outputs.merge(other.outputs) { _, new in new }
        if let theirs = other.read {
            read = read.map { min($0.lowerBound, theirs.lowerBound)...max($0.upperBound, theirs.upperBound) } ?? theirs
        }
    }

    /// Prints each path's kind and content after a marker line; the leading newline keeps a marker on its
    /// own line after content without a final newline.
    static let script = "for f in \"$@\"; do if [ -d \"$f\" ]; then printf '\\n" + marker + "dir %s\\n' \"$f\"; elif [ -r \"$f\" ]; then printf '\\n" + marker + "file %s\\n' \"$f\"; cat -- \"$f\"; else printf '\\n" + marker + "absent %s\\n' \"$f\"; fi; done"

    static func command(paths: [String], commands: [(key: String, command: ShellCommand)]) -> ShellCommand {
        var line = ShellCommand(["sh", "-c", script, "sh"] + paths)
        for (key, command) in commands {
            line = line.appending(.raw("; printf")).appending(ShellCommand("\\n" + marker + "out %s\\n", key)).appending(.raw(";"))
                .appending(command)
        }
        return line
    }

    /// Reads `paths` and runs `commands` on `connection`.
    static func run(on connection: any CommandRunner, paths: [String], commands: [(key: String, command: ShellCommand)] = []) async throws -> HostProbe {
        let result = try await connection.run(command(paths: paths, commands: commands))
        let parsed = parse(result.stdoutText)
        var probe = HostProbe(outputs: parsed.outputs)
        for path in paths { probe.paths[path] = parsed.paths[path] ?? .absent }
        return probe
    }

    static func parse(_ text: String) -> HostProbe {
        var probe = HostProbe()
        for chunk in text.components(separatedBy: "\n" + marker).dropFirst() {
            let header = chunk.prefix { $0 != "\n" }
            let body = chunk.dropFirst(header.count + 1)
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = String(parts[1])
            switch parts[0] {
            case "file": probe.paths[name] = .file(String(body))
            case "dir": probe.paths[name] = .directory
            case "absent": probe.paths[name] = .absent
            case "out": probe.outputs[name] = String(body)
            default: continue
            }
        }
        return probe
    }
}
