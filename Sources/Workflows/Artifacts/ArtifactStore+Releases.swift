import Crypto
import Foundation
import Hosts

/// A verified release file and, for tarballs, the files unpacked from it.
public struct ResolvedArtifact: Sendable, Equatable {
    public var artifact: ReleaseArtifact
    public var verified: VerifiedArtifact
    /// Relative path inside the tarball → local path of the unpacked file (regular files only).
    public var unpacked: [String: String]
}

extension ArtifactStore {
    /// Fetches `artifact` and its checksum file from the origin, verifies SHA-256 before anything uses it,
    /// and caches it by checksum; a cached file is re-verified, never trusted by name.
    public func verified(_ artifact: ReleaseArtifact) async throws -> VerifiedArtifact {
        let expected = try await expectedSHA256(artifact)
        let cached = cacheDirectory + "/sha256/" + expected + "/" + artifact.fileName
        if FileManager.default.fileExists(atPath: cached), try ArtifactStore.sha256(ofFile: cached) == expected {
            return VerifiedArtifact(path: cached, sha256: expected, fileName: artifact.fileName)
        }
        let data = try await fetch(relative: artifact.relativePath, upstream: artifact.upstreamURL)
        let actual = ArtifactStore.hex(SHA256.hash(data: data))
        guard actual == expected else {
            throw ArtifactError.checksumMismatch(file: describe(relative: artifact.relativePath), expected: expected, actual: actual)
        }
        try ArtifactStore.writeAtomically(data, to: cached, cache: cacheDirectory)
        return VerifiedArtifact(path: cached, sha256: expected, fileName: artifact.fileName)
    }

    /// The SHA-256 the release's checksum list gives for `artifact`, without fetching the file itself.
    public func expectedSHA256(_ artifact: ReleaseArtifact) async throws -> String {
        let list = try await fetch(relative: artifact.checksumRelativePath, upstream: artifact.checksumUpstreamURL)
        guard let expected = ArtifactStore.expectedChecksum(in: String(decoding: list, as: UTF8.self), for: artifact.fileName) else {
            throw ArtifactError.notInChecksumList(file: artifact.fileName, list: describe(relative: artifact.checksumRelativePath))
        }
        return expected
    }

    /// Verifies `artifact` and, for tarballs, unpacks it once into `<cache>/unpacked/<sha256>/`.
    public func resolve(_ artifact: ReleaseArtifact) async throws -> ResolvedArtifact {
        let file = try await verified(artifact)
        guard artifact.kind == .tarball else { return ResolvedArtifact(artifact: artifact, verified: file, unpacked: [:]) }
        let target = cacheDirectory + "/unpacked/" + file.sha256
        let marker = target + "/.capstan-unpacked"
        let fm = FileManager.default
        if !fm.fileExists(atPath: marker) {
            try? fm.removeItem(atPath: target)
            do { try fm.createDirectory(atPath: target, withIntermediateDirectories: true) } catch {
                throw ArtifactError.unpackFailed(file: file.path, reason: "cannot create \(target): \(error)")
            }
            try ArtifactStore.untar(file.path, into: target)
            _ = fm.createFile(atPath: marker, contents: Data()) // without the marker the next run unpacks again
        }
        var files: [String: String] = [:]
        if let walker = fm.enumerator(atPath: target) {
            // Capstan's own markers (`.capstan-unpacked`, `LocalFileDigest`'s records) are not the release's files.
            for case let relative as String in walker where !(relative as NSString).lastPathComponent.hasPrefix(".capstan-") {
                var isDirectory: ObjCBool = false
                let path = target + "/" + relative
                if fm.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue { files[relative] = path }
            }
        }
        return ResolvedArtifact(artifact: artifact, verified: file, unpacked: files)
    }

    /// Copies `artifacts` with their checksum files into `directory` in the upstream layout, so an inventory
    /// with `artifacts.source: local` and that directory installs offline. Every file is verified first.
    /// Returns the relative paths written.
    @discardableResult
    public func bundle(_ artifacts: [ReleaseArtifact], into directory: String) async throws -> [String] {
        var written: [String] = []
        for artifact in artifacts {
            let file = try await verified(artifact)
            let list = try await fetch(relative: artifact.checksumRelativePath, upstream: artifact.checksumUpstreamURL)
            guard let data = FileManager.default.contents(atPath: file.path) else {
                throw ArtifactError.missing(what: artifact.fileName, location: file.path, reason: "the cached file vanished")
            }
            try ArtifactStore.writeAtomically(data, to: directory + "/" + artifact.relativePath, cache: directory, mode: artifact.kind == .binary ? 0o755 : 0o644)
            written.append(artifact.relativePath)
            let listPath = directory + "/" + artifact.checksumRelativePath
            if !written.contains(artifact.checksumRelativePath) {
                // Lists shared by several files of one release (runc.sha256sum, SHA256SUMS) are copied once, whole.
                try ArtifactStore.writeAtomically(list, to: listPath, cache: directory)
                written.append(artifact.checksumRelativePath)
            }
        }
        return written
    }

    /// The checksum of `fileName` in a checksum file: `<hex>  <name>` lines (sha256sum format, names may
    /// carry a directory or a `*` binary marker), or a file holding only the hash (dl.k8s.io `.sha256`).
    public static func expectedChecksum(in text: String, for fileName: String) -> String? {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        func isHash(_ s: Substring) -> Bool { s.count == 64 && s.allSatisfy(\.isHexDigit) }
        if lines.count == 1 {
            let fields = lines[0].split(whereSeparator: \.isWhitespace)
            if fields.count == 1, isHash(fields[0]) { return fields[0].lowercased() }
        }
        for line in lines {
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard fields.count == 2, isHash(fields[0]) else { continue }
            var name = fields[1]
            if name.hasPrefix("*") { name = name.dropFirst() }
            if name == fileName || name.hasSuffix("/" + fileName) { return fields[0].lowercased() }
        }
        return nil
    }

    static func writeAtomically(_ data: Data, to path: String, cache: String, mode: Int = 0o644) throws {
        let fm = FileManager.default
        let folder = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        do {
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let temporary = folder + "/.\(name).\(UUID().uuidString.prefix(8))"
            try data.write(to: URL(fileURLWithPath: temporary))
            try fm.setAttributes([.posixPermissions: mode], ofItemAtPath: temporary)
            if fm.fileExists(atPath: path) { try fm.removeItem(atPath: path) }
            try fm.moveItem(atPath: temporary, toPath: path)
        } catch {
            throw ArtifactError.missing(what: name, location: cache, reason: "cannot write \(path): \(error)")
        }
    }

    static func untar(_ archive: String, into directory: String) throws {
        _ = try tar(archive, ["-xzf", archive, "-C", directory, "--no-same-owner"])
    }

    /// One member of an uncompressed tar archive (`index.json` of an OCI archive), read without unpacking.
    static func tarMember(_ archive: String, _ member: String) throws -> Data {
        try tar(archive, ["-xOf", archive, member])
    }

    private static func tar(_ archive: String, _ arguments: [String]) throws -> Data {
        let tar: ChildProcess.Output
        do { tar = try ChildProcess.runBlocking(["tar"] + arguments) } catch {
            throw ArtifactError.unpackFailed(file: archive, reason: "cannot run tar: \(error)")
        }
        guard tar.succeeded else {
            throw ArtifactError.unpackFailed(file: archive, reason: "tar exited \(tar.status): \(String(decoding: tar.stderr, as: UTF8.self))")
        }
        return tar.stdout
    }
}
