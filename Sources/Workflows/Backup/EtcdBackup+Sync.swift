import Foundation
import Hosts

/// What `backup sync` did on one member.
public struct SyncReport: Sendable, Equatable {
    public var stored: [BackupManifest]
    /// Node-local file names already in the store (same plaintext SHA-256), including copies of one stored by this sync.
    public var skipped: [String]
    /// A dry run: the node-local files that would be stored, as `member:path` (nothing was).
    public var wouldStore: [String] = []
}

extension EtcdBackup {
    /// Pulls the node-local snapshots the timer wrote on `members` into the store, in `ctx`: each file whose
    /// plaintext checksum the store does not hold yet is stored once (a change on its member, made in apply mode),
    /// so byte-identical files, on one member or several, are one backup. In plan mode `wouldStore` names each
    /// `member:path` that would be stored, and nothing is.
    public func sync(members: [EtcdMemberAddress], directory: String = "/var/backups/etcd", in ctx: WorkflowContext, now: Date) async throws -> SyncReport {
        var report = SyncReport(stored: [], skipped: [])
        var known = Set(try await BackupCatalog(store: store).entries().map(\.manifest.snapshot.plaintextSHA256))
        for member in members {
            let reader = EtcdMemberTarget(member, connection: try await ctx.reader(member.name))
            let listing = try await reader.connection.run(
                ShellCommand("sh", "-c", #"[ -d "$1" ] || exit 0; cd -- "$1" && for f in etcd-snapshot-*.db; do [ -f "$f" ] && sha256sum -- "$f"; done; exit 0"#, "sh", directory))
            guard listing.succeeded else {
                throw BackupError.etcdctl(host: member.name, step: "listing \(directory)", reason: lastLines(listing.stderrText))
            }
            let version = try await clientVersion(on: reader)
            for line in listing.stdoutText.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let sha = String(parts[0])
                let file = String(parts[1].drop(while: { $0 == " " || $0 == "*" }))
                guard known.insert(sha).inserted else {
                    report.skipped.append(file)
                    continue
                }
                let stored = try await ctx.changeProducing(member.name, "store \(directory)/\(file) in \(store.location)") { connection in
                    try await self.storeSnapshot(file: directory + "/" + file, from: EtcdMemberTarget(member, connection: connection),
                                                 etcdVersion: version, createdAt: CompactTime.date(in: file) ?? now, source: "sync:" + file)
                }
                if let stored { report.stored.append(stored) } else { report.wouldStore.append("\(member.name):\(directory)/\(file)") }
            }
        }
        return report
    }

    func clientVersion(on member: EtcdMemberTarget) async throws -> String {
        let result = try await member.connection.run(ShellCommand(access.etcdctl, "version"), options: RunOptions(environment: access.environment))
        let first = result.stdoutText.split(separator: "\n").first.map(String.init) ?? ""
        return first.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
    }
}
