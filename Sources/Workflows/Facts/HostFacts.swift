import Foundation
import Inventory

/// What Capstan gathered from one host. Parsing is done by the pure functions in `FactsParser`.
public struct HostFacts: Sendable, Equatable {
    public var host: String
    public var os: OSRelease?
    /// Go-style architecture (`amd64`, `arm64`), as used in release file names.
    public var architecture: String?
    public var units: [String: SystemdUnitState]
    public var etcdVersion: SemanticVersion?
    /// SHA-256 (hex) of managed files by path; absent files are missing.
    public var fileChecksums: [String: String]

    public init(host: String, os: OSRelease? = nil, architecture: String? = nil, units: [String: SystemdUnitState] = [:],
                etcdVersion: SemanticVersion? = nil, fileChecksums: [String: String] = [:]) {
        self.host = host
        self.os = os
        self.architecture = architecture
        self.units = units
        self.etcdVersion = etcdVersion
        self.fileChecksums = fileChecksums
    }
}

public struct OSRelease: Sendable, Equatable {
    public var id: String
    public var versionID: String?
    public var prettyName: String?
    public var idLike: [String]
}

public struct SystemdUnitState: Sendable, Equatable {
    public var name: String
    public var loadState: String
    public var activeState: String
    public var subState: String
    public var unitFileState: String?
    public var mainPID: Int?
    public var restarts: Int?
    /// CLOCK_MONOTONIC µs when the unit last became active; changes on every (re)start, so comparing it
    /// before and after a run proves whether a unit was restarted. 0 when never active.
    public var activeEnterMonotonic: UInt64?
    /// `ExecMainStartTimestamp` as systemd prints it (e.g. `Sun 2026-11-22 02:55:38 UTC`).
    public var execMainStartTimestamp: String?

    public var isActive: Bool { activeState == "active" }
    public var isLoaded: Bool { loadState == "loaded" }
}

/// Facts parsing: pure functions over command output.
public enum FactsParser {
    /// `/etc/os-release` (KEY=value, values optionally quoted).
    public static func osRelease(_ text: String) -> OSRelease? {
        let values = keyValues(text).mapValues(unquote)
        guard let id = values["ID"], !id.isEmpty else { return nil }
        return OSRelease(
            id: id, versionID: values["VERSION_ID"], prettyName: values["PRETTY_NAME"],
            idLike: values["ID_LIKE"].map { $0.split(separator: " ").map(String.init) } ?? [])
    }

    /// `uname -m` → release architecture name; nil for ones Capstan has no binaries for.
    public static func architecture(unameMachine text: String) -> String? {
        switch text.trimmingCharacters(in: .whitespacesAndNewlines) {
        case "x86_64", "amd64": return "amd64"
        case "aarch64", "arm64": return "arm64"
        case "ppc64le": return "ppc64le"
        case "s390x": return "s390x"
        default: return nil
        }
    }

    /// Output of `systemctl show UNIT… -p Id,LoadState,…`: blocks separated by blank lines, one per unit.
    public static func systemdUnits(_ text: String) -> [String: SystemdUnitState] {
        var result: [String: SystemdUnitState] = [:]
        let blocks = text.components(separatedBy: "\n\n")
        for block in blocks {
            let values = keyValues(block)
            guard let name = values["Id"] ?? values["Names"]?.split(separator: " ").first.map(String.init) else { continue }
            result[name] = SystemdUnitState(
                name: name,
                loadState: values["LoadState"] ?? "unknown",
                activeState: values["ActiveState"] ?? "unknown",
                subState: values["SubState"] ?? "unknown",
                unitFileState: values["UnitFileState"].flatMap { $0.isEmpty ? nil : $0 },
                mainPID: values["MainPID"].flatMap { Int($0) },
                restarts: values["NRestarts"].flatMap { Int($0) },
                activeEnterMonotonic: values["ActiveEnterTimestampMonotonic"].flatMap { UInt64($0) },
                execMainStartTimestamp: values["ExecMainStartTimestamp"].flatMap { $0.isEmpty ? nil : $0 })
        }
        return result
    }

    /// `etcd --version` / `etcdctl version` → the etcd version.
    public static func etcdVersion(_ text: String) -> SemanticVersion? {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
            if key == "etcd version" || key == "etcdctl version" {
                return SemanticVersion(parsing: parts[1].trimmingCharacters(in: .whitespaces))
            }
        }
        return nil
    }

    /// `sha256sum FILE…` output → path: hex digest. Lines for missing files (on stderr) are absent.
    public static func sha256sums(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { continue }
            let digest = line[..<space]
            var path = line[space...].dropFirst()
            if path.hasPrefix(" ") || path.hasPrefix("*") { path = path.dropFirst() }
            guard digest.count == 64, digest.allSatisfy(\.isHexDigit), !path.isEmpty else { continue }
            result[String(path)] = digest.lowercased()
        }
        return result
    }

    static func keyValues(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#"), let eq = trimmed.firstIndex(of: "=") else { continue }
            values[String(trimmed[..<eq])] = String(trimmed[trimmed.index(after: eq)...])
        }
        return values
    }

    static func unquote(_ value: String) -> String {
        guard value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first else { return value }
        return String(value.dropFirst().dropLast())
    }
}
