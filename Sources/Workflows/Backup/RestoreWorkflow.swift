import Foundation
import Hosts

/// What a restore did.
public struct RestoreReport: Sendable, Equatable {
    public var backup: String
    public var initialClusterToken: String
    /// Member name → where its previous data directory was moved (absent when it had none).
    public var movedAside: [String: String]
    public var revision: Int64
}

/// `backup restore`: rebuilds every etcd member from one snapshot as a new cluster (new cluster ID), keeping
/// the old data directories beside the new ones.
///
/// Order: pre-checks (not managed, backup verifies, every member reachable) → snapshot copied to every member →
/// API servers stopped → etcd stopped → data dirs moved aside → `snapshot restore` on every member → etcd
/// started on all members together → health and revision checked → API servers started.
public struct EtcdRestore: Sendable {
    public var store: any BackupStore
    public var key: BackupKey?
    /// The operator's age identities, for backups written in the age format.
    public var identities: [AgeIdentity] = []
    /// Control-plane hosts that are not etcd members (external etcd): their API servers are stopped before etcd
    /// and started after it, like those on members.
    public var apiServerHosts: [EtcdMemberTarget] = []
    public var access: EtcdClientAccess
    public var control: any EtcdServiceControl
    public var cluster: String
    /// `owner[:group]` given the restored data directories (`etcd:etcd` under systemd); nil keeps root's.
    public var dataDirOwner: String?
    public var healthTimeoutSeconds: Double

    public init(store: any BackupStore, key: BackupKey?, access: EtcdClientAccess, control: any EtcdServiceControl,
                cluster: String, dataDirOwner: String? = nil, healthTimeoutSeconds: Double = 120) {
        self.store = store
        self.key = key
        self.access = access
        self.control = control
        self.cluster = cluster
        self.dataDirOwner = dataDirOwner
        self.healthTimeoutSeconds = healthTimeoutSeconds
    }

    /// The one-line refusal for managed control planes, checked before anything else.
    public static func refuseIfManaged(providerName: String?) throws(BackupError) {
        if let providerName { throw .managedControlPlane(provider: providerName) }
    }

    public func run(backup name: String, members: [EtcdMemberTarget], managedProvider: String? = nil, now: Date) async throws -> RestoreReport {
        try Self.refuseIfManaged(providerName: managedProvider)
        precondition(!members.isEmpty, "restore needs at least one member")
        let manifest = try await BackupCatalog(store: store).entry(named: name).manifest
        let stamp = CompactTime.string(now)

        // Pre-checks: the backup decrypts with matching checksums and etcd accepts it; every member answers.
        let dir = NSTemporaryDirectory() + "capstan-restore-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let local = dir + "/snapshot.db"
        let verifier = BackupVerifier(store: store, key: key, identities: identities)
        try await verifier.decrypt(manifest.snapshot, of: manifest, to: local)
        // No etcdctl here: run `snapshot status` on the first member with the tool it has (etcdutl only from 3.5).
        let statusVerifier = BackupVerifier.localStatusTool() != nil ? verifier
            : BackupVerifier(store: store, key: key, identities: identities, statusHost: members[0].connection,
                             statusTool: try await EtcdBackup(store: store, access: access, settings: BackupSettings(cluster: cluster, key: nil, capstanVersion: ""))
                                .offlineTool(on: members[0].connection))
        let status = try await statusVerifier.snapshotStatus(localFile: local)
        guard status.hash == manifest.snapshotHash, status.revision == manifest.revision else {
            throw BackupError.snapshotStatusMismatch(backup: name, field: "hash/revision", manifest: "\(manifest.snapshotHash)/\(manifest.revision)",
                                                     actual: "\(status.hash)/\(status.revision)")
        }
        try await forEachMember(members, step: "checking it is reachable") { member in
            try await member.connection.check(ShellCommand("true"), options: RunOptions(timeoutSeconds: 30))
        }

        let remoteDirs = try await withThrowingTaskGroup(of: (String, String).self) { group in
            for member in members {
                group.addTask {
                    let made = try await member.connection.run(ShellCommand("mktemp", "-d", "-t", "capstan-backup.XXXXXXXX"))
                    let path = made.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
                    guard made.succeeded, path.hasPrefix("/") else {
                        throw BackupError.restoreFailed(host: member.name, step: "creating a temporary directory", reason: lastLines(made.stderrText))
                    }
                    try await member.connection.upload(localFile: local, to: path + "/snapshot.db", attributes: FileAttributes(mode: 0o600))
                    return (member.name, path)
                }
            }
            var out: [String: String] = [:]
            for try await (member, path) in group { out[member] = path }
            return out
        }
        // Temporary copies are removed before returning (awaited: a detached cleanup would outlive the process).
        do {
            let report = try await restoreUploaded(manifest: manifest, members: members, remoteDirs: remoteDirs, stamp: stamp, name: name)
            await removeTemporaryCopies(remoteDirs, members)
            return report
        } catch {
            await removeTemporaryCopies(remoteDirs, members)
            throw error
        }
    }

