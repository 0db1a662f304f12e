import Foundation
import Hosts

/// What a restore did.
public struct RestoreReport: Sendable, Equatable {
    public var backup: String
    public var initialClusterToken: String
    /// Member name → where its previous data directory was moved (absent when it had none).
    public var movedAside: [String: String]
    public var revision: Int64
    /// The PKI state was brought back into an empty state directory (`restore-pki`).
    public var restoredPKI = false
}

/// `backup restore`: rebuilds every etcd member from one snapshot as a new cluster (new cluster ID), keeping
/// the old data directories beside the new ones.
///
/// A phase list run in a `WorkflowContext`, so `--dry-run` is the same path in plan mode: every step on a host
/// is a `change` (recorded, and made only in apply mode), the health wait is a `gate`.
/// Order: `restore-check` (the backup decrypts, its checksums match, etcd's `snapshot status` agrees with the
/// manifest; every host answers) → `restore-pki` (an empty state directory gets the backup's PKI) →
/// `restore-copy` (the snapshot to every member) → `restore-stop-apiservers` → `restore-stop-etcd` →
/// `restore-data` (data directories moved aside, `snapshot restore` on every member) → `restore-start-etcd`
/// (all members together) → `restore-health` (health and revision) → `restore-start-apiservers`. The
/// temporary copies are removed when the run ends, also when it failed (`restore-copy`'s cleanup).
public struct EtcdRestore: Sendable {
    /// Bringing the PKI state back into an empty state directory (`restore-pki`).
    public struct PKIRestore: Sendable {
        public var stateRoot: String
        /// Runs once the PKI is in place, before any host changes: throws to refuse (the identity the hosts
        /// carry is not this PKI's). The restored PKI is removed again first.
        public var accept: @Sendable () async throws -> Void

        public init(stateRoot: String, accept: @escaping @Sendable () async throws -> Void = {}) {
            self.stateRoot = stateRoot
            self.accept = accept
        }
    }

    public var store: any BackupStore
    public var key: BackupKey?
    /// The operator's age identities, for backups written in the age format.
    public var identities: [AgeIdentity] = []
    /// Control-plane hosts that are not etcd members (external etcd): their API servers are stopped before etcd
    /// and started after it, like those on members.
    public var apiServerHosts: [String] = []
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

    /// What one run found and did, filled in by its phases.
    actor Progress {
        var manifest: BackupManifest?
        var localCopy: String?
        var remoteDirs: [String: String] = [:]
        var movedAside: [String: String] = [:]
        /// The lowest revision the members reached after the restore (set by the health gate).
        var revision: Int64?
        var restoredPKI = false
        func set(_ change: @Sendable (isolated Progress) -> Void) { change(self) }
    }

    /// Restores `name` onto `members` in `ctx`: in apply mode the report of what was done; in plan mode nil,
    /// with every step recorded in `ctx.actions` and nothing changed (the backup is still decrypted and checked).
    public func run(backup name: String, members: [EtcdMemberAddress], pki: PKIRestore? = nil, managedProvider: String? = nil,
                    in ctx: WorkflowContext, now: Date) async throws -> RestoreReport? {
        try Self.refuseIfManaged(providerName: managedProvider)
        precondition(!members.isEmpty, "restore needs at least one member")
        let progress = Progress()
        let scratch = NSTemporaryDirectory() + "capstan-restore-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let token = "capstan-\(cluster)-restore-\(CompactTime.string(now))"
        let workflow = Workflow(name: "backup restore", phases: phases(backup: name, members: members, pki: pki, token: token,
                                                                         stamp: CompactTime.string(now), scratch: scratch, progress: progress))
        _ = try await PhaseRunner().run(workflow, in: ctx)
        // The health gate reached a revision only when the restore was made (in plan mode gates do not run).
        guard let revision = await progress.revision else { return nil }
        return RestoreReport(backup: name, initialClusterToken: token, movedAside: await progress.movedAside,
                             revision: revision, restoredPKI: await progress.restoredPKI)
    }

