import ArgumentParser
import Foundation
import Hosts
import Inventory
import PKI
import Templates
import Workflows

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "etcd backups: keygen, now, list, verify, restore, schedule, prune, sync.",
        subcommands: [BackupKeygen.self, BackupNow.self, BackupList.self, BackupVerify.self, BackupRestore.self, BackupSchedule.self, BackupPrune.self, BackupSync.self]
    )
}

/// Everything the backup commands derive from an inventory: policy, state directory, store, key.
struct BackupSetup {
    var inventory: Inventory
    var policy: BackupPolicy
    var state: StateDirectory

    init(_ option: InventoryOption) throws {
        let (inventory, _) = try option.load()
        self.inventory = inventory
        policy = inventory.etcd.backup ?? BackupPolicy()
        state = StateDirectory(inventory: inventory)
    }

    func refuseIfManaged(_ what: String) throws {
        guard !inventory.isSelfManaged else { return }
        let provider = inventory.controlPlane.managed?.provider.displayName ?? "the provider"
        throw ValidationError("\(what) is not available: the control plane is managed by \(provider), which owns etcd and its backups")
    }

    func store() async throws -> any BackupStore {
        try await Self.store(inventory)
    }

    /// The store as this machine reaches it (S3 with the operator's credentials, SFTP with the cluster's SSH
    /// settings); also what the backup-schedule phase publishes the PKI through.
    static func store(_ inventory: Inventory) async throws -> any BackupStore {
        switch (inventory.etcd.backup ?? BackupPolicy()).destination {
        case let .local(path):
            return LocalDirectoryStore(directory: path ?? StateDirectory(inventory: inventory).path("backups"))
        case let .sftp(host, port, user, path, _):
            let connection = try await LiveConnector.connectBackupHost(address: host, port: port, user: user, inventory: inventory)
            return RemoteDirectoryStore(connection: connection, directory: path)
        case let .s3(destination):
            return try S3Store.forOperator(destination)
        }
    }

    /// The key for reading: nil only when the inventory opts out of encryption.
    func key() throws -> BackupKey? {
        if let file = policy.encryptionKeyFile { return try BackupKey.load(path: file) }
        return nil
    }

    /// The operator's age identities: `--identity` first, else `etcd.backup.identityFile`; none when neither is given
    /// (reading an age backup then fails with what to give).
    func identities(_ option: String?) throws -> [AgeIdentity] {
        guard let file = option ?? policy.identityFile else { return [] }
        do { return try AgeIdentity.load(path: file) } catch { throw ValidationError("\(error)") }
    }

    var etcdHosts: [HostSpec] { inventory.etcdMembers }

    /// Backups to an off-machine store encrypted to recipients, without their own PKI, name the PKI published
    /// in the store (`PKIPublication`).
    var publishesPKI: Bool {
        if case .local = policy.destination { return false }
        return !policy.recipients.isEmpty && !policy.includePKI
    }

    /// The etcd members, reached through each run's context.
    func memberAddresses() -> [EtcdMemberAddress] {
        etcdHosts.map { host in
            let address = host.clusterAddress.contains(":") ? "[\(host.clusterAddress)]" : host.clusterAddress
            return EtcdMemberAddress(name: host.name, clientURL: "https://127.0.0.1:2379", peerURL: "https://\(address):2380",
                                      dataDir: inventory.etcd.dataDir)
        }
    }
}


func humanAge(_ seconds: TimeInterval) -> String {
    let s = Int64(max(0, seconds))
    if s < 120 { return "\(s)s" }
    if s < 7200 { return "\(s / 60)m" }
    if s < 172_800 { return "\(s / 3600)h" }
    return "\(s / 86400)d"
}

