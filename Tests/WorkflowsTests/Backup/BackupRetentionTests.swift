import Foundation
import Testing
import TestSupport
@testable import Workflows

private let now = Date(timeIntervalSince1970: 1_700_000_000)

private func entry(_ name: String, hoursAgo: Double, verified: Bool = false) -> BackupEntry {
    let object = BackupManifest.Object(name: name + ".snapshot.db.enc", plaintextSHA256: "p", storedSHA256: "s", plaintextSize: 1, storedSize: 1)
    let manifest = BackupManifest(name: name, cluster: "c", member: "m1", etcdVersion: "3.5.1", revision: 1, dbSize: 1, totalKeys: 1,
                                  snapshotHash: 1, createdAt: now.addingTimeInterval(-hoursAgo * 3600), capstanVersion: "0",
                                  encryption: .none, snapshot: object, pki: nil, source: "now")
    return BackupEntry(manifest: manifest, verifiedAt: verified ? now : nil, storedBytes: 1)
}

@Suite("Backup retention", .tags(.unit))
struct BackupRetentionTests {
    let entries = [entry("b1", hoursAgo: 1), entry("b2", hoursAgo: 25), entry("b3", hoursAgo: 49), entry("b4", hoursAgo: 73), entry("b5", hoursAgo: 97)]

    @Test("keeps the newest N")
    func keepN() {
        #expect(BackupRetention(keep: 2, maxAge: nil).toDelete(entries.shuffled(), now: now) == ["b3", "b4", "b5"])
        #expect(BackupRetention(keep: 10, maxAge: nil).toDelete(entries, now: now).isEmpty)
    }

    @Test("drops backups older than maxAge with a fixed clock")
    func byAge() {
        #expect(BackupRetention(keep: nil, maxAge: 48 * 3600).toDelete(entries, now: now) == ["b3", "b4", "b5"])
        #expect(BackupRetention(keep: 4, maxAge: 72 * 3600).toDelete(entries, now: now) == ["b4", "b5"])
    }

    @Test("never deletes the newest backup nor the newest verified one, even with keep 0 and a tiny maxAge")
    func protectsNewestVerified() {
        var list = entries
        list[2] = entry("b3", hoursAgo: 49, verified: true)
        list[4] = entry("b5", hoursAgo: 97, verified: true)
        #expect(BackupRetention(keep: 0, maxAge: 1).toDelete(list, now: now) == ["b2", "b4", "b5"])
        #expect(BackupRetention(keep: 0, maxAge: nil).toDelete([entry("only", hoursAgo: 500)], now: now).isEmpty)
    }
}
