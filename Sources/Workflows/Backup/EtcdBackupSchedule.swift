import Foundation
import Hosts
import Inventory
import PKI
import Templates

/// The scheduled node-local backup: `etcd-backup.sh`, `etcd-backup.service` and `etcd-backup.timer` on every
/// etcd member. Built as phases so `apply`, `plan` and `backup schedule` share one path through the engine's
/// guarded change calls: unchanged files mean no action, and the oneshot service is never started by the install.
public enum EtcdBackupSchedule {
    public static let phaseName = "backup-schedule"
    public static let timerUnit = "etcd-backup.timer"
    public static let serviceUnit = "etcd-backup.service"
    /// Where the write-only S3 credentials and the store's CA go on the etcd hosts (0600 / 0644, root).
    public static let credentialsPath = "/etc/capstan/etcd-backup-s3.credentials"
    public static let caPath = "/etc/capstan/etcd-backup-s3-ca.crt"
    /// Where the SFTP upload key (0600) and the store's host keys go on the etcd hosts.
    public static let sftpKeyPath = "/etc/capstan/etcd-backup-sftp.key"
    public static let sftpKnownHostsPath = "/etc/capstan/etcd-backup-sftp.known_hosts"

    /// The phases for `inventory`: none when it has no backup policy or the control plane is managed. When the
    /// timer ships, the state's PKI is published to the store first (once per run, `PKIPublication`) through
    /// `operatorStore` (default: the S3 destination with the operator's credentials), and the timer's manifests name it.
    public static func phases(inventory: Inventory, templates: TemplateRenderer = TemplateRenderer(),
                              operatorStore: (@Sendable () async throws -> any BackupStore)? = nil) -> [Phase] {
        guard inventory.isSelfManaged, let policy = inventory.etcd.backup else { return [] }
        let hosts = inventory.etcdMembers.map(\.name)
        let contexts = self.contexts(inventory: inventory, policy: policy)
        let pkiDirectory = StateDirectory(inventory: inventory).path("pki")
        let opener = operatorStore ?? {
            guard case let .s3(s3) = policy.destination else {
                throw BackupError.storeFailed(store: "backup store", name: "", operation: "publish the PKI", reason: "no operator-side store given for this destination")
            }
            return try S3Store.forOperator(s3)
        }
        let knownHosts = InventoryLoader.resolve(inventory.ssh.knownHostsFile ?? "~/.ssh/known_hosts", relativeTo: inventory.sourcePath)
        let publication = Once<PKIPublication.Outcome>()
        return [
            Phase(phaseName, hosts: hosts, next: "fix the cause above and run the command again; etcd itself was not touched") { ctx, host in
                guard var context = contexts[host] else { return }
                if !context.ship.isEmpty {
                    let outcome = try await publication.value {
                        try await publishPKI(policy: policy, cluster: inventory.name, directory: pkiDirectory, store: try await opener(), in: ctx)
                    }
                    context.ship[0].sharedPKI = try outcome.object.map(PKIPublication.json) ?? #"{"name":"\#(outcome.name)"}"#
                    if let keys = try SecretsEncryption.load(StateDirectory(inventory: inventory))?.keys.map(\.name) {
                        context.ship[0].secretsKeys = String(decoding: try JSONEncoder().encode(keys), as: UTF8.self)
                    }
                }
                for file in try await shipFiles(policy, knownHostsFile: knownHosts) {
                    if try await !ctx.reader(host).run(ShellCommand("test", "-d", "/etc/capstan")).succeeded {
                        try await ctx.change(host, "create /etc/capstan") { c in try await c.check(ShellCommand("mkdir", "-p", "-m", "0755", "/etc/capstan")) }
                    }
                    _ = try await ctx.ensureFile(host, file)
                }
                if let ship = context.ship.first {
                    // The timer encrypts with `age`: installed from the host's packages when missing, as haproxy is.
                    try await PackagedService(package: "age", command: ship.ageBinary, unit: serviceUnit, purpose: "the backup timer's encryption")
                        .installIfMissing(ctx, host: host)
                }
                try await ensure(context, on: host, templates: templates, in: ctx)
            }
            .belonging(to: .backup),
        ]
    }

    /// Publishes the state's PKI to the store unless it holds it already; recorded as a state action (stored in
    /// apply, only shown in plan).
    static func publishPKI(policy: BackupPolicy, cluster: String, directory: String, store: any BackupStore,
                           in ctx: WorkflowContext) async throws -> PKIPublication.Outcome {
        let settings = try BackupSettings.from(policy: policy, cluster: cluster, capstanVersion: "", stateRoot: "")
        let recipients = settings.recipients
        let preview = try await PKIPublication.publish(directory: directory, cluster: cluster, recipients: recipients, store: store, write: false)
        guard preview.published else { return preview }
        return try await ctx.changeState("publish the PKI to \(store.location) as \(preview.name), encrypted to the backup recipients") {
            try await PKIPublication.publish(directory: directory, cluster: cluster, recipients: recipients, store: store, write: true)
        } ?? preview
    }

    /// One template context per member, the members listed in inventory order (who takes the snapshot).
    public static func contexts(inventory: Inventory, policy: BackupPolicy) -> [String: EtcdBackupContext] {
        let members = inventory.etcdMembers.map { host in
            let address = host.clusterAddress.contains(":") ? "[\(host.clusterAddress)]" : host.clusterAddress
            return EtcdBackupContext.Member(name: host.name, clientURL: "https://\(address):2379")
        }
        var out: [String: EtcdBackupContext] = [:]
        for host in inventory.etcdMembers {
            out[host.name] = EtcdBackupContext(
                clusterName: inventory.name, memberName: host.name, members: members, schedule: policy.schedule,
                randomizedDelaySeconds: Int(policy.randomizedDelay.seconds), keep: policy.keep, ship: ship(policy))
        }
        return out
    }

