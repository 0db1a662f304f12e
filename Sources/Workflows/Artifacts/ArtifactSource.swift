import Crypto
import Foundation
import Hosts
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where release archives come from. Every layout is upstream's:
/// `<base>/etcd/v3.4.23/etcd-v3.4.23-linux-amd64.tar.gz` beside `<base>/etcd/v3.4.23/SHA256SUMS`.
public enum ArtifactOrigin: Sendable, Equatable {
    case localDirectory(String)
    case mirror(URL)
    case upstream

    /// The etcd project's GitHub releases (`…/download/v3.4.23/<file>`).
    public static let etcdUpstream = "https://github.com/etcd-io/etcd/releases/download"
}

/// An archive whose SHA-256 matched its checksum list, in the local cache.
public struct VerifiedArtifact: Sendable, Equatable {
    public var path: String
    public var sha256: String
    public var fileName: String
}

/// The etcd binaries unpacked from a verified archive.
public struct EtcdBinaries: Sendable, Equatable {
    public var etcd: String
    public var etcdctl: String
    /// Absent in 3.4 archives.
    public var etcdutl: String?
}

public enum ArtifactError: Error, Sendable, Equatable, CustomStringConvertible {
    case checksumMismatch(file: String, expected: String, actual: String)
    case notInChecksumList(file: String, list: String)
    case missing(what: String, location: String, reason: String)
    case unpackFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case let .checksumMismatch(file, expected, actual):
            return "checksum mismatch for \(file): SHA256SUMS says \(expected), the file has \(actual). The file is corrupt or tampered with; delete it and fetch it again from a trusted source"
        case let .notInChecksumList(file, list):
            return "cannot verify \(file): it is not listed in \(list). Capstan uses no unverified artifact; add its checksum from the release page to \(list)"
        case let .missing(what, location, reason):
            return "cannot get \(what) from \(location): \(reason). Check artifacts.source in the inventory (for an offline site use source: local with a directory in the upstream layout)"
        case let .unpackFailed(file, reason):
            return "cannot unpack \(file): \(reason)"
        }
    }
}

/// Resolves release archives to verified local files: fetches the checksum list and the archive from the
/// origin, verifies SHA-256 before anything uses it, and caches the archive by checksum.
public struct ArtifactStore: Sendable {
    public var origin: ArtifactOrigin
    public var cacheDirectory: String

    public init(origin: ArtifactOrigin, cacheDirectory: String) {
        self.origin = origin
        self.cacheDirectory = cacheDirectory
    }

    public static func etcdArchiveName(version: String, architecture: String) -> String {
        "etcd-v\(version)-linux-\(architecture).tar.gz"
    }

    /// The etcd release archive for `version` (e.g. `3.4.23`) and `architecture` (e.g. `amd64`).
    public func etcdArchive(version: String, architecture: String) async throws -> VerifiedArtifact {
        let file = ArtifactStore.etcdArchiveName(version: version, architecture: architecture)
        let directory = "etcd/v\(version)"
        let sumsData = try await fetch(relative: "\(directory)/SHA256SUMS", upstream: "\(ArtifactOrigin.etcdUpstream)/v\(version)/SHA256SUMS")
        let listName = describe(relative: "\(directory)/SHA256SUMS")
        let sums = FactsParser.sha256sums(String(decoding: sumsData, as: UTF8.self))
        guard let expected = sums[file] ?? sums.first(where: { ($0.key as NSString).lastPathComponent == file })?.value else {
            throw ArtifactError.notInChecksumList(file: file, list: listName)
        }
        let cached = cacheDirectory + "/sha256/" + expected + "/" + file
        if FileManager.default.fileExists(atPath: cached), try ArtifactStore.sha256(ofFile: cached) == expected {
            return VerifiedArtifact(path: cached, sha256: expected, fileName: file)
        }
        let data = try await fetch(relative: "\(directory)/\(file)", upstream: "\(ArtifactOrigin.etcdUpstream)/v\(version)/\(file)")
        let actual = ArtifactStore.hex(SHA256.hash(data: data))
        guard actual == expected else {
            throw ArtifactError.checksumMismatch(file: describe(relative: "\(directory)/\(file)"), expected: expected, actual: actual)
        }
        let fm = FileManager.default
        let folder = (cached as NSString).deletingLastPathComponent
        do {
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let temporary = folder + "/.\(file).\(UUID().uuidString.prefix(8))"
            try data.write(to: URL(fileURLWithPath: temporary))
            if fm.fileExists(atPath: cached) { try fm.removeItem(atPath: cached) }
            try fm.moveItem(atPath: temporary, toPath: cached)
        } catch {
            throw ArtifactError.missing(what: file, location: cacheDirectory, reason: "cannot write the cache: \(error)")
        }
        return VerifiedArtifact(path: cached, sha256: expected, fileName: file)
    }

