import Foundation
import Hosts
import Testing
import TestSupport
@testable import Workflows

private func chunks(_ parts: [Data], failAfter: Int? = nil) -> AsyncThrowingStream<Data, any Error> {
    AsyncThrowingStream { c in
        for (i, p) in parts.enumerated() {
            if let failAfter, i == failAfter { c.finish(throwing: LocalEtcdError(message: "source failed")); return }
            c.yield(p)
        }
        c.finish()
    }
}

private func exerciseStore(_ store: any BackupStore, files: String) async throws {
    let a = Data(repeating: 1, count: 300_000), b = Data(repeating: 2, count: 5)
    try await store.put("c1-x.snapshot.db.enc", chunks: chunks([a, b]))
    try await store.put("c1-x.manifest.json", data: Data("{}".utf8))
    #expect(try await store.list() == [BackupObject(name: "c1-x.manifest.json", size: 2), BackupObject(name: "c1-x.snapshot.db.enc", size: 300_005)])
    #expect(try await store.getData("c1-x.snapshot.db.enc") == a + b)
    var st = stat()
    #expect(stat(files + "/c1-x.snapshot.db.enc", &st) == 0)
    #expect(st.st_mode & 0o777 == 0o600)

    // A failing source leaves the existing object untouched and no temporary file behind.
    await #expect(throws: (any Error).self) { try await store.put("c1-x.snapshot.db.enc", chunks: chunks([b, b, b], failAfter: 2)) }
    #expect(try await store.getData("c1-x.snapshot.db.enc") == a + b)
    #expect(try FileManager.default.contentsOfDirectory(atPath: files).sorted() == ["c1-x.manifest.json", "c1-x.snapshot.db.enc"])

    try await store.delete("c1-x.manifest.json")
    try await store.delete("c1-x.manifest.json")
    #expect(try await store.list().map(\.name) == ["c1-x.snapshot.db.enc"])
    await #expect(throws: BackupError.objectNotFound(store: store.location, name: "nope")) { _ = try await store.getData("nope") }
    await #expect(throws: BackupError.invalidObjectName("../etc/passwd")) { try await store.put("../etc/passwd", data: Data()) }
    await #expect(throws: BackupError.invalidObjectName(".hidden")) { try await store.delete(".hidden") }
}

@Suite("Backup stores", .tags(.unit))
struct BackupStoreTests {
    @Test("local directory store: streamed atomic 0600 puts, get, list, delete, failed put keeps the old object")
    func localDirectory() async throws {
        let dir = try makeTempDir("store")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await exerciseStore(LocalDirectoryStore(directory: dir + "/backups"), files: dir + "/backups")
    }

    @Test("remote directory store through a host with its own file tree (RootedHost): same behaviour, commands see the same files")
    func remoteDirectory() async throws {
        let root = try makeTempDir("sftp-root")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = RemoteDirectoryStore(connection: RootedHost(hostName: "backup1", root: root), directory: "/srv/etcd-backups")
        #expect(try await store.list().isEmpty)
        try await exerciseStore(store, files: root + "/srv/etcd-backups")
        #expect(store.location == "sftp backup1:/srv/etcd-backups")
    }

    @Test("a full file system fails the put and keeps the previous object (64 KiB tmpfs)")
    func storeFull() async throws {
        let dir = try makeTempDir("full")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mounted = try runProgram(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir])
        try #require(mounted.succeeded, "mount tmpfs needs root: \(mounted.stderr)")
        defer { _ = try? runProgram(["umount", dir]) }
        let store = LocalDirectoryStore(directory: dir)
        try await store.put("b.snapshot.db.enc", data: Data(repeating: 9, count: 20_000))
        do {
            try await store.put("b.snapshot.db.enc", chunks: chunks([Data(count: 40_000), Data(count: 40_000)]))
            Issue.record("a put larger than the file system succeeded")
        } catch let error as BackupError {
            #expect(error.description.contains("No space left on device"), "\(error)")
        }
        #expect(try await store.getData("b.snapshot.db.enc") == Data(repeating: 9, count: 20_000))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["b.snapshot.db.enc"])
    }
}