    /// The shipping settings when the policy encrypts to age recipients and stores in S3, or in SFTP with an
    /// upload account; nil otherwise (the timer then keeps node-local snapshots only, and `backup sync` pulls them).
    public static func ship(_ policy: BackupPolicy) -> EtcdBackupContext.Ship? {
        guard !policy.recipients.isEmpty else { return nil }
        switch policy.destination {
        case let .s3(s3):
            return EtcdBackupContext.Ship(recipients: policy.recipients, capstanVersion: "timer", endpoint: s3.endpoint, bucket: s3.bucket,
                                          prefix: s3.prefix, region: s3.region, pathStyle: s3.pathStyle, caFile: s3.caFile == nil ? nil : caPath,
                                          credentialsFile: credentialsPath)
        case let .sftp(host, port, _, path, upload?):
            return EtcdBackupContext.Ship(recipients: policy.recipients, capstanVersion: "timer", sftp: .init(
                host: host, port: port, user: upload.user, path: path, identityFile: sftpKeyPath, knownHostsFile: sftpKnownHostsPath))
        default:
            return nil
        }
    }

    /// The files shipping needs on a host, read from this machine: for S3 the write-only credentials (0600) and
    /// the store's CA; for SFTP the upload key (0600) and the store's lines of the inventory's known_hosts.
    static func shipFiles(_ policy: BackupPolicy, knownHostsFile: String) async throws -> [ManagedFile] {
        guard ship(policy) != nil else { return [] }
        func read(_ path: String, _ key: String) throws -> Data {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw BackupError.storeFailed(store: "backup store", name: path, operation: "read", reason: "cannot read it on this machine (spec.etcd.backup.destination.\(key))")
            }
            return data
        }
        let secret = FileAttributes(mode: 0o600, owner: "root:root")
        let readable = FileAttributes(mode: 0o644, owner: "root:root")
        switch policy.destination {
        case let .s3(s3):
            var files = [ManagedFile(path: credentialsPath, content: try read(s3.credentialsFile, "s3.credentialsFile"), attributes: secret, secret: true)]
            if let ca = s3.caFile { files.append(ManagedFile(path: caPath, content: try read(ca, "s3.caFile"), attributes: readable)) }
            return files
        case let .sftp(host, port, _, _, upload?):
            let name = port == 22 ? host : "[\(host)]:\(port)"
            let found = try await LocalConnection().run(ShellCommand("ssh-keygen", "-F", name, "-f", knownHostsFile))
            let lines = found.stdoutText.split(separator: "\n").filter { !$0.hasPrefix("#") }
            guard found.succeeded, !lines.isEmpty else {
                throw BackupError.storeFailed(store: "sftp \(name)", name: knownHostsFile, operation: "read its host key",
                                              reason: "\(knownHostsFile) has no key for \(name): connect once (`ssh -p \(port) \(host)`) or add its line, so the etcd hosts can check the store's host key")
            }
            return [
                ManagedFile(path: sftpKeyPath, content: try read(upload.identityFile, "sftp.uploadIdentityFile"), attributes: secret, secret: true),
                ManagedFile(path: sftpKnownHostsPath, text: lines.joined(separator: "\n") + "\n", attributes: readable),
            ]
        default:
            return []
        }
    }

    /// The three managed files of one member.
    public static func files(_ context: EtcdBackupContext, templates: TemplateRenderer) throws -> (script: ManagedFile, service: ManagedFile, timer: ManagedFile) {
        let unitAttributes = FileAttributes(mode: 0o644, owner: "root:root")
        return (
            ManagedFile(path: context.scriptPath, text: try templates.render("etcd/etcd-backup.sh", context: context),
                        attributes: FileAttributes(mode: 0o755, owner: "root:root")),
            ManagedFile(path: "/etc/systemd/system/" + serviceUnit, text: try templates.render("etcd/" + serviceUnit, context: context),
                        attributes: unitAttributes),
            ManagedFile(path: "/etc/systemd/system/" + timerUnit, text: try templates.render("etcd/" + timerUnit, context: context),
                        attributes: unitAttributes)
        )
    }

    /// Writes what differs, reloads systemd when a unit file changed, enables and starts the timer (re-armed
    /// when its files changed). The service only ever runs from the timer.
    static func ensure(_ context: EtcdBackupContext, on host: String, templates: TemplateRenderer, in ctx: WorkflowContext) async throws {
        let managed = try Self.files(context, templates: templates)
        let directory = (context.scriptPath as NSString).deletingLastPathComponent
        let connection = try await ctx.reader(host)
        if try await !connection.run(ShellCommand("test", "-d", directory)).succeeded {
            try await ctx.change(host, "create \(directory)") { c in
                try await c.check(ShellCommand("mkdir", "-p", "-m", "0755", directory))
            }
        }
        let scriptChanged = try await ctx.ensureFile(host, managed.script)
        // The service and the timer are loaded together; only the timer is enabled and started.
        let units = try await ctx.ensureUnits(host, [
            ManagedUnit(unit: serviceUnit, unitFile: managed.service, enable: false, start: false, restartOnChange: false),
            ManagedUnit(unit: timerUnit, unitFile: managed.timer, enable: true, restartOnChange: true),
        ])
        if scriptChanged || units.contains(where: \.changed) {
            await ctx.emit(.message, host: host, "\(timerUnit): \(context.schedule), keep \(context.keep) in \(context.backupDir)")
        }
    }
}
