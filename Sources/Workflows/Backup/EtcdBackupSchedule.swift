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

    /// The phases for `inventory`: none when it has no backup policy or the control plane is managed.
    public static func phases(inventory: Inventory, templates: TemplateRenderer = TemplateRenderer()) -> [Phase] {
        guard inventory.isSelfManaged, let policy = inventory.etcd.backup else { return [] }
        let hosts = inventory.etcdMembers.map(\.name)
        let contexts = self.contexts(inventory: inventory, policy: policy)
        return [
            Phase(phaseName, hosts: hosts, next: "fix the cause above and run the command again; etcd itself was not touched") { ctx, host in
                guard let context = contexts[host] else { return }
                for file in try shipFiles(policy) {
                    if try await !ctx.connection(host).run(ShellCommand("test", "-d", "/etc/capstan")).succeeded {
                        try await ctx.change(host, "create /etc/capstan") { c in try await c.check(ShellCommand("mkdir", "-p", "-m", "0755", "/etc/capstan")) }
                    }
                    _ = try await ctx.ensureFile(host, file)
                }
                if let ship = context.ship.first, try await !ctx.connection(host).run(ShellCommand("test", "-x", ship.ageBinary)).succeeded {
                    throw BackupError.storeFailed(store: "s3", name: ship.ageBinary, operation: "encrypt on \(host)",
                                                  reason: "\(host) has no age binary at \(ship.ageBinary): install Debian's age package and link it there, or let apply install the artifacts")
                }
                try await ensure(context, on: host, templates: templates, in: ctx)
            },
        ]
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

    /// The shipping settings when the policy encrypts to age recipients and stores in S3; nil otherwise (the
    /// timer then keeps node-local snapshots only, and `backup sync` pulls them).
    public static func ship(_ policy: BackupPolicy) -> EtcdBackupContext.Ship? {
        guard !policy.recipients.isEmpty, case let .s3(s3) = policy.destination else { return nil }
        return EtcdBackupContext.Ship(recipients: policy.recipients, capstanVersion: "timer", endpoint: s3.endpoint, bucket: s3.bucket,
                                      prefix: s3.prefix, region: s3.region, pathStyle: s3.pathStyle, caFile: s3.caFile == nil ? nil : caPath,
                                      credentialsFile: credentialsPath)
    }

    /// The files shipping needs on a host: the write-only credentials (0600) and the store's CA, read from this machine.
    static func shipFiles(_ policy: BackupPolicy) throws -> [ManagedFile] {
        guard ship(policy) != nil, case let .s3(s3) = policy.destination else { return [] }
        func read(_ path: String) throws -> Data {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw BackupError.storeFailed(store: "s3", name: path, operation: "read", reason: "cannot read it on this machine (spec.etcd.backup.destination.s3)")
            }
            return data
        }
        var files = [ManagedFile(path: credentialsPath, content: try read(s3.credentialsFile), attributes: FileAttributes(mode: 0o600, owner: "root:root"), secret: true)]
        if let ca = s3.caFile { files.append(ManagedFile(path: caPath, content: try read(ca), attributes: FileAttributes(mode: 0o644, owner: "root:root"))) }
        return files
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
        let connection = try await ctx.connection(host)
        if try await !connection.run(ShellCommand("test", "-d", HostPath.forCommand(directory, on: connection))).succeeded {
            try await ctx.change(host, "create \(directory)") { c in
                try await c.check(ShellCommand("mkdir", "-p", "-m", "0755", HostPath.forCommand(directory, on: c)))
            }
        }
        let scriptChanged = try await ctx.ensureFile(host, managed.script)
        let serviceChanged = try await ctx.ensureFile(host, managed.service)
        let timer = try await ctx.ensureUnit(host, unit: timerUnit, unitFile: managed.timer, enable: true, restartOnChange: true)
        if serviceChanged && !timer.daemonReloaded {
            try await ctx.change(host, "systemctl daemon-reload (\(serviceUnit) changed)") { c in
                try await c.check(ShellCommand("systemctl", "daemon-reload"))
            }
        }
        if scriptChanged || serviceChanged || timer.changed {
            await ctx.emit(.message, host: host, "\(timerUnit): \(context.schedule), keep \(context.keep) in \(context.backupDir)")
        }
    }
}
