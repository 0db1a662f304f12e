import Foundation
import Hosts

/// What `backup sync` did on one member.
public struct SyncReport: Sendable, Equatable {
    public var stored: [BackupManifest]
    /// Node-local file names already in the store (same plaintext SHA-256), including copies of one stored by this sync.
    public var skipped: [String]
    /// A dry run: the node-local files that would be stored (nothing was).
    public var wouldStore: [String] = []
}

extension EtcdBackup {
    /// Pulls the node-local snapshots the timer wrote on `member` into the store, skipping those whose
    /// plaintext checksum the store already holds. `dryRun`: lists the files it would store in `wouldStore` and stores nothing.
    public func sync(member: EtcdMemberTarget, directory: String = "/var/backups/etcd", now: Date, dryRun: Bool = false) async throws -> SyncReport {
        var planned = Set<String>()
        return try await sync(member: member, directory: directory, now: now, dryRun: dryRun, planned: &planned)
    }

    /// Every member in turn, as one report; a dry run's `wouldStore` names `member:path`, and a snapshot another
    /// member's files already hold byte for byte is listed once, as the real sync stores it once.
    public func sync(members: [EtcdMemberTarget], directory: String = "/var/backups/etcd", now: Date, dryRun: Bool = false) async throws -> SyncReport {
        var total = SyncReport(stored: [], skipped: [])
        var planned = Set<String>()
        for member in members {
            let report = try await sync(member: member, directory: directory, now: now, dryRun: dryRun, planned: &planned)
            total.stored += report.stored
            total.skipped += report.skipped
            total.wouldStore += report.wouldStore.map { "\(member.name):\(directory)/\($0)" }
        }
        return total
    }

    /// `planned`: plaintext checksums a dry run has listed already (the store does not hold them yet).
    func sync(member: EtcdMemberTarget, directory: String, now: Date, dryRun: Bool, planned: inout Set<String>) async throws -> SyncReport {
        let listing = try await member.connection.run(
            ShellCommand("sh", "-c", #"[ -d "$1" ] || exit 0; cd -- "$1" && for f in etcd-snapshot-*.db; do [ -f "$f" ] && sha256sum -- "$f"; done; exit 0"#, "sh", directory))
        guard listing.succeeded else {
            throw BackupError.etcdctl(host: member.name, step: "listing \(directory)", reason: lastLines(listing.stderrText))
        }
        var known = Set(try await BackupCatalog(store: store).entries().map(\.manifest.snapshot.plaintextSHA256)).union(planned)
        let version = try await clientVersion(on: member)
        var report = SyncReport(stored: [], skipped: [])
        for line in listing.stdoutText.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let sha = String(parts[0])
            let file = String(parts[1].drop(while: { $0 == " " || $0 == "*" }))
            if known.contains(sha) {
                report.skipped.append(file)
                continue
            }
            if dryRun {
                report.wouldStore.append(file)
                known.insert(sha)
                planned.insert(sha)
                continue
            }
            let manifest = try await storeSnapshot(file: directory + "/" + file, from: member, etcdVersion: version,
                                                   createdAt: CompactTime.date(in: file) ?? now, source: "sync:" + file)
            report.stored.append(manifest)
            // Two node-local files with the same bytes (runs at an unchanged revision) are one backup.
            known.insert(sha)
        }
        return report
    }

    func clientVersion(on member: EtcdMemberTarget) async throws -> String {
        let result = try await member.connection.run(ShellCommand(access.etcdctl, "version"), options: RunOptions(environment: access.environment))
        let first = result.stdoutText.split(separator: "\n").first.map(String.init) ?? ""
        return first.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
    }
}
