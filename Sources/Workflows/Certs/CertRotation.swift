import Foundation
import Hosts
import Inventory
import PKI

/// Health-gated certificate rollout to a live etcd cluster: one host at a time, etcd members with the
/// leader last, each restart gated on cluster health (the etcd workflow's `waitHealthy`) and on the
/// member serving the certificate the state holds. A host that does not come back gets its previous
/// files (`.prev`) back and is restarted; the rollout stops there.
public enum CertRotation {
    /// Leaves signed by the etcd CA that live on control-plane hosts (the API server's etcd client).
    static let controlPlaneEtcdLeaves = ["apiserver-etcd-client"]
    /// Catalog names this rollout pushes and restarts for.
    public static let rollableNames = ["etcd/server", "etcd/peer", "etcd/healthcheck-client"] + controlPlaneEtcdLeaves

    /// The etcd-related files `host` receives, from the state: for members everything under the etcd
    /// PKI directory (as the etcd workflow installs it); on control-plane hosts the etcd CA bundle and the
    /// API server's etcd client pair, when the host already has them (the control plane is installed).
    static func files(for host: String, _ settings: EtcdWorkflowSettings, in ctx: WorkflowContext) async throws -> [ManagedFile] {
        var files: [ManagedFile] = []
        let isMember = settings.spec.member(host) != nil
        if isMember {
            files += try EtcdWorkflow.certificateFiles(for: host, settings).compactMap(\.managed)
        }
        guard let spec = settings.inventory.hosts.first(where: { $0.name == host }) else { return files }
        let required = try CertificateCatalog.required(for: settings.inventory)
        let c = try await ctx.connection(host)
        for file in PKIManager.hostFiles(for: spec, required: required, inventory: settings.inventory) {
            let wanted = controlPlaneEtcdLeaves.contains { file.remotePath.hasSuffix("/\($0).crt") || file.remotePath.hasSuffix("/\($0).key") }
                || (!isMember && file.statePath == "pki/etcd/ca.crt")
            guard wanted, try await c.read(file.remotePath) != nil, let data = try settings.state.read(file.statePath) else { continue }
            files.append(ManagedFile(path: file.remotePath, content: data, attributes: FileAttributes(mode: UInt32(file.mode)), secret: file.mode == 0o600))
        }
        return files
    }

    /// Hosts that receive etcd files: members (restarted) and control-plane hosts (API server restarted when active).
    static func hosts(_ settings: EtcdWorkflowSettings) -> [String] {
        let members = Set(settings.spec.memberNames)
        return settings.inventory.hosts.filter { members.contains($0.name) || $0.has(.controlPlane) }.map(\.name)
    }

