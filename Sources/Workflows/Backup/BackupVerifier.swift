import Foundation
import Hosts

/// What `backup verify` found for one backup.
public struct VerifyReport: Sendable, Equatable {
    public var name: String
    public var status: SnapshotStatus
    public var plaintextSHA256: String
    public var storedSHA256: String
    public var pkiChecked: Bool
}

/// `backup verify`: decrypts into a private temporary directory, checks both SHA-256s of every object, then
/// runs `snapshot status` on the decrypted copy with a real etcdutl/etcdctl and compares it with the manifest.
public struct BackupVerifier: Sendable {
    public var store: any BackupStore
    public var key: BackupKey?
    /// The operator's age identities, for backups written in the age format.
    public var identities: [AgeIdentity]
    /// Where `snapshot status` runs (this machine by default) and with which tool (etcdutl or etcdctl path).
    public var statusHost: any HostConnection
    public var statusTool: String?

    public init(store: any BackupStore, key: BackupKey?, identities: [AgeIdentity] = [], statusHost: any HostConnection = LocalConnection(),
                statusTool: String? = nil) {
        self.store = store
        self.key = key
        self.identities = identities
        self.statusHost = statusHost
        self.statusTool = statusTool
    }

    /// The first of etcdutl, etcdctl found on PATH (or nil).
    public static func localStatusTool() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for tool in ["etcdutl", "etcdctl"] {
            for dir in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(dir)/\(tool)") {
                return "\(dir)/\(tool)"
            }
        }
        return nil
    }

    /// Decrypts `object` of `manifest` to `localFile` (0600), checking both checksums; nil file = only check.
    public func decrypt(_ object: BackupManifest.Object, of manifest: BackupManifest, to localFile: String?) async throws {
        if manifest.encryption.isAge && identities.isEmpty { throw BackupError.identityRequired(backup: manifest.name) }
        if manifest.encryption.isEncrypted && !manifest.encryption.isAge && key == nil {
            throw BackupError.keyFile(path: "(none)", reason: "the backup \(manifest.name) is encrypted and no etcd.backup.encryptionKeyFile is set")
        }
        let opener = manifest.encryption.isAge ? BackupOpener(key: nil, identities: identities, object: object.name)
                                               : BackupOpener(key: manifest.encryption.isEncrypted ? key : nil, object: object.name)
        var handle: FileHandle?
        if let localFile {
            guard FileManager.default.createFile(atPath: localFile, contents: nil, attributes: [.posixPermissions: 0o600]),
                  let h = FileHandle(forWritingAtPath: localFile) else {
                throw BackupError.storeFailed(store: "local", name: localFile, operation: "create", reason: "cannot create the decrypted copy")
            }
            handle = h
        }
        defer { try? handle?.close() }
        let writer = handle.map { SendableHandle($0) }
        try await store.get(object.name) { chunk in
            let plain = try opener.open(chunk)
            if !plain.isEmpty { try writer?.handle.write(contentsOf: plain) }
        }
        let tail = try opener.finish()
        if !tail.isEmpty { try writer?.handle.write(contentsOf: tail) }
        let digests = opener.digests
        guard digests.stored == object.storedSHA256 else {
            throw BackupError.checksumMismatch(object: object.name, what: "stored (ciphertext)", expected: object.storedSHA256, actual: digests.stored)
        }
        guard digests.plaintext == object.plaintextSHA256 else {
            throw BackupError.checksumMismatch(object: object.name, what: "plaintext", expected: object.plaintextSHA256, actual: digests.plaintext)
        }
    }

    /// `backup verify` of `names`, each on its own (a failure does not stop the others). Where this machine has
    /// neither etcdutl nor etcdctl (and no `statusTool` is set), `snapshot status` runs on `member` in `ctx`:
    /// the decrypted copies go to a temporary directory there and are removed, one change made in apply mode.
    public func verify(_ names: [String], statusOn member: String?, access: EtcdClientAccess,
                       in ctx: WorkflowContext, now: Date) async throws -> [(name: String, outcome: Result<VerifyReport, any Error>)] {
        let each: @Sendable (BackupVerifier) async -> [(name: String, outcome: Result<VerifyReport, any Error>)] = { verifier in
            var out: [(name: String, outcome: Result<VerifyReport, any Error>)] = []
            for name in names {
                do { out.append((name, .success(try await verifier.verify(name, now: now)))) } catch { out.append((name, .failure(error))) }
            }
            return out
        }
        guard statusTool == nil, Self.localStatusTool() == nil, let member else { return await each(self) }
        let checked = try await ctx.changeProducing(member, "check \(names.count) decrypted backup(s) with `snapshot status` on temporary copies, removed after") { connection in
            var verifier = self
            verifier.statusHost = connection
            verifier.statusTool = try await access.offlineTool(on: connection)
            return await each(verifier)
        }
        return checked ?? []
    }

    /// Verifies one backup and records the pass in the store.
    public func verify(_ name: String, now: Date) async throws -> VerifyReport {
        let entry = try await BackupCatalog(store: store).entry(named: name)
        let manifest = entry.manifest
        let dir = NSTemporaryDirectory() + "capstan-verify-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/snapshot.db"
        try await decrypt(manifest.snapshot, of: manifest, to: file)
        if let pki = manifest.pkiObject { try await decrypt(pki, of: manifest, to: nil) }
        let status = try await snapshotStatus(localFile: file)
        let checks: [(String, String, String)] = [
            ("hash", String(manifest.snapshotHash), String(status.hash)),
            ("revision", String(manifest.revision), String(status.revision)),
            ("total keys", String(manifest.totalKeys), String(status.totalKey)),
        ]
        for (field, expected, actual) in checks where expected != actual {
            throw BackupError.snapshotStatusMismatch(backup: name, field: field, manifest: expected, actual: actual)
        }
        let record = VerificationRecord(verifiedAt: now, revision: status.revision, snapshotHash: status.hash)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        try await store.put(VerificationRecord.objectName(for: name), data: try encoder.encode(record))
        return VerifyReport(name: name, status: status, plaintextSHA256: manifest.snapshot.plaintextSHA256,
                            storedSHA256: manifest.snapshot.storedSHA256, pkiChecked: manifest.pkiObject != nil)
    }

    /// `snapshot status` on a local decrypted copy: here, or copied to `statusHost` when that is a remote member.
    func snapshotStatus(localFile: String) async throws -> SnapshotStatus {
        guard let tool = statusTool ?? (statusHost is LocalConnection ? BackupVerifier.localStatusTool() : nil) else {
            throw BackupError.noVerifier(reason: "neither etcdutl nor etcdctl is on PATH here; install etcd-client or verify on a member")
        }
        var path = localFile
        var remoteDir: String?
        if !(statusHost is LocalConnection) {
            let made = try await statusHost.run(ShellCommand("mktemp", "-d", "-t", "capstan-backup.XXXXXXXX"))
            let dir = made.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            guard made.succeeded, dir.hasPrefix("/") else { throw BackupError.noVerifier(reason: "mktemp on \(statusHost.hostName) failed") }
            remoteDir = dir
            path = dir + "/snapshot.db"
            try await statusHost.upload(localFile: localFile, to: path, attributes: FileAttributes(mode: 0o600))
        }
        let run = try? await statusHost.run(ShellCommand(tool, "snapshot", "status", path, "-w", "json"),
                                            options: RunOptions(timeoutSeconds: 600, environment: ["ETCDCTL_API": "3"]))
        // Awaited, not detached: a cleanup task left running would outlive the process.
        if let remoteDir { _ = try? await statusHost.run(ShellCommand("rm", "-rf", "--", remoteDir)) }
        guard let result = run else {
            throw BackupError.etcdctl(host: statusHost.hostName, step: "\(tool) snapshot status on the decrypted copy", reason: "the command could not be run")
        }
        guard result.succeeded else {
            throw BackupError.etcdctl(host: statusHost.hostName, step: "\(tool) snapshot status on the decrypted copy", reason: lastLines(result.stderrText))
        }
        return try SnapshotStatus.parse(result.stdoutText, host: statusHost.hostName)
    }
}

struct SendableHandle: @unchecked Sendable {
    let handle: FileHandle
    init(_ handle: FileHandle) { self.handle = handle }
}