    /// Unpacks a verified etcd archive into `directory` and returns the binaries' paths.
    public static func unpackEtcd(_ artifact: VerifiedArtifact, into directory: String) throws -> EtcdBinaries {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ArtifactError.unpackFailed(file: artifact.path, reason: "\(error)")
        }
        let tar: ChildProcess.Output
        do {
            tar = try ChildProcess.runBlocking(["tar", "-xzf", artifact.path, "-C", directory, "--strip-components=1", "--no-same-owner"])
        } catch {
            throw ArtifactError.unpackFailed(file: artifact.path, reason: "cannot run tar: \(error)")
        }
        guard tar.succeeded else {
            throw ArtifactError.unpackFailed(file: artifact.path, reason: "tar exited \(tar.status): \(String(decoding: tar.stderr, as: UTF8.self))")
        }
        let etcd = directory + "/etcd", etcdctl = directory + "/etcdctl", etcdutl = directory + "/etcdutl"
        for required in [etcd, etcdctl] where !fm.isExecutableFile(atPath: required) {
            throw ArtifactError.unpackFailed(file: artifact.path, reason: "the archive has no executable \((required as NSString).lastPathComponent)")
        }
        return EtcdBinaries(etcd: etcd, etcdctl: etcdctl, etcdutl: fm.isExecutableFile(atPath: etcdutl) ? etcdutl : nil)
    }

    /// The file's SHA-256, remembered beside it with its identity (`LocalFileDigest`): an unchanged file of
    /// the artifact cache is not hashed again on every run.
    public static func sha256(ofFile path: String) throws -> String {
        guard let sum = LocalFileDigest.sha256(of: path, remember: true) else {
            throw ArtifactError.missing(what: path, location: "local disk", reason: "cannot open or read the file")
        }
        return sum
    }

    static func hex(_ digest: some Sequence<UInt8>) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    func describe(relative: String) -> String {
        switch origin {
        case .localDirectory(let dir): return dir + "/" + relative
        case .mirror(let url): return url.appendingPathComponent(relative).absoluteString
        case .upstream: return relative
        }
    }

    func fetch(relative: String, upstream: String) async throws -> Data {
        switch origin {
        case .localDirectory(let dir):
            let path = dir + "/" + relative
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ArtifactError.missing(what: (relative as NSString).lastPathComponent, location: dir, reason: "\(path) does not exist or is unreadable")
            }
            return data
        case .mirror(let base):
            return try await download(base.appendingPathComponent(relative))
        case .upstream:
            if upstream.isEmpty {
                throw ArtifactError.missing(what: (relative as NSString).lastPathComponent, location: "the upstream release sites",
                                            reason: "\(relative) has no release URL (container images come from a registry, which Capstan does not read; put the OCI archives in a bundle, see `capstan artifacts fetch --help`)")
            }
            guard let url = URL(string: upstream) else {
                throw ArtifactError.missing(what: relative, location: upstream, reason: "invalid URL")
            }
            return try await download(url)
        }
    }

    private func download(_ url: URL) async throws -> Data {
        let session = URLSession(configuration: .ephemeral)
        var request = URLRequest(url: url)
        request.timeoutInterval = 30
        do {
            let (data, response) = try await session.data(for: request)
            if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
                throw ArtifactError.missing(what: url.lastPathComponent, location: url.absoluteString, reason: "HTTP \(http.statusCode)")
            }
            return data
        } catch let error as ArtifactError {
            throw error
        } catch {
            throw ArtifactError.missing(what: url.lastPathComponent, location: url.absoluteString, reason: error.localizedDescription)
        }
    }
}