    func phases(backup name: String, members: [EtcdMemberAddress], pki: PKIRestore?, token: String, stamp: String, scratch: String,
                progress: Progress) -> [Phase] {
        let memberNames = members.map(\.name)
        let apiHosts = memberNames + apiServerHosts.filter { !memberNames.contains($0) }
        let byName = Dictionary(members.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let again = "fix the cause above and run `backup restore` again: completed steps are repeated from a fresh copy of the backup"
        let kept = "the old data directories are kept beside the new ones (*.capstan-pre-restore-*); fix the cause above and run `backup restore` again"
        @Sendable func target(_ name: String, _ connection: any HostConnection) -> EtcdMemberTarget {
            EtcdMemberTarget(byName[name] ?? EtcdMemberAddress(name: name, clientURL: "", peerURL: "", dataDir: ""), connection: connection)
        }
        let control = self.control
        let initialCluster = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        var list: [Phase] = [
            Phase("restore-check", concerning: apiHosts, next: again) { ctx in
                try await check(backup: name, members: members, apiHosts: apiHosts, scratch: scratch, progress: progress, ctx)
            },
        ]
        if let pki {
            list.append(Phase("restore-pki", concerning: [WorkflowContext.stateTarget], next: again) { ctx in
                guard let manifest = await progress.manifest, let object = manifest.pkiObject,
                      !FileManager.default.fileExists(atPath: pki.stateRoot + "/pki") else { return }
                let source = manifest.pki == nil ? "the published PKI \(object.name)" : "the backup"
                try await ctx.changeState("restore the PKI state into \(pki.stateRoot)/pki from \(source)") {
                    guard try await restorePKI(backup: name, stateRoot: pki.stateRoot) else { return }
                    do { try await pki.accept() } catch {
                        try? FileManager.default.removeItem(atPath: pki.stateRoot + "/pki")
                        throw error
                    }
                    await progress.set { $0.restoredPKI = true }
                }
            })
        }
        list += [
            Phase("restore-copy", hosts: memberNames, next: again) { ctx, host in
                let size = await progress.manifest?.snapshot.plaintextSize ?? 0
                try await ctx.change(host, "copy the decrypted snapshot (\(size) bytes) to a temporary directory") { connection in
                    let made = try await connection.run(ShellCommand("mktemp", "-d", "-t", "capstan-backup.XXXXXXXX"))
                    let path = made.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
                    guard made.succeeded, path.hasPrefix("/") else {
                        throw BackupError.restoreFailed(host: host, step: "creating a temporary directory", reason: lastLines(made.stderrText))
                    }
                    await progress.set { $0.remoteDirs[host] = path }
                    try await connection.upload(localFile: scratch + "/snapshot.db", to: path + "/snapshot.db", attributes: FileAttributes(mode: 0o600))
                }
            }.cleaningUp { ctx in await removeTemporaryCopies(progress, ctx) },
            Phase("restore-stop-apiservers", hosts: apiHosts, next: again) { ctx, host in
                try await ctx.change(host, "stop kube-apiserver, where it is installed") { try await control.stopAPIServer(on: target(host, $0)) }
            },
            Phase("restore-stop-etcd", hosts: memberNames, next: again) { ctx, host in
                try await ctx.change(host, "stop etcd") { try await control.stopEtcd(on: target(host, $0)) }
            },
            Phase("restore-data", hosts: memberNames, next: kept) { ctx, host in
                guard let member = byName[host] else { return }
                try await restoreData(member, stamp: stamp, token: token, initialCluster: initialCluster, progress: progress, ctx)
            },
            Phase("restore-start-etcd", hosts: memberNames, next: kept) { ctx, host in
                try await ctx.change(host, "start etcd (every member at once: a new cluster needs its quorum)") { try await control.startEtcd(on: target(host, $0)) }
            },
            Phase("restore-health", concerning: memberNames, next: kept) { ctx in
                let revision = await progress.manifest?.revision ?? 0
                await ctx.announce("wait until every member is healthy with one leader, at revision \(revision) or later (\(Int(healthTimeoutSeconds)) s at most)")
                if let reached = try await ctx.gate({ try await waitHealthy(members, atLeast: revision, ctx) }) {
                    await progress.set { $0.revision = reached }
                }
            },
            Phase("restore-start-apiservers", hosts: apiHosts, next: "etcd is restored and healthy; start kube-apiserver on the hosts above (`systemctl start kube-apiserver`)") { ctx, host in
                try await ctx.change(host, "start kube-apiserver, where it is installed") { try await control.startAPIServer(on: target(host, $0)) }
            },
        ]
        return list
    }

    /// Pre-checks, in plan mode too: the backup decrypts with matching checksums and `snapshot status` agrees
    /// with the manifest (here when this machine has etcdutl or etcdctl, else on the first member, in apply
    /// mode, from a temporary copy); every host answers.
    func check(backup name: String, members: [EtcdMemberAddress], apiHosts: [String], scratch: String, progress: Progress, _ ctx: WorkflowContext) async throws {
        let manifest = try await BackupCatalog(store: store).entry(named: name).manifest
        await progress.set { $0.manifest = manifest }
        let local = scratch + "/snapshot.db"
        let verifier = BackupVerifier(store: store, key: key, identities: identities)
        try await verifier.decrypt(manifest.snapshot, of: manifest, to: local)
        await ctx.announce("backup \(manifest.name): etcd \(manifest.etcdVersion), revision \(manifest.revision), \(manifest.totalKeys) keys, taken \(ISO8601DateFormatter().string(from: manifest.createdAt)) on \(manifest.member); decrypted, checksums match")
        let compare: @Sendable (SnapshotStatus) throws -> Void = { status in
            guard status.hash == manifest.snapshotHash, status.revision == manifest.revision else {
                throw BackupError.snapshotStatusMismatch(backup: name, field: "hash/revision", manifest: "\(manifest.snapshotHash)/\(manifest.revision)",
                                                         actual: "\(status.hash)/\(status.revision)")
            }
        }
        if BackupVerifier.localStatusTool() != nil {
            try compare(try await verifier.snapshotStatus(localFile: local))
        } else {
            // No etcdctl here: `snapshot status` on the first member with the tool it has (etcdutl only from 3.5).
            let first = members[0].name
            let store = self.store, key = self.key, identities = self.identities, access = self.access
            try await ctx.change(first, "check the snapshot with `snapshot status` on a temporary copy (removed after)") { connection in
                let tool = try await access.offlineTool(on: connection)
                let remote = BackupVerifier(store: store, key: key, identities: identities, statusHost: connection, statusTool: tool)
                try compare(try await remote.snapshotStatus(localFile: local))
            }
        }
        let unreachable = await FanOut.run(apiHosts, name: { $0 }) { host in
            _ = try await ctx.reader(host).check(ShellCommand("true"), options: RunOptions(timeoutSeconds: 30))
        }.filter { $0.error != nil }
        if let first = unreachable.first {
            throw BackupError.restoreFailed(host: first.host, step: "checking it is reachable",
                                            reason: unreachable.map { "\($0.host): \($0.error.map { "\($0)" } ?? "")" }.joined(separator: "; "))
        }
    }

    /// Moves the member's data directory aside (when it has one) and runs `snapshot restore` into a new one.
    func restoreData(_ member: EtcdMemberAddress, stamp: String, token: String, initialCluster: String, progress: Progress, _ ctx: WorkflowContext) async throws {
        let aside = member.dataDir + ".capstan-pre-restore-" + stamp
        let exists = try await ctx.reader(member.name).run(ShellCommand("test", "-e", member.dataDir)).succeeded
        let tool = try await access.offlineTool(on: ctx.reader(member.name))
        let description = (exists ? "move \(member.dataDir) aside to \(aside), then " : "") +
            "restore the snapshot into \(member.dataDir) with \((tool as NSString).lastPathComponent) as member \(member.name) of a new cluster (token \(token))"
        let access = self.access, owner = dataDirOwner
        try await ctx.change(member.name, description) { connection in
            let move = try await connection.run(ShellCommand("sh", "-c", #"[ ! -e "$1" ] || mv -- "$1" "$2""#, "sh", member.dataDir, aside))
            guard move.succeeded else {
                throw BackupError.restoreFailed(host: member.name, step: "moving \(member.dataDir) aside", reason: lastLines(move.stderrText))
            }
            if try await connection.run(ShellCommand("test", "-e", aside)).succeeded { await progress.set { $0.movedAside[member.name] = aside } }
            guard let snapshotDir = await progress.remoteDirs[member.name] else {
                throw BackupError.restoreFailed(host: member.name, step: "snapshot restore", reason: "the snapshot was not copied to this member")
            }
            let restore = try await connection.run(ShellCommand(
                tool, "snapshot", "restore", snapshotDir + "/snapshot.db",
                "--name=" + member.name, "--initial-cluster=" + initialCluster,
                "--initial-advertise-peer-urls=" + member.peerURL, "--initial-cluster-token=" + token,
                "--data-dir=" + member.dataDir), options: RunOptions(timeoutSeconds: 600, environment: access.environment))
            guard restore.succeeded else {
                throw BackupError.restoreFailed(host: member.name, step: "\(tool) snapshot restore", reason: lastLines(restore.stderrText))
            }
            if let owner {
                try await connection.check(ShellCommand("chown", "-R", owner, member.dataDir))
            }
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

    /// The members' temporary snapshot copies, removed when the run ends whatever its outcome (awaited: a
    /// detached cleanup would outlive the process). A copy that cannot be removed is named in a warning.
    func removeTemporaryCopies(_ progress: Progress, _ ctx: WorkflowContext) async {
        for (host, path) in await progress.remoteDirs.sorted(by: { $0.key < $1.key }) {
            do {
                try await ctx.change(host, "remove the temporary snapshot copy \(path)") { connection in
                    try await connection.check(ShellCommand("rm", "-rf", "--", path))
                }
            } catch {
                await ctx.emit(.warning, host: host, "warning: the temporary snapshot copy \(path) was not removed: \(error)")
            }
        }
    }

    /// Polls until every member reports healthy, one of them is the leader and each has reached the backup's
    /// revision; returns the lowest revision. Each member is asked on its own host at its own client URL
    /// (`https://127.0.0.1:2379` there), so the answers come from three different members.
    func waitHealthy(_ members: [EtcdMemberAddress], atLeast revision: Int64, _ ctx: WorkflowContext) async throws -> Int64 {
        let deadline = Date().addingTimeInterval(healthTimeoutSeconds)
        var last = "no answer yet"
        while Date() < deadline {
            let options = RunOptions(timeoutSeconds: 30, environment: access.environment)
            var statuses: [EtcdEndpointStatus] = []
            var problems: [String] = []
            for member in members {
                let status = try? await ctx.reader(member.name).run(access.etcdctl(member.clientURL, ["endpoint", "status", "-w", "json"]), options: options)
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
}