func table(_ rows: [[String]]) -> String {
    guard let first = rows.first else { return "" }
    let widths = (0..<first.count).map { c in rows.map { $0[c].count }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { c, cell in c == row.count - 1 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }.joined(separator: "\n")
}

/// JSON shape of one listed backup.
struct BackupListing: Encodable {
    var name: String
    var createdAt: Date
    var ageSeconds: Int64
    var storedBytes: Int64
    var member: String
    var etcdVersion: String
    var revision: Int64
    var totalKeys: Int64
    var encrypted: Bool
    var includesPKI: Bool
    var verifiedAt: Date?

    init(_ e: BackupEntry, now: Date) {
        name = e.name
        createdAt = e.manifest.createdAt
        ageSeconds = Int64(now.timeIntervalSince(e.manifest.createdAt))
        storedBytes = e.storedBytes
        member = e.manifest.member
        etcdVersion = e.manifest.etcdVersion
        revision = e.manifest.revision
        totalKeys = e.manifest.totalKeys
        encrypted = e.manifest.encryption.isEncrypted
        includesPKI = e.manifest.includesPKI
        verifiedAt = e.verifiedAt
    }
}

/// `--identity FILE`: the operator's age identity for reading age backups.
struct IdentityOption: ParsableArguments {
    @Option(name: .customLong("identity"), help: "age identity file that decrypts the backups (default: the inventory's etcd.backup.identityFile).")
    var identity: String?
}

struct BackupKeygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a new age identity (0600) for decrypting backups and print its recipient for etcd.backup.recipients.",
        discussion: HelpExamples.discussion("backup keygen", "The identity stays on the operator's machine (or offline); the etcd hosts only get the recipient. The file is the format of age-keygen, so `age -d -i FILE` decrypts backups without Capstan."))
    @Option(name: .shortAndLong, help: "Where to write the identity; refuses to overwrite an existing file.") var output: String

    func run() throws {
        let identity = AgeIdentity()
        let fd = open(output, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            let why = errno == EEXIST ? "it already exists (an identity is never overwritten; choose another path)" : String(cString: strerror(errno))
            throw ValidationError("cannot write \(output): \(why)")
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        try handle.write(contentsOf: Data(identity.fileContents(created: Date()).utf8))
        try handle.synchronize()
        try handle.close()
        FileHandle.standardError.write(Data("wrote the age identity to \(output) (0600); keep it off the cluster hosts. Add the recipient below to etcd.backup.recipients:\n".utf8))
        print(identity.recipient)
    }
}

struct BackupNow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "now", abstract: "Take a verified, encrypted etcd snapshot.", discussion: HelpExamples.discussion("backup now"))
    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption
    @Flag(name: .customLong("dry-run"), help: "Name the member that would be snapshotted and where the backup would go; write nothing.")
    var dryRun = false

    func run() async throws {
        let setup = try BackupSetup(inventory)
        try setup.refuseIfManaged("backup now")
        var settings = try BackupSettings.from(policy: setup.policy, cluster: setup.inventory.name,
                                               capstanVersion: CapstanVersion.current, stateRoot: setup.state.root)
        let store = try await setup.store()
        if !dryRun, setup.publishesPKI {
            // Without includePKI the backup names the PKI published in the store, so it restores into an empty site too.
            settings.sharedPKI = try await PKIPublication.publish(directory: setup.state.path("pki"), cluster: setup.inventory.name,
                                                                  recipients: settings.recipients, store: store, write: true).object
        }
        let engine = EtcdBackup(store: store, access: EtcdClientAccess(), settings: settings)
        let started = Date()
        let collected = CollectingOutput()
        let outcome = try await LiveContext.run(inventory: setup.inventory, mode: dryRun ? .plan : .apply, output: collected) { context in
            try await engine.now(members: setup.memberAddresses(), in: context, now: Date())
        }
        guard let manifest = outcome.manifest else {
            let preview = outcome.preview
            if output.output == .json { return try printJSON(preview) }
            print("""
                would snapshot \(preview.member) (etcd \(preview.etcdVersion), revision \(preview.revision), \(ByteCount.text(preview.dbSize))), \
                encrypt it (\(preview.encryption))\(preview.includesPKI ? " with the PKI" : ""), store it in \(preview.store) and verify it; \
                dry run: nothing written
                """)
            for event in collected.events where event.kind == .planned { print("  [\(event.host ?? "")] \(event.message)") }
            return
        }
        if output.output == .json { try printJSON(manifest); return }
        let seconds = Date().timeIntervalSince(started)
        print("stored \(manifest.name) from \(manifest.member) (etcd \(manifest.etcdVersion), revision \(manifest.revision), \(ByteCount.text(manifest.dbSize))) in \(engine.store.location); "
              + "snapshot, encryption, upload and verification took \(String(format: "%.1f", seconds))s (\(ByteCount.text(Int64(Double(manifest.dbSize) / max(seconds, 0.001))))/s of snapshot)")
    }
}

