import Foundation
import Hosts
import Inventory
import PKI

/// Health-gated certificate rollout to a live cluster: one host at a time (hosts outside etcd first,
/// then etcd members with the leader last). On each host the PKI files that differ from the state are
/// pushed (the old ones kept as `.prev`), then every service reading one of them restarts in
/// `CertConsumer` order, each gated on its health: etcd on cluster health and on serving the state's
/// certificate, the API server on /livez, /readyz and serving the state's certificate, the kubelet and
/// kube-proxy, the controller manager and the scheduler on their /healthz ports, the last two also on
/// their kubeconfig being accepted. A host that does not come back gets its `.prev` files back and its services restarted;
/// the rollout stops there.
public enum CertRotation {
    /// A PKI file as the state has it and as the host has it now.
    struct HostFileState: Sendable {
        var file: ManagedFile
        var current: Data?
        var changed: Bool { current != file.content }
    }

    /// The PKI files `host` receives (`PKIManager.hostFiles`) that it already has: a rotation replaces
    /// files, it does not install components (`apply` does). An etcd member with etcd installed gets all
    /// its etcd files (as the etcd workflow installs them, owners included).
    static func files(for host: String, _ settings: EtcdWorkflowSettings, in ctx: WorkflowContext, etcdInstalled: Bool) async throws -> [HostFileState] {
        let c = try await ctx.reader(host)
        var files: [HostFileState] = []
        var member = Set<String>()
        if etcdInstalled, settings.spec.member(host) != nil {
            for file in try EtcdWorkflow.certificateFiles(for: host, settings).compactMap(\.managed) {
                files.append(HostFileState(file: file, current: try await c.read(file.path)))
                member.insert(file.path)
            }
        }
        guard let spec = settings.inventory.hosts.first(where: { $0.name == host }) else { return files }
        let required = try CertificateCatalog.required(for: settings.inventory)
        for file in PKIManager.hostFiles(for: spec, required: required, inventory: settings.inventory) where !member.contains(file.remotePath) {
            guard let current = try await c.read(file.remotePath), let data = try settings.state.read(file.statePath) else { continue }
            let managed = ManagedFile(path: file.remotePath, content: data, attributes: FileAttributes(mode: UInt32(file.mode)), secret: file.mode & 0o077 == 0)
            files.append(HostFileState(file: managed, current: current))
        }
        return files
    }