    /// Brings the PKI state back from the backup (`includePKI`, or the published PKI it names) when `<stateRoot>/pki` does not exist, so a
    /// restore into an empty site has the cluster's CAs again; an existing PKI is never overwritten. Returns
    /// whether it restored.
    public func restorePKI(backup name: String, stateRoot: String) async throws -> Bool {
        let manifest = try await BackupCatalog(store: store).entry(named: name).manifest
        guard let pki = manifest.pkiObject, !FileManager.default.fileExists(atPath: stateRoot + "/pki") else { return false }
        let dir = NSTemporaryDirectory() + "capstan-restore-pki-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await BackupVerifier(store: store, key: key, identities: identities).decrypt(pki, of: manifest, to: dir + "/pki.tar")
        try FileManager.default.createDirectory(atPath: stateRoot, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let untar = try await LocalConnection().run(ShellCommand("tar", "-C", dir, "--no-same-owner", "-xf", dir + "/pki.tar", "--", "pki"))
        guard untar.succeeded else { throw BackupError.restoreFailed(host: "localhost", step: "unpacking the PKI from \(name)", reason: lastLines(untar.stderrText)) }
        // Unpacked beside, then renamed into place: a failure never leaves half a PKI in the state directory.
        try FileManager.default.moveItem(atPath: dir + "/pki", toPath: stateRoot + "/pki")
        return true
    }

    func removeTemporaryCopies(_ dirs: [String: String], _ members: [EtcdMemberTarget]) async {
        for member in members {
            if let path = dirs[member.name] { _ = try? await member.connection.run(ShellCommand("rm", "-rf", "--", path)) }
        }
    }

    func restoreUploaded(manifest: BackupManifest, members: [EtcdMemberTarget], remoteDirs: [String: String], stamp: String, name: String) async throws -> RestoreReport {
        let memberNames = Set(members.map(\.name))
        let apiHosts = members + apiServerHosts.filter { !memberNames.contains($0.name) }
        try await forEachMember(apiHosts, step: "stopping the API server") { try await control.stopAPIServer(on: $0) }
        try await forEachMember(members, step: "stopping etcd") { try await control.stopEtcd(on: $0) }

        let token = "capstan-\(cluster)-restore-\(stamp)"
        let initialCluster = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        let moved = ActorBox<[String: String]>([:])
        try await forEachMember(members, step: "restoring the snapshot") { member in
            let aside = member.dataDir + ".capstan-pre-restore-" + stamp
            let move = try await member.connection.run(ShellCommand("sh", "-c", #"[ ! -e "$1" ] || mv -- "$1" "$2""#, "sh", member.dataDir, aside))
            guard move.succeeded else {
                throw BackupError.restoreFailed(host: member.name, step: "moving \(member.dataDir) aside", reason: lastLines(move.stderrText))
            }
            let kept = try await member.connection.run(ShellCommand("test", "-e", aside))
            if kept.succeeded { await moved.update { $0[member.name] = aside } }
            let tool = try await EtcdBackup(store: store, access: access, settings: BackupSettings(cluster: cluster, key: nil, capstanVersion: ""))
                .offlineTool(on: member.connection)
            guard let snapshotDir = remoteDirs[member.name] else { return }
            let restore = try await member.connection.run(ShellCommand(
                tool, "snapshot", "restore", snapshotDir + "/snapshot.db",
                "--name=" + member.name, "--initial-cluster=" + initialCluster,
                "--initial-advertise-peer-urls=" + member.peerURL, "--initial-cluster-token=" + token,
                "--data-dir=" + member.dataDir), options: RunOptions(timeoutSeconds: 600, environment: access.environment))
            guard restore.succeeded else {
                throw BackupError.restoreFailed(host: member.name, step: "\(tool) snapshot restore", reason: lastLines(restore.stderrText))
            }
            if let owner = dataDirOwner {
                try await member.connection.check(ShellCommand("chown", "-R", owner, member.dataDir))
            }
        }

        try await forEachMember(members, step: "starting etcd") { try await control.startEtcd(on: $0) }
        let revision = try await waitHealthy(members, atLeast: manifest.revision)
        try await forEachMember(apiHosts, step: "starting the API server") { try await control.startAPIServer(on: $0) }
        return RestoreReport(backup: name, initialClusterToken: token, movedAside: await moved.value, revision: revision)
    }

    /// Polls until every member reports healthy, one of them is the leader and each has reached the backup's
    /// revision; returns the lowest revision. Each member is asked on its own host at its own client URL
    /// (`https://127.0.0.1:2379` there), so the answers come from three different members.
    func waitHealthy(_ members: [EtcdMemberTarget], atLeast revision: Int64) async throws -> Int64 {
        let deadline = Date().addingTimeInterval(healthTimeoutSeconds)
        var last = "no answer yet"
        while Date() < deadline {
            let options = RunOptions(timeoutSeconds: 30, environment: access.environment)
            var statuses: [EtcdEndpointStatus] = []
            var problems: [String] = []
            for member in members {
                let status = try? await member.connection.run(access.etcdctl(member.clientURL, ["endpoint", "status", "-w", "json"]), options: options)
                guard let status, status.succeeded, let parsed = try? FactsParser.etcdEndpointStatus(status.stdoutText, host: member.name).first else {
                    problems.append("\(member.name): " + (status.map { lastLines($0.stderrText + $0.stdoutText, 1) } ?? "unreachable"))
                    continue
                }
                statuses.append(parsed)
            }
            if problems.isEmpty {
                let lowest = statuses.map(\.revision).min() ?? 0
                let leaders = Set(statuses.map(\.leader)).filter { $0 != 0 }
                if lowest >= revision && leaders.count == 1 && statuses.contains(where: \.isLeader) { return lowest }
                last = lowest < revision ? "revision \(lowest) is below the backup's \(revision)" : "no agreed leader yet"
            } else {
                last = problems.joined(separator: "; ")
            }
            try await Task.sleep(nanoseconds: 500_000_000)
        }
        throw BackupError.unhealthyAfterRestore(reason: "after \(Int(healthTimeoutSeconds))s: \(last)")
    }

    /// Runs `body` on every member concurrently; the first failure is reported with the member and step.
    func forEachMember(_ members: [EtcdMemberTarget], step: String, _ body: @escaping @Sendable (EtcdMemberTarget) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for member in members {
                group.addTask {
                    do { try await body(member) } catch let error as BackupError { throw error } catch {
                        throw BackupError.restoreFailed(host: member.name, step: step, reason: "\(error)")
                    }
                }
            }
            try await group.waitForAll()
        }
    }

}

actor ActorBox<Value: Sendable> {
    private(set) var value: Value
    init(_ value: Value) { self.value = value }
    func update(_ change: @Sendable (inout Value) -> Void) { change(&value) }
}