struct BackupList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List backups with age and size.", discussion: HelpExamples.discussion("backup list"))
    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption

    func run() async throws {
        let setup = try BackupSetup(inventory)
        let store = try await setup.store()
        let now = Date()
        let entries = try await BackupCatalog(store: store).entries()
        if output.output == .json { try printJSON(entries.map { BackupListing($0, now: now) }); return }
        guard !entries.isEmpty else { print("no backups in \(store.location)"); return }
        var rows = [["NAME", "AGE", "SIZE", "MEMBER", "REVISION", "KEYS", "VERIFIED"]]
        for e in entries {
            rows.append([e.name, humanAge(now.timeIntervalSince(e.manifest.createdAt)), ByteCount.text(e.storedBytes), e.manifest.member,
                         String(e.manifest.revision), String(e.manifest.totalKeys), e.verifiedAt.map { humanAge(now.timeIntervalSince($0)) + " ago" } ?? "-"])
        }
        print(table(rows))
    }
}

struct BackupVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Decrypt and verify a backup.", discussion: HelpExamples.discussion("backup verify"))
    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption
    @OptionGroup var identity: IdentityOption
    @Argument(help: "Backup name (see `backup list`).") var name: String?
    @Flag(help: "Verify every backup.") var all = false

    struct Result: Encodable {
        var name: String
        var ok: Bool
        var error: String?
        var revision: Int64?
        var snapshotHash: UInt32?
    }

    func validate() throws {
        guard (name != nil) != all else { throw ValidationError("give a backup name or --all") }
    }

    func run() async throws {
        let setup = try BackupSetup(inventory)
        let store = try await setup.store()
        let verifier = BackupVerifier(store: store, key: try setup.key(), identities: try setup.identities(identity.identity))
        let names = all ? try await BackupCatalog(store: store).entries().map(\.name) : [name].compactMap { $0 }
        // No etcdutl/etcdctl on this machine: the decrypted copies are checked on the first member with its own tool.
        let outcomes = try await LiveContext.run(inventory: setup.inventory, mode: .apply, output: CollectingOutput()) { context in
            try await verifier.verify(names, statusOn: setup.etcdHosts.first?.name, access: EtcdClientAccess(), in: context, now: Date())
        }
        let results = outcomes.map { item -> Result in
            switch item.outcome {
            case .success(let report): return Result(name: item.name, ok: true, revision: report.status.revision, snapshotHash: report.status.hash)
            case .failure(let error): return Result(name: item.name, ok: false, error: "\(error)")
            }
        }
        if output.output == .json {
            try printJSON(results)
        } else {
            for r in results {
                print(r.ok ? "\(r.name): ok (revision \(r.revision ?? 0), hash \(r.snapshotHash ?? 0))" : "\(r.name): FAILED: \(r.error ?? "")")
            }
        }
        if results.contains(where: { !$0.ok }) { throw ExitCode(1) }
    }
}

struct BackupPrune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Delete backups beyond the retention policy (never the newest, nor the newest verified).", discussion: HelpExamples.discussion("backup prune"))
    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption
    @Option(help: "Keep the newest N (default: the inventory's etcd.backup.keep).") var keep: Int?
    @Option(name: .customLong("max-age"), help: "Also delete backups older than this, e.g. 14d (default: the inventory's maxAge).") var maxAge: String?
    @Flag(name: .customLong("dry-run"), help: "Only show what would be deleted.") var dryRun = false

    func run() async throws {
        let setup = try BackupSetup(inventory)
        var age = setup.policy.maxAge.map { TimeInterval($0.seconds) }
        if let maxAge {
            guard let span = TimeSpan(parsing: maxAge) else { throw ValidationError("--max-age \(maxAge): not a duration (e.g. 36h, 14d)") }
            age = TimeInterval(span.seconds)
        }
        let keepN = keep ?? setup.policy.keep
        guard keepN >= 0 else { throw ValidationError("--keep must be 0 or more") }
        let catalog = BackupCatalog(store: try await setup.store())
        let entries = try await catalog.entries()
        let doomed = BackupRetention(keep: keepN, maxAge: age).toDelete(entries, now: Date())
        for name in doomed {
            if !dryRun, let entry = entries.first(where: { $0.name == name }) { try await catalog.delete(entry) }
        }
        if output.output == .json {
            try printJSON(["deleted": dryRun ? [] : doomed, "wouldDelete": dryRun ? doomed : [], "kept": entries.map(\.name).filter { !doomed.contains($0) }])
            return
        }
        for name in doomed { print((dryRun ? "would delete " : "deleted ") + name) }
        print("\(entries.count - doomed.count) backups kept" + (doomed.isEmpty ? ", nothing to delete" : ""))
    }
}

