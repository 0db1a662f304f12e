import Foundation
import Hosts

/// `backup now` and `backup sync`: snapshot on a healthy member, stream it through encryption into the store,
/// manifest last. Nothing is staged on the control machine; the member keeps a temporary file only while
/// etcdctl needs one, and it is removed on success and on failure.
public struct EtcdBackup: Sendable {
    public var store: any BackupStore
    public var access: EtcdClientAccess
    public var settings: BackupSettings

    public init(store: any BackupStore, access: EtcdClientAccess, settings: BackupSettings) {
        self.store = store
        self.access = access
        self.settings = settings
    }

    /// The first member (in the given order) that answers and reports healthy, with its endpoint status. Each is
    /// read through `ctx`; a member whose host cannot be reached counts as unhealthy.
    public func healthyMember(_ members: [EtcdMemberAddress], in ctx: WorkflowContext) async throws -> (EtcdMemberAddress, EtcdEndpointStatus) {
        var tried: [String] = []
        for member in members {
            let host: HostReader
            do { host = try await ctx.reader(member.name) } catch {
                tried.append("\(member.name): unreachable (\(error))")
                continue
            }
            let options = RunOptions(timeoutSeconds: 30, environment: access.environment)
            let health = try? await host.run(access.etcdctl(member.clientURL, ["endpoint", "health"]), options: options)
            guard let health, health.succeeded else {
                tried.append("\(member.name): " + (health.map { $0.stderrText.split(separator: "\n").last.map(String.init) ?? "exit \($0.exitStatus)" } ?? "unreachable"))
                continue
            }
            let status = try? await host.run(access.etcdctl(member.clientURL, ["endpoint", "status", "-w", "json"]), options: options)
            guard let status, status.succeeded, let parsed = try? FactsParser.etcdEndpointStatus(status.stdoutText, host: member.name).first else {
                tried.append("\(member.name): endpoint status failed")
                continue
            }
            return (member, parsed)
        }
        throw BackupError.noHealthyMember(tried: tried)
    }

    /// The member `backup now` snapshots (the first healthy one), at which revision and size, and how and where
    /// the result is stored.
    public struct Preview: Sendable, Encodable {
        public var member: String
        public var etcdVersion: String
        public var revision: Int64
        public var dbSize: Int64
        public var store: String
        public var encryption: String
        public var includesPKI: Bool
    }

    /// What `backup now` read, and in apply mode the manifest it stored (nil in plan mode).
    public struct Outcome: Sendable {
        public var preview: Preview
        public var manifest: BackupManifest?
    }

    /// `backup now` in `ctx`: the first healthy member (read in plan mode too) takes a snapshot, which is
    /// streamed into the store. That is one change on the member: made in apply mode, recorded in plan mode.
    public func now(members: [EtcdMemberAddress], in ctx: WorkflowContext, now: Date) async throws -> Outcome {
        let (member, status) = try await healthyMember(members, in: ctx)
        let encryption = !settings.recipients.isEmpty ? "age, to \(settings.recipients.count) recipient(s)"
            : settings.key != nil ? "AES-256-GCM with the key file" : "none (etcd.backup.unencrypted)"
        let preview = Preview(member: member.name, etcdVersion: status.version, revision: status.revision, dbSize: status.dbSize,
                              store: store.location, encryption: encryption, includesPKI: settings.pkiDirectory != nil)
        let description = "snapshot etcd \(status.version) at revision \(status.revision) (\(status.dbSize) bytes) into a temporary file, "
            + "store it in \(store.location) (encryption: \(encryption)\(preview.includesPKI ? ", with the PKI" : "")), check it with `snapshot status`, remove the file"
        let manifest = try await ctx.changeProducing(member.name, description) { connection in
            try await self.snapshot(EtcdMemberTarget(member, connection: connection), status: status, now: now)
        }
        return Outcome(preview: preview, manifest: manifest)
    }

    /// Takes a snapshot on `member` now and stores it; returns the stored manifest.
    func snapshot(_ member: EtcdMemberTarget, status: EtcdEndpointStatus, now: Date) async throws -> BackupManifest {
        let host = member.connection
        let temp = try await makeTempDir(on: host)
        do {
            let file = temp + "/snapshot.db"
            let save = try await host.run(access.etcdctl(member.clientURL, ["snapshot", "save", file]),
                                          options: RunOptions(timeoutSeconds: 1800, environment: access.environment))
            guard save.succeeded else {
                throw BackupError.etcdctl(host: member.name, step: "etcdctl snapshot save", reason: lastLines(save.stderrText))
            }
            let manifest = try await storeSnapshot(file: file, from: member, etcdVersion: status.version, createdAt: now, source: "now")
            try? await removeTemp(temp, on: host)
            return manifest
        } catch {
            try? await removeTemp(temp, on: host)
            throw error
        }
    }