    /// Hosts that receive PKI files: etcd members, control-plane hosts and workers.
    static func hosts(_ settings: EtcdWorkflowSettings) -> [String] {
        let members = Set(settings.spec.memberNames)
        return settings.inventory.hosts.filter { members.contains($0.name) || $0.has(.controlPlane) || $0.has(.worker) }.map(\.name)
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

    /// The state's certificate of `name` for `host` (`etcd/server`, `apiserver`).
    static func stateCertificate(_ name: String, host: String, _ settings: EtcdWorkflowSettings) throws -> CertificateSummary? {
        let required = try CertificateCatalog.required(for: settings.inventory)
        guard let req = required.first(where: { $0.name == name && $0.host == host }),
              let data = try settings.state.read(req.certPath) else { return nil }
        return try CertificateSummary(pem: String(decoding: data, as: UTF8.self))
    }

    /// Waits until `host` serves `expected` on its etcd client port.
    static func waitServed(_ host: String, _ expected: CertificateSummary, _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws {
        guard let member = settings.spec.member(host) else { return }
        try await poll(ctx, host: host, what: "check the served certificate", timeout: settings.healthTimeoutSeconds, next: "check `journalctl -u etcd` on \(host)") {
            let (served, why) = await CertificateCheck.served(host, address: member.address, pkiDir: settings.spec.pkiDir, in: ctx)
            guard let served else { return why ?? "no answer" }
            return served.sha256 == expected.sha256 ? nil : "serves serial \(served.serial), expected \(expected.serial)"
        }
    }

    /// The Capstan units installed on `host`, of `candidates`.
    static func installed(_ candidates: [CertConsumer], on host: String, _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws -> Set<CertConsumer> {
        let c = try await ctx.reader(host)
        let units = candidates.map { $0 == .etcd ? settings.spec.unit : $0.unit }
        let r = try await c.run(ShellCommand(["sh", "-c", "for u in \"$@\"; do [ -e \"/etc/systemd/system/$u\" ] && echo \"$u\"; done; true", "sh"] + units))
        let present = Set(r.stdoutText.split(separator: "\n").map(String.init))
        return Set(candidates.filter { present.contains($0 == .etcd ? settings.spec.unit : $0.unit) })
    }

    /// Brings `host` to the state's PKI files. Services restart when a file they read changed, when they
    /// serve a certificate other than the state's, or when they read files of `authority` (a CA phase:
    /// the bundle they loaded must be reloaded). Each restart is gated on health; on failure the previous
    /// files come back and the services restart with them. Returns whether anything was done.
    @discardableResult
    static func roll(_ host: String, restartFor authority: AuthorityName?, _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws -> Bool {
        let isMember = settings.spec.member(host) != nil
        let present = try await installed(CertConsumer.allCases, on: host, ctx, settings)
        let files = try await Self.files(for: host, settings, in: ctx, etcdInstalled: present.contains(.etcd))
        let changed = files.filter(\.changed).map(\.file)
        var wanted = Set<CertConsumer>()
        for file in changed { wanted.formUnion(CertConsumer.consumers(of: file.path, etcdMember: isMember)) }
        if let authority {
            for file in files.map(\.file) where CertConsumer.authority(of: file.path) == authority {
                wanted.formUnion(CertConsumer.consumers(of: file.path, etcdMember: isMember))
            }
        }
        // A service that started before one of its files last changed (a run killed between the push and the
        // restart) restarts too: the files compare equal, but it still runs with the previous ones.
        for consumer in present.subtracting(wanted).sorted() {
            let unit = consumer == .etcd ? settings.spec.unit : consumer.unit
            let paths = files.map(\.file.path).filter { CertConsumer.consumers(of: $0, etcdMember: isMember).contains(consumer) }
            if !paths.isEmpty, try await ctx.runsOlderFiles(host, unit: unit, paths: paths) { wanted.insert(consumer) }
        }
        var expected = ServedCertificates()
        if present.contains(.etcd), isMember, let want = try stateCertificate("etcd/server", host: host, settings), let member = settings.spec.member(host) {
            expected.etcd = want
            let (served, _) = await CertificateCheck.served(host, address: member.address, pkiDir: settings.spec.pkiDir, in: ctx)
            if served?.sha256 != want.sha256 { wanted.insert(.etcd) }
        }
        if present.contains(.apiServer), let want = try stateCertificate("apiserver", host: host, settings),
           let address = settings.inventory.hosts.first(where: { $0.name == host })?.clusterAddress {
            expected.apiServer = want
            let (served, _) = await CertificateCheck.served(host, address: address, port: apiServerPort, client: nil, in: ctx)
            if served?.sha256 != want.sha256 { wanted.insert(.apiServer) }
        }
        let restarts = wanted.intersection(present).sorted()
        guard !restarts.isEmpty || !changed.isEmpty else {
            await ctx.emit(.hostStatus, host: host, "certificates up to date")
            return false
        }
        if restarts.contains(.etcd) {
            try await ctx.safetyGate { try await EtcdWorkflow.waitHealthy(ctx, settings, expected: nil, what: "etcd before rotating certificates on \(host)") }
        }
        for file in changed {
            try await ctx.change(host, "push \(file.path) (previous kept as \(file.path).prev)") { c in
                try await c.check(ShellCommand(["sh", "-c", "if [ -e \"$1\" ]; then cp -p -- \"$1\" \"$1.prev\"; fi", "sh", file.path]))
                try await c.write(file.content, to: file.path, attributes: file.attributes)
            }
        }
        if changed.contains(where: { $0.path == NodeBalancer.caPath }), settings.inventory.localBalancerHosts.contains(where: { $0.name == host }) {
            try await NodeBalancer.reloadAfterCAChange(ctx, host: host)
        }
        do {
            for unit in restarts {
                let name = unit == .etcd ? settings.spec.unit : unit.unit
                try await ctx.change(host, "systemctl restart \(unit.rawValue) (certificates)") { c in
                    let r = try await c.run(ShellCommand("systemctl", "restart", name), options: RunOptions(timeoutSeconds: settings.healthTimeoutSeconds + 30))
                    guard r.succeeded else {
                        let journal = try? await c.run(ShellCommand("journalctl", "-u", name, "-n", "20", "--no-pager"))
                        throw WorkflowError.hostFailed(host: host, what: "restart \(unit.rawValue)", reason: "\(r.stderrText)\njournalctl -u \(unit.rawValue) -n 20:\n\(journal?.stdoutText ?? "")",
                                                       next: "see the journal above")
                    }
                }
                try await ctx.gate { [expected] in try await gate(unit, host: host, expected: expected, ctx, settings) }
            }
        } catch {
            let paths = changed.map(\.path)
            let units = restarts.map { $0 == .etcd ? settings.spec.unit : $0.unit }
            _ = try? await ctx.change(host, "roll back: restore \(paths.count) file(s) from .prev and restart \(units.joined(separator: ", "))") { c in
                _ = try await c.run(ShellCommand(["sh", "-c", "for f in \"$@\"; do if [ -e \"$f.prev\" ]; then cp -p -- \"$f.prev\" \"$f\"; fi; done", "sh"] + paths))
                for unit in units {
                    _ = try await c.run(ShellCommand("systemctl", "restart", unit), options: RunOptions(timeoutSeconds: settings.healthTimeoutSeconds + 30))
                }
            }
            throw WorkflowError.hostFailed(
                host: host, what: "rotate certificates",
                reason: "\(error)\nthe previous files were restored from .prev and \(units.isEmpty ? "nothing needed a restart" : units.joined(separator: ", ") + " restarted with them")",
                next: "fix the cause, then run `capstan certs rotate` again (hosts rolled before \(host) keep their new certificates)")
        }
        return true
    }

    /// Rolls the state's PKI files out to every host that differs, one at a time, leader last.
    public static func rollOut(_ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws -> [String] {
        var remaining = hosts(settings)
        var done: [String] = []
        while let host = await next(remaining, ctx, settings) {
            remaining.removeAll { $0 == host }
            if try await roll(host, restartFor: nil, ctx, settings) { done.append(host) }
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

    /// Rotates `authority` (the etcd, cluster or front-proxy CA) through the phases of `CARotationRecord`,
    /// continuing a recorded rotation. In every phase each host gets its files and every service reading
    /// a file of that CA restarts, gated on health. Each host finished in a phase is recorded at once, so
    /// a killed run repeats at most the host it was on. Stops after `stopAfter` when given. A recorded
    /// `--ca all` run (`CARotationRun`) loses `authority` once its last phase is rolled out.
    public static func rotateCA(_ authority: AuthorityName, manager: PKIManager, stopAfter: CARotationRecord.Phase?,
                                _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws -> CARotationRecord? {
        var record: CARotationRecord
        if let existing = try manager.loadRotation() {
            guard existing.authority == authority else {
                throw WorkflowError.refused(what: "start a rotation of \(authority.rawValue)", found: "a rotation of \(existing.authority.rawValue) is in progress (phase \(existing.phase.rawValue))",
                                            next: "finish it first with `capstan certs rotate --ca \(cliName(existing.authority)) --yes`")
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
            // A `--ca all` run drops this CA before its record goes: killed in between, the record still
            // says which CA to finish, and the run then continues with the next one.
            if let run = try CARotationRun.load(manager.state) { try CARotationRun.save(run.completing(authority), in: manager.state) }
            try manager.finishCARotation(record)
            await ctx.emit(.message, "CA rotation of \(authority.rawValue) complete: hosts trust only \(record.newFingerprint.prefix(23))…")
        }
        return nil
    }

    /// The `--ca` value naming `authority`.
    public static func cliName(_ authority: AuthorityName) -> String {
        switch authority {
        case .etcd: return "etcd"
        case .cluster: return "cluster"
        case .frontProxy: return "front-proxy"
        }
    }

    /// Rolls one phase to the hosts not done in it yet. The kubeconfigs embed the cluster CA bundle, so
    /// they are rendered again from the phase's bundle first (a no-op when they already match).
    static func rollPhase(_ record: inout CARotationRecord, manager: PKIManager, _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws {
        let rendered = try await manager.apply(now: ctx.now())
        if !rendered.written.isEmpty { await ctx.emit(.message, "phase \(record.phase.rawValue): \(rendered.written.count) file(s) of the state written again") }
        var remaining = hosts(settings).filter { !record.doneHosts.contains($0) }
        while let host = await next(remaining, ctx, settings) {
            remaining.removeAll { $0 == host }
            try await roll(host, restartFor: record.authority, ctx, settings)
            record.doneHosts.append(host)
            try manager.saveRotation(record)
        }
    }
}

extension CertRotation {
    public static let renewPhaseName = "certs-renew"

    /// What `apply --renew-before SPAN` (or a timer) runs: re-issues the leaves expiring within `within`
    /// (and any missing or out of date) in the state, then rolls every changed file out health-gated.
    /// Returns what was issued (nil: nothing to issue) and the hosts rolled.
    /// The re-issues are state actions (listed in plan mode, one per leaf); the roll-out in plan mode shows
    /// the hosts already behind the state (the new leaves exist only once apply re-issues them).
    public static func renewExpiring(within: TimeSpan, only: RenewSelection = .none, manager: PKIManager,
                                     _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws -> (PKIResult?, [String]) {
        let now = ctx.now()
        let planned = try manager.plan(now: now, renewBefore: within, renew: only).reissues
        if planned.isEmpty { await ctx.emit(.message, "no certificate selected or expiring within \(within)") }
        let result: PKIResult? = try await ctx.convergeState(planned: planned.map { "re-\($0.summary) and roll it out" }) {
            guard !planned.isEmpty else { return (nil, []) }
            let result = try await manager.apply(now: now, renewBefore: within, renew: only)
            return (result, result.issued.map { "re-\($0.summary)" })
        } ?? nil
        return (result, try await rollOut(ctx, settings))
    }

    /// The last phase of `apply --renew-before SPAN`: after the cluster is converged, leaves expiring
    /// within `within` are re-issued and rolled out one host at a time, health-gated, with rollback.
    /// In plan mode it lists what would be re-issued and changes nothing.
    public static func renewPhase(within: TimeSpan, _ settings: EtcdWorkflowSettings) -> Phase {
        Phase(renewPhaseName, concerning: hosts(settings),
              next: "fix the cause above; hosts rolled before the failing one keep their new certificates; run again to continue") { ctx in
            let manager = PKIManager(inventory: settings.inventory, state: settings.state)
            let (_, rolled) = try await renewExpiring(within: within, manager: manager, ctx, settings)
            if !rolled.isEmpty { await ctx.emit(.message, "rolled new certificates out to \(rolled.joined(separator: ", "))") }
        }
        .belonging(to: .pki)
    }
}
