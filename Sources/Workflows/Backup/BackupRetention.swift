import Foundation

/// Which backups `prune` deletes: everything beyond the newest `keep`, and everything older than `maxAge`,
/// except the newest backup and the newest verified backup, which are always kept. Pure; `now` is an input.
public struct BackupRetention: Sendable, Equatable {
    public var keep: Int?
    public var maxAge: TimeInterval?

    public init(keep: Int?, maxAge: TimeInterval?) {
        self.keep = keep
        self.maxAge = maxAge
    }

    /// Names to delete, newest first.
    public func toDelete(_ entries: [BackupEntry], now: Date) -> [String] {
        let sorted = entries.sorted { ($0.manifest.createdAt, $0.name) > ($1.manifest.createdAt, $1.name) }
        var protected = Set<String>()
        if let newest = sorted.first { protected.insert(newest.name) }
        if let verified = sorted.first(where: { $0.verifiedAt != nil }) { protected.insert(verified.name) }
        return sorted.enumerated().compactMap { index, entry in
            guard !protected.contains(entry.name) else { return nil }
            let beyondCount = keep.map { index >= $0 } ?? false
            let tooOld = maxAge.map { now.timeIntervalSince(entry.manifest.createdAt) > $0 } ?? false
            return beyondCount || tooOld ? entry.name : nil
        }
    }
}