struct BackupRestore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Restore etcd from a backup (and the PKI state, when it is missing here and the backup has it).",
        discussion: HelpExamples.discussion("backup restore", "Stops every API server (also on control-plane hosts outside etcd), stops etcd, moves each data directory aside, restores the snapshot on every member, starts etcd, checks health and revision, starts the API servers. Asks first; --yes skips the question, --dry-run only shows the steps."))
    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption
    @OptionGroup var identity: IdentityOption
    @Option(help: "Backup name (see `backup list`).") var from: String
    @Flag(help: "Restore without asking.") var yes = false
    @Flag(name: .customLong("dry-run"), help: "Show what the restore would do; change nothing.") var dryRun = false

    func run() async throws {
        let setup = try BackupSetup(inventory)
        try EtcdRestore.refuseIfManaged(providerName: setup.inventory.isSelfManaged ? nil : setup.inventory.controlPlane.managed?.provider.displayName ?? "the provider")
        // Restoring over another cluster's members would destroy it: the identity is compared first. With no
        // PKI in the state (an empty site), the comparison waits until the backup's PKI is restored, if it has one.
        let stateEmpty = try TrustedIdentity.load(inventory: setup.inventory, state: setup.state).isEmpty
        let refusal = try await identityRefusal(setup)
        if let refusal, !stateEmpty { try await exitOnFailure { throw refusal } }
        let pendingRefusal = refusal
        let store = try await setup.store()
        let manifest: BackupManifest
        do {
            manifest = try await BackupCatalog(store: store).entry(named: from).manifest
        } catch {
            if let pendingRefusal { try await exitOnFailure { throw pendingRefusal } }
            throw error
        }
        if let pendingRefusal, manifest.pkiObject == nil { try await exitOnFailure { throw pendingRefusal } }
        let memberNames = setup.etcdHosts.map(\.name)
        var restore = EtcdRestore(store: store, key: try setup.key(), access: EtcdClientAccess(),
                                  control: SystemdServiceControl(), cluster: setup.inventory.name, dataDirOwner: "etcd:etcd")
        restore.identities = try setup.identities(identity.identity)
        restore.apiServerHosts = setup.inventory.controlPlaneHosts.map(\.name).filter { !memberNames.contains($0) }
        // With no PKI here, the backup's comes back first; the hosts are compared with it before any of them
        // changes, and on a refusal the state directory is left as it was (without a PKI).
        let pki = EtcdRestore.PKIRestore(stateRoot: setup.state.root) {
            if pendingRefusal != nil, let refusal = try await identityRefusal(setup) { throw refusal }
        }
        let members = setup.memberAddresses()
        // The identity was compared above (and is again after a PKI restore), so the runs do not check it.
        let pass = { (mode: WorkflowMode, sink: any OutputSink) async throws -> RestoreReport? in
            try await exitOnFailure {
                try await LiveContext.run(inventory: setup.inventory, mode: mode, output: sink) { context in
                    try await restore.run(backup: from, members: members, pki: pki, in: context, now: Date())
                }
            }
        }
        if dryRun || (!yes && isatty(STDIN_FILENO) == 1) {
            // The same path in plan mode: the steps are the engine's recorded actions.
            let collected = CollectingOutput()
            _ = try await pass(.plan, collected)
            let shown = collected.events.filter { [.planned, .warning, .note, .message].contains($0.kind) }
            if dryRun, output.output == .json {
                struct Plan: Encodable { var dryRun = true; var backup: String; var actions: [PlannedAction]; var notes: [String] }
                let actions = collected.events.filter { $0.kind == .planned && $0.host != nil }
                    .map { PlannedAction(host: $0.host ?? "", description: $0.message) }
                try printJSON(Plan(backup: manifest.name, actions: actions, notes: shown.filter { $0.host == nil }.map(\.message)))
                return
            }
            let lines = ["backup restore plan (nothing changed yet):"] + shown.map { "  " + ($0.host.map { "[\($0)] " } ?? "") + $0.message }
            for line in lines { if dryRun { print(line) } else { printError(line) } }
            if dryRun { return }
        }
        try Confirmation.require("backup restore", "Restore \(manifest.name) over the live cluster, replacing etcd's data on \(memberNames.joined(separator: ", "))", yes: yes)
        guard let report = try await pass(.apply, output.output == .json ? CollectingOutput() : LiveContext.output(.text)) else { return }
        if output.output == .json {
            try printJSON(["backup": report.backup, "initialClusterToken": report.initialClusterToken, "revision": String(report.revision),
                           "restoredPKI": String(report.restoredPKI)])
            return
        }
        if report.restoredPKI { print("restored the PKI state into \(setup.state.root)/pki from \(report.backup)") }
        let kept = report.movedAside.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ", ")
        print("restored \(report.backup): etcd healthy at revision \(report.revision); " +
              (kept.isEmpty ? "no member had a previous data directory" : "previous data kept in " + kept))
    }
}

