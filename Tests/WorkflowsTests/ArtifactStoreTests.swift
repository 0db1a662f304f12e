import Foundation
import Testing
import TestSupport
@testable import Workflows

@discardableResult
func shell(_ line: String, in dir: String) throws -> Int32 {
    try runProgram(["sh", "-c", line], in: dir).status
}

/// A local artifact directory in the upstream layout with a tarball built here.
func makeArtifactDirectory(version: String = "3.4.23", withEtcdutl: Bool = false) throws -> String {
    let base = try makeTemp()
    let name = "etcd-v\(version)-linux-amd64"
    let script = """
    set -e
    mkdir -p build/\(name) etcd/v\(version)
    for b in etcd etcdctl \(withEtcdutl ? "etcdutl" : ""); do printf '#!/bin/sh\\necho %s \(version)\\n' $b > build/\(name)/$b; chmod 755 build/\(name)/$b; done
    tar -czf etcd/v\(version)/\(name).tar.gz -C build \(name)
    cd etcd/v\(version) && sha256sum \(name).tar.gz > SHA256SUMS
    """
    #expect(try shell(script, in: base) == 0)
    return base
}

@Suite("ArtifactStore", .tags(.unit))
struct ArtifactStoreTests {
    @Test("resolves a local archive, verifies it, caches it by checksum and unpacks the binaries")
    func localDirectory() async throws {
        let dir = try makeArtifactDirectory(withEtcdutl: true)
        let cache = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: cache) }
        let store = ArtifactStore(origin: .localDirectory(dir), cacheDirectory: cache)
        let artifact = try await store.etcdArchive(version: "3.4.23", architecture: "amd64")
        #expect(artifact.path == "\(cache)/sha256/\(artifact.sha256)/etcd-v3.4.23-linux-amd64.tar.gz")
        #expect(try ArtifactStore.sha256(ofFile: artifact.path) == artifact.sha256)
        let sums = try String(contentsOfFile: dir + "/etcd/v3.4.23/SHA256SUMS", encoding: .utf8)
        #expect(sums.hasPrefix(artifact.sha256))

        // The cache answers even when the source is gone.
        try FileManager.default.removeItem(atPath: dir + "/etcd/v3.4.23/etcd-v3.4.23-linux-amd64.tar.gz")
        #expect(try await store.etcdArchive(version: "3.4.23", architecture: "amd64") == artifact)

        let bin = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: bin) }
        let binaries = try ArtifactStore.unpackEtcd(artifact, into: bin)
        #expect(binaries.etcd == bin + "/etcd")
        #expect(binaries.etcdutl == bin + "/etcdutl")
        #expect(FileManager.default.isExecutableFile(atPath: binaries.etcdctl))
    }

    @Test("a tampered archive stops with both checksums and the file name, and is not cached")
    func mismatch() async throws {
        let dir = try makeArtifactDirectory()
        let cache = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: cache) }
        let archive = dir + "/etcd/v3.4.23/etcd-v3.4.23-linux-amd64.tar.gz"
        let handle = try #require(FileHandle(forWritingAtPath: archive))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0x00]))
        try handle.close()
        let expected = try String(contentsOfFile: dir + "/etcd/v3.4.23/SHA256SUMS", encoding: .utf8).prefix(64)
        let actual = try ArtifactStore.sha256(ofFile: archive)
        do {
            _ = try await ArtifactStore(origin: .localDirectory(dir), cacheDirectory: cache).etcdArchive(version: "3.4.23", architecture: "amd64")
            Issue.record("a tampered archive was accepted")
        } catch let error as ArtifactError {
            #expect(error == .checksumMismatch(file: archive, expected: String(expected), actual: actual))
            #expect("\(error)".contains(String(expected)) && "\(error)".contains(actual))
        }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: cache + "/sha256")) ?? [] == [])
    }

    @Test("an archive missing from SHA256SUMS is refused as unverifiable")
    func unlisted() async throws {
        let dir = try makeArtifactDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "0000000000000000000000000000000000000000000000000000000000000000  other.tar.gz\n"
            .write(toFile: dir + "/etcd/v3.4.23/SHA256SUMS", atomically: true, encoding: .utf8)
        await #expect(throws: ArtifactError.notInChecksumList(file: "etcd-v3.4.23-linux-amd64.tar.gz", list: dir + "/etcd/v3.4.23/SHA256SUMS")) {
            _ = try await ArtifactStore(origin: .localDirectory(dir), cacheDirectory: dir + "/cache").etcdArchive(version: "3.4.23", architecture: "amd64")
        }
    }

    @Test("a missing version in the local directory names the path")
    func missingLocal() async throws {
        let dir = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            _ = try await ArtifactStore(origin: .localDirectory(dir), cacheDirectory: dir + "/c").etcdArchive(version: "3.5.9", architecture: "amd64")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains(dir + "/etcd/v3.5.9/SHA256SUMS"))
        }
    }

    @Test("an unreachable mirror fails with a clear error naming the URL")
    func unreachableMirror() async throws {
        let store = ArtifactStore(origin: .mirror(URL(string: "http://127.0.0.1:9/releases")!), cacheDirectory: NSTemporaryDirectory())
        do {
            _ = try await store.etcdArchive(version: "3.4.23", architecture: "amd64")
            Issue.record("expected an error")
        } catch let error as ArtifactError {
            guard case let .missing(what, location, _) = error else { Issue.record("\(error)"); return }
            #expect(what == "SHA256SUMS")
            #expect(location == "http://127.0.0.1:9/releases/etcd/v3.4.23/SHA256SUMS")
        }
    }
}