    /// The current leader's name, from any member that answers.
    static func leader(_ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async -> String? {
        for host in settings.spec.memberNames {
            if let cluster = await EtcdFactsGatherer.cluster(from: host, spec: settings.spec, in: ctx) {
                return cluster.memberList?.members.first { $0.id == cluster.leaderID }?.name
            }
        }
        return nil
    }

    /// Non-members first (no etcd restart), then members, the leader last — asked again before each pick,
    /// since restarts can move leadership.
    static func next(_ remaining: [String], _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async -> String? {
        if let plain = remaining.first(where: { settings.spec.member($0) == nil }) { return plain }
        let leader = await leader(ctx, settings)
        return EtcdPlanner.rollingOrder(members: remaining, leader: leader).first
    }

    /// The fingerprint of the member's server certificate in the state.
    static func expectedServed(_ host: String, _ settings: EtcdWorkflowSettings) throws -> CertificateSummary? {
        let required = try CertificateCatalog.required(for: settings.inventory)
        guard let server = required.first(where: { $0.name == "etcd/server" && $0.host == host }),
              let data = try settings.state.read(server.certPath) else { return nil }
        return try CertificateSummary(pem: String(decoding: data, as: UTF8.self))
    }

    /// Waits until `host` serves `expected` on its client port.
    static func waitServed(_ host: String, _ expected: CertificateSummary, _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws {
        guard let member = settings.spec.member(host) else { return }
        let start = ctx.now()
        var last = "nothing read yet"
        while true {
            let (served, why) = await CertificateCheck.served(host, address: member.address, pkiDir: settings.spec.pkiDir, in: ctx)
            if let served {
                if served.sha256 == expected.sha256 { return }
                last = "serves serial \(served.serial), expected \(expected.serial)"
            } else {
                last = why ?? "no answer"
            }
            if ctx.now().timeIntervalSince(start) >= settings.healthTimeoutSeconds { break }
            await EtcdWorkflow.pause(0.5)
        }
        throw WorkflowError.hostFailed(host: host, what: "check the served certificate", reason: last, next: "check `journalctl -u etcd` on \(host)")
    }

    /// Brings `host` to the state's files. Members restart when a file changed, when the served
    /// certificate is not the state's, or when `restart` (a CA phase); the restart is gated on health and
    /// on the served certificate. On failure the previous files come back and the member restarts.
    /// Returns whether anything was done.
    @discardableResult
    static func roll(_ host: String, restart: Bool, _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws -> Bool {
        let c = try await ctx.connection(host)
        var changed: [ManagedFile] = []
        for file in try await files(for: host, settings, in: ctx) where try await c.read(file.path) != file.content {
            changed.append(file)
        }
        let isMember = settings.spec.member(host) != nil
        let expected = isMember ? try expectedServed(host, settings) : nil
        var servedDiffers = false
        if let expected, let member = settings.spec.member(host) {
            let (served, _) = await CertificateCheck.served(host, address: member.address, pkiDir: settings.spec.pkiDir, in: ctx)
            servedDiffers = served?.sha256 != expected.sha256
        }
        let restartEtcd = isMember && (restart || servedDiffers || !changed.isEmpty)
        guard restartEtcd || !changed.isEmpty else {
            await ctx.emit(.hostStatus, host: host, "certificates up to date")
            return false
        }
        if restartEtcd && ctx.mode == .apply && !ctx.options.force {
            try await EtcdWorkflow.waitHealthy(ctx, settings, expected: nil, what: "etcd before rotating certificates on \(host)")
        }
        for file in changed {
            try await ctx.change(host, "push \(file.path) (previous kept as \(file.path).prev)") { c in
                try await c.check(ShellCommand(["sh", "-c", "if [ -e \"$1\" ]; then cp -p -- \"$1\" \"$1.prev\"; fi", "sh", file.path]))
                try await c.write(file.content, to: file.path, attributes: file.attributes)
            }
        }
        guard ctx.mode == .apply else { return true }
        do {
            if restartEtcd {
                try await ctx.change(host, "systemctl restart etcd (certificates)") { c in
                    let r = try await c.run(ShellCommand("systemctl", "restart", settings.spec.unit), options: RunOptions(timeoutSeconds: settings.healthTimeoutSeconds + 30))
                    guard r.succeeded else {
                        throw WorkflowError.hostFailed(host: host, what: "restart etcd", reason: "\(r.stderrText)\njournalctl -u etcd -n 20:\n\(await EtcdWorkflow.journal(c, settings.spec))",
                                                       next: "see the journal above")
                    }
                }
                try await EtcdWorkflow.waitHealthy(ctx, settings, expected: nil, what: "etcd after rotating certificates on \(host)")
                if let expected { try await waitServed(host, expected, ctx, settings) }
            } else {
                try await ctx.change(host, "systemctl try-restart kube-apiserver (its etcd client certificate changed)") { c in
                    try await c.check(ShellCommand("systemctl", "try-restart", "kube-apiserver.service"))
                }
            }
        } catch {
            let paths = changed.map(\.path)
            try? await ctx.change(host, "roll back: restore \(paths.count) file(s) from .prev and restart") { c in
                _ = try await c.run(ShellCommand(["sh", "-c", "for f in \"$@\"; do if [ -e \"$f.prev\" ]; then cp -p -- \"$f.prev\" \"$f\"; fi; done", "sh"] + paths))
                if restartEtcd {
                    _ = try await c.run(ShellCommand("systemctl", "restart", settings.spec.unit), options: RunOptions(timeoutSeconds: settings.healthTimeoutSeconds + 30))
                }
            }
            throw WorkflowError.hostFailed(
                host: host, what: "rotate certificates",
                reason: "\(error)\nthe previous files were restored from .prev and etcd was restarted with them",
                next: "fix the cause, then run `capstan certs rotate` again (hosts rolled before \(host) keep their new certificates)")
        }
        return true
    }

    /// Rolls the state's etcd files out to every host that differs, one at a time, leader last.
    public static func rollOut(_ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws -> [String] {
        var remaining = hosts(settings)
        var done: [String] = []
        while let host = await next(remaining, ctx, settings) {
            remaining.removeAll { $0 == host }
            if try await roll(host, restart: false, ctx, settings) { done.append(host) }
        }
        return done
    }

    /// The order `rollOut` would take now (for the plan): non-members, then members with the leader last.
    public static func plannedOrder(_ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async -> (order: [String], leader: String?) {
        let all = hosts(settings)
        let leader = await leader(ctx, settings)
        let plain = all.filter { settings.spec.member($0) == nil }
        return (plain + EtcdPlanner.rollingOrder(members: all.filter { settings.spec.member($0) != nil }, leader: leader), leader)
    }

    // MARK: CA rotation

    /// Rotates `authority` (the etcd CA) through the phases of `CARotationRecord`, continuing a recorded
    /// rotation. Each host finished in a phase is recorded at once, so a killed run repeats at most the
    /// host it was on. Stops after `stopAfter` when given.
    public static func rotateCA(_ authority: AuthorityName, manager: PKIManager, stopAfter: CARotationRecord.Phase?,
                                _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws -> CARotationRecord? {
        guard authority == .etcd else {
            throw WorkflowError.refused(what: "rotate CA \(authority.rawValue)", found: "rotation of the control-plane CAs is not implemented yet",
                                        next: "only --ca etcd is supported; leaves of the control-plane CAs renew with `capstan certs renew`")
        }
        var record: CARotationRecord
        if let existing = try manager.loadRotation() {
            guard existing.authority == authority else {
                throw WorkflowError.refused(what: "start a rotation of \(authority.rawValue)", found: "a rotation of \(existing.authority.rawValue) is in progress (phase \(existing.phase.rawValue))",
                                            next: "finish it first with `capstan certs rotate --ca` for that CA")
            }
            record = existing
            await ctx.emit(.message, "resuming the \(authority.rawValue) rotation at phase \(record.phase.rawValue) (done there: \(record.doneHosts.isEmpty ? "none" : record.doneHosts.joined(separator: ", ")))")
        } else {
            if !ctx.options.force { try await EtcdWorkflow.waitHealthy(ctx, settings, expected: nil, what: "etcd before a CA rotation") }
            record = try manager.beginCARotation(authority, now: ctx.now())
            await ctx.emit(.message, "phase trust: new CA \(record.newFingerprint.prefix(23))… created; hosts trust old + new")
        }
        if record.phase == .trust {
            try await rollPhase(&record, manager: manager, ctx, settings)
            if stopAfter == .trust { return record }
            record = try await manager.promoteNextCA(record, now: ctx.now()).0
            await ctx.emit(.message, "phase leaves: the new CA signs; its leaves are re-issued and rolled out")
        }
        if record.phase == .leaves {
            let (updated, result) = try await manager.promoteNextCA(record, now: ctx.now())
            record = updated
            if !result.issued.isEmpty { await ctx.emit(.message, "re-issued \(result.issued.count) certificate(s) from the new CA") }
            try await rollPhase(&record, manager: manager, ctx, settings)
            if stopAfter == .leaves { return record }
            record = try manager.dropPreviousCA(record)
            await ctx.emit(.message, "phase untrust: the old CA leaves the bundle")
        }
        if record.phase == .untrust {
            record = try manager.dropPreviousCA(record)
            try await rollPhase(&record, manager: manager, ctx, settings)
            try manager.finishCARotation(record)
            await ctx.emit(.message, "CA rotation of \(authority.rawValue) complete: hosts trust only \(record.newFingerprint.prefix(23))…")
        }
        return nil
    }

    static func rollPhase(_ record: inout CARotationRecord, manager: PKIManager, _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws {
        var remaining = hosts(settings).filter { !record.doneHosts.contains($0) }
        while let host = await next(remaining, ctx, settings) {
            remaining.removeAll { $0 == host }
            try await roll(host, restart: true, ctx, settings)
            record.doneHosts.append(host)
            try manager.saveRotation(record)
        }
    }
}

extension CertRotation {
    /// What `apply --renew-before SPAN` (or a timer) runs: re-issues the leaves expiring within `within`
    /// (and any missing or out of date) in the state, then rolls the etcd ones out health-gated.
    /// Returns what was issued (nil: nothing to issue) and the hosts rolled.
    public static func renewExpiring(within: TimeSpan, only: RenewSelection = .none, manager: PKIManager,
                                     _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws -> (PKIResult?, [String]) {
        var result: PKIResult?
        if !(try manager.plan(now: ctx.now(), renewBefore: within, renew: only).reissues.isEmpty) {
            result = try await manager.apply(now: ctx.now(), renewBefore: within, renew: only)
        }
        return (result, try await rollOut(ctx, settings))
    }
}