extension BackupRestore {
    /// The hosts' identity against the state directory: the refusal, or nil when they agree.
    func identityRefusal(_ setup: BackupSetup) async throws -> WorkflowError? {
        do {
            try await LiveContext.run(inventory: setup.inventory, mode: .plan, output: CollectingOutput(), checkIdentity: true) { _ in }
            return nil
        } catch let error as WorkflowError {
            if case .identityMismatch = error { return error }
            throw error
        }
    }
}

struct BackupSchedule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule", abstract: "Install the backup timer on the etcd members (the same phase `apply` runs).", discussion: HelpExamples.discussion("backup schedule"))
    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption
    @Flag(name: .customLong("dry-run"), help: "Read the hosts and show what would change; change nothing.")
    var dryRun = false

    func run() async throws {
        let setup = try BackupSetup(inventory)
        try setup.refuseIfManaged("backup schedule")
        guard setup.inventory.etcd.backup != nil else {
            throw ValidationError("the inventory has no etcd.backup policy: add one (schedule, keep, destination, encryptionKeyFile) first")
        }
        let sink = LiveContext.output(output.output)
        let report = try await exitOnFailure {
            try await LiveContext.run(inventory: setup.inventory, mode: dryRun ? .plan : .apply, output: sink, checkIdentity: true) { context in
                try await PhaseRunner().run(Workflow(name: "backup schedule", phases: EtcdBackupSchedule.phases(inventory: setup.inventory, operatorStore: { [inventory = setup.inventory] in
                    try await BackupSetup.store(inventory)
                })), in: context)
            }
        }
        let policy = setup.policy
        let hosts = Set(report.actions.map(\.host)).sorted()
        sink.emit(WorkflowEvent(time: Date(), kind: .message, message:
            "backup schedule\(dryRun ? " (dry run)" : ""): \(policy.schedule), keep \(policy.keep); \(dryRun ? "would make" : "made") \(report.actions.count) change(s)"
            + (hosts.isEmpty ? " (nothing to do)" : " on \(hosts.joined(separator: ", "))")))
        if dryRun && output.output == .text {
            for action in report.actions {
                print("[\(action.host)] \(action.description)")
                if let diff = action.diff { print(diff.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")) }
            }
        }
    }
}

struct BackupSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sync", abstract: "Pull node-local snapshots into the backup store.", discussion: HelpExamples.discussion("backup sync"))
    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption
    @Option(help: "Node-local snapshot directory the timer writes to.") var directory = "/var/backups/etcd"
    @Flag(name: .customLong("dry-run"), help: "List the node-local snapshots that would be stored; store nothing.") var dryRun = false

    func run() async throws {
        let setup = try BackupSetup(inventory)
        try setup.refuseIfManaged("backup sync")
        let settings = try BackupSettings.from(policy: setup.policy, cluster: setup.inventory.name,
                                               capstanVersion: CapstanVersion.current, stateRoot: setup.state.root)
        let engine = EtcdBackup(store: try await setup.store(), access: EtcdClientAccess(), settings: settings)
        let report = try await LiveContext.run(inventory: setup.inventory, mode: dryRun ? .plan : .apply, output: CollectingOutput()) { context in
            try await engine.sync(members: setup.memberAddresses(), directory: directory, in: context, now: Date())
        }
        let (stored, wouldStore, skipped) = (report.stored.map(\.name), report.wouldStore, report.skipped.count)
        struct Summary: Encodable { var stored: [String]; var wouldStore: [String]; var skipped: Int; var dryRun: Bool }
        if output.output == .json { try printJSON(Summary(stored: stored, wouldStore: wouldStore, skipped: skipped, dryRun: dryRun)); return }
        if dryRun {
            for file in wouldStore { print("would store \(file)") }
            print("dry run: would store \(wouldStore.count) snapshots, \(skipped) already in the store; nothing stored")
            return
        }
        print("stored \(stored.count) snapshots, \(skipped) already in the store")
    }
}