    /// Stores an existing snapshot file on `member` (a fresh one, or a node-local one for sync).
    func storeSnapshot(file: String, from member: EtcdMemberTarget, etcdVersion: String, createdAt: Date, source: String) async throws -> BackupManifest {
        let snapshotStatus = try await self.snapshotStatus(file: file, on: member)
        // The file is the bbolt database plus etcd's appended SHA-256 (32 bytes), so compare with its own size.
        let sizeResult = try await member.connection.run(ShellCommand("wc", "-c", file))
        guard sizeResult.succeeded, let fileSize = sizeResult.stdoutText.split(separator: " ").first.flatMap({ Int64($0) }) else {
            throw BackupError.etcdctl(host: member.name, step: "measuring \(file)", reason: lastLines(sizeResult.stderrText))
        }
        let name = try await freeName(createdAt)
        let snapshotName = name + (!settings.encrypts ? ".snapshot.db" : settings.recipients.isEmpty ? ".snapshot.db.enc" : ".snapshot.db.age")
        var stored: [String] = []
        do {
            let catCommand = ShellCommand("cat", "--", file)
            let snapshot = try await streamIntoStore(snapshotName) { sink in
                let result = try await member.connection.stream(catCommand, options: RunOptions(timeoutSeconds: 3600), onStdout: sink)
                guard result.succeeded else {
                    throw BackupError.etcdctl(host: member.name, step: "reading the snapshot", reason: lastLines(result.stderrText))
                }
            }
            stored.append(snapshotName)
            guard snapshot.plaintextSize == fileSize else {
                throw BackupError.etcdctl(host: member.name, step: "reading the snapshot",
                                          reason: "read \(snapshot.plaintextSize) bytes of a \(fileSize)-byte file")
            }
            var pki: BackupManifest.Object?
            if let dir = settings.pkiDirectory {
                let pkiName = name + (!settings.encrypts ? ".pki.tar" : settings.recipients.isEmpty ? ".pki.tar.enc" : ".pki.tar.age")
                pki = try await storePKI(directory: dir, as: pkiName)
                stored.append(pkiName)
            }
            let manifest = BackupManifest(
                name: name, cluster: settings.cluster, member: member.name, etcdVersion: etcdVersion,
                revision: snapshotStatus.revision, dbSize: snapshotStatus.totalSize, totalKeys: snapshotStatus.totalKey,
                snapshotHash: snapshotStatus.hash, createdAt: createdAt, capstanVersion: settings.capstanVersion,
                encryption: settings.encryption, snapshot: snapshot, pki: pki, sharedPKI: pki == nil ? settings.sharedPKI : nil, source: source,
                secretsKeys: settings.secretsKeys)
            try await store.put(BackupManifest.objectName(for: name), data: try manifest.encoded())
            return manifest
        } catch {
            for object in stored { try? await store.delete(object) }
            throw error
        }
    }

    /// `snapshot status -w json` on the member: etcdutl where installed (3.5+), else etcdctl (3.4).
    func snapshotStatus(file: String, on member: EtcdMemberTarget) async throws -> SnapshotStatus {
        let tool = try await access.offlineTool(on: member.connection)
        let result = try await member.connection.run(ShellCommand(tool, "snapshot", "status", file, "-w", "json"),
                                                     options: RunOptions(timeoutSeconds: 600, environment: access.environment))
        guard result.succeeded else {
            throw BackupError.etcdctl(host: member.name, step: "\(tool) snapshot status", reason: lastLines(result.stderrText))
        }
        return try SnapshotStatus.parse(result.stdoutText, host: member.name)
    }

    /// A tar of the PKI directory, made on this machine and streamed through the same encryption.
    func storePKI(directory: String, as name: String) async throws -> BackupManifest.Object {
        let tar = PKIPublication.tarCommand(directory: directory)
        return try await streamIntoStore(name) { sink in
            let result = try await LocalConnection().stream(tar, options: RunOptions(timeoutSeconds: 600), onStdout: sink)
            guard result.succeeded else {
                throw BackupError.storeFailed(store: store.location, name: name, operation: "archive \(directory)", reason: lastLines(result.stderrText))
            }
        }
    }

    /// Runs `produce`, sealing each chunk it hands over and feeding the store through a bounded channel.
    func streamIntoStore(_ name: String, produce: @Sendable (@escaping @Sendable (Data) async throws -> Void) async throws -> Void) async throws -> BackupManifest.Object {
        let sealer = try BackupSealer(settings: settings)
        let channel = ChunkChannel()
        let store = self.store
        let writer = Task {
            do {
                try await store.put(name, chunks: channel.stream)
                await channel.consumerStopped()
            } catch {
                await channel.consumerStopped()
                throw error
            }
        }
        do {
            try await produce { chunk in
                let sealed = try sealer.seal(chunk)
                if !sealed.isEmpty { try await channel.send(sealed) }
            }
            try await channel.send(try sealer.finish())
            await channel.finish()
        } catch {
            await channel.finish(throwing: error)
            _ = await writer.result
            throw error
        }
        try await writer.value
        return sealer.object(named: name)
    }

    /// `<cluster>-<UTC stamp>`, with `-2`, `-3`… when a backup of that second exists already.
    func freeName(_ date: Date) async throws -> String {
        let base = settings.cluster + "-" + CompactTime.string(date)
        let existing = Set(try await store.list().map(\.name))
        var candidate = base
        var n = 2
        while existing.contains(BackupManifest.objectName(for: candidate)) || existing.contains(where: { $0.hasPrefix(candidate + ".") }) {
            candidate = base + "-\(n)"
            n += 1
        }
        return candidate
    }

    func makeTempDir(on host: any CommandRunner) async throws -> String {
        let result = try await host.run(ShellCommand("mktemp", "-d", "-t", "capstan-backup.XXXXXXXX"))
        let path = result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.succeeded, path.hasPrefix("/") else {
            throw BackupError.etcdctl(host: host.hostName, step: "mktemp", reason: lastLines(result.stderrText))
        }
        return path
    }

    func removeTemp(_ path: String, on host: any CommandRunner) async throws {
        guard path.contains("capstan-backup.") else { return }
        _ = try await host.run(ShellCommand("rm", "-rf", "--", path))
    }
}

func lastLines(_ text: String, _ n: Int = 3) -> String {
    let lines = text.split(separator: "\n").suffix(n).joined(separator: "\n")
    return lines.isEmpty ? "(no error output)" : lines
}
