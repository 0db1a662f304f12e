import Foundation
import Hosts
import Inventory
import PKI
import Templates

/// An etcd binary unpacked from a verified release archive, with its checksum.
public struct LocalBinary: Sendable, Equatable {
    public var name: String
    public var path: String
    public var sha256: String
}

/// What the etcd phases need besides the context.
public struct EtcdWorkflowSettings: Sendable {
    public var inventory: Inventory
    public var spec: EtcdClusterSpec
    public var artifacts: ArtifactStore
    public var templates: TemplateRenderer
    public var state: StateDirectory
    /// Members to replace (`--replace NAME`).
    public var replace: Set<String>
    /// Bound of every wait for health, catch-up or start.
    public var healthTimeoutSeconds: Double
    /// Members may move to another etcd version (`capstan upgrade`); a plain apply refuses instead.
    public var allowVersionChange: Bool

    public init(inventory: Inventory, artifacts: ArtifactStore, templates: TemplateRenderer = TemplateRenderer(),
                replace: Set<String> = [], healthTimeoutSeconds: Double = 60, allowVersionChange: Bool = false) throws {
        self.inventory = inventory
        self.spec = try EtcdClusterSpec(inventory: inventory)
        self.artifacts = artifacts
        self.templates = templates
        self.state = StateDirectory(inventory: inventory)
        self.replace = replace
        self.healthTimeoutSeconds = healthTimeoutSeconds
        self.allowVersionChange = allowVersionChange
    }
}

/// What the etcd phases learn and pass on within one run: the run data `etcd-facts` sets (`RunData`).
public actor EtcdRunState {
    public internal(set) var hosts: [String: EtcdHostFacts] = [:]
    public internal(set) var cluster: EtcdClusterFacts = .none
    public internal(set) var plan = EtcdMembershipPlan(steps: [], notes: [])
    /// Binaries by architecture.
    public internal(set) var binaries: [String: [LocalBinary]] = [:]
    /// Hosts whose unit file, certificates or etcd binary changed while etcd ran: restarted one at a time.
    public internal(set) var changed: Set<String> = []
    /// Members that start for the first time in this run: (initial cluster state, initial cluster).
    public internal(set) var firstStart: [String: (state: String, cluster: String)] = [:]
    /// Certificates of running members that differ: etcd reloads them on the next TLS handshake, without a
    /// restart, so they are written by the rolling restart, one member at a time between health gates.
    public internal(set) var deferredFiles: [String: [ManagedFile]] = [:]

    init() {}

    func record(hosts: [EtcdHostFacts], cluster: EtcdClusterFacts, plan: EtcdMembershipPlan) {
        self.hosts = Dictionary(hosts.map { ($0.host, $0) }, uniquingKeysWith: { a, _ in a })
        self.cluster = cluster
        self.plan = plan
        for step in plan.steps {
            switch step {
            case let .bootstrap(members, initialCluster):
                for m in members { firstStart[m] = ("new", initialCluster) }
            case let .startJoining(name, initialCluster):
                firstStart[name] = ("existing", initialCluster)
            default: break
            }
        }
    }
    func record(binaries: [LocalBinary], architecture: String) { self.binaries[architecture] = binaries }
    func markChanged(_ host: String) { changed.insert(host) }
    func deferFile(_ file: ManagedFile, on host: String) { deferredFiles[host, default: []].append(file) }
    func update(cluster: EtcdClusterFacts) { self.cluster = cluster }

    /// Members that are in a membership step (they are started by it, not restarted by the roll).
    var hostsInSteps: Set<String> {
        var names: Set<String> = []
        for step in plan.steps {
            switch step {
            case let .bootstrap(members, _): names.formUnion(members)
            case let .startJoining(name, _), let .promote(name), let .stopAndWipe(name), let .addLearner(name, _): names.insert(name)
            case let .remove(name, _): names.insert(name)
            }
        }
        return names
    }
}

/// The etcd workflow: phases built from the inventory's etcd spec; each phase reads what earlier ones
/// found from the run's `EtcdRunState`.
public enum EtcdWorkflow {
    public static func phases(_ settings: EtcdWorkflowSettings) -> [Phase] {
        let members = settings.spec.memberNames
        // What the phases learn and pass on: new in each run, set by etcd-facts.
        let facts = "etcd-facts"
        let run = RunData<EtcdRunState>(setBy: facts)
        return [
            Phase(facts, concerning: members, next: "check that the etcd hosts are reachable (`capstan exec -i FILE -- true`)") { ctx in
                let state = EtcdRunState()
                await run.set(state, in: ctx)
                try await gatherAndPlan(ctx, settings, state)
            },
            EtcdDiskCheck.phase(settings),
            Phase("etcd-artifacts", concerning: members, next: "fix the artifact source in the inventory; nothing was changed on any host") { ctx in
                try await resolveArtifacts(ctx, settings, try await run.value(in: ctx))
            }
            .reading(run),
            Phase("etcd-install", hosts: members) { ctx, host in
                try await install(host, ctx, settings, try await run.value(in: ctx))
            }
            .reading(run),
            Phase("etcd-membership", concerning: members, next: "run `capstan status -i FILE` to see the members, then apply again; each completed step is not repeated") { ctx in
                try await changeMembership(ctx, settings, try await run.value(in: ctx))
            }
            .reading(run),
            Phase("etcd-rolling-restart", concerning: members) { ctx in
                try await rollingRestart(ctx, settings, try await run.value(in: ctx))
            }
            .reading(run),
            Phase("etcd-start", concerning: members) { ctx in
                try await startStopped(ctx, settings, try await run.value(in: ctx))
            }
            .reading(run),
            Phase("etcd-health", concerning: members, next: "check `journalctl -u etcd` on the hosts named above") { ctx in
                try await ctx.gate { try await waitHealthy(ctx, settings, expected: settings.spec.memberNames, what: "etcd cluster") }
            },
        ].map { $0.belonging(to: .etcd) }
    }

    // MARK: facts and plan

    static func gatherAndPlan(_ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings, _ state: EtcdRunState) async throws {
        let spec = settings.spec
        let hosts = await EtcdFactsGatherer.all(spec: spec, hosts: spec.memberNames, in: ctx)
        for h in hosts {
            if let why = h.unreachable {
                await ctx.emit(.hostStatus, host: h.host, "unreachable")
                if !ctx.options.force && !settings.replace.contains(h.host) {
                    throw WorkflowError.refused(
                        what: "change etcd", found: "etcd host \(h.host) cannot be read: \(why)",
                        next: "bring the host back, replace it (--replace \(h.host)) or pass --force to work on the others")
                }
            } else {
                await ctx.emit(.hostStatus, host: h.host, describe(h))
            }
        }
        let cluster = await EtcdFactsGatherer.cluster(candidates: hosts, spec: spec, in: ctx)
        if cluster.memberList == nil {
            let withData = hosts.filter(\.hasData).map(\.host)
            if !withData.isEmpty {
                throw WorkflowError.refused(
                    what: "bootstrap a new etcd cluster",
                    found: "no etcd member answers, but \(withData.joined(separator: ", ")) hold(s) etcd data in \(spec.dataDir)/member",
                    next: "start etcd there (`systemctl start etcd`) and check `journalctl -u etcd`, or restore from a backup (`capstan backup restore`); Capstan never bootstraps over existing data")
            }
        }
        let running = EtcdVersionGate.running(hosts: hosts, cluster: cluster)
        if let refusal = EtcdVersionGate.refusal(running: running, target: spec.version, allowVersionChange: settings.allowVersionChange) {
            throw refusal
        }
        let plan = try EtcdPlanner.membership(
            desired: spec.members.map(\.desired), observed: cluster.observation,
            options: EtcdPlanOptions(force: ctx.options.force, replace: settings.replace))
        await state.record(hosts: hosts, cluster: cluster, plan: plan)
        // A member still running another version is restarted even when its binary is already in place
        // (an upgrade interrupted after the install and before that member's restart).
        if settings.allowVersionChange {
            for (host, version) in running where version != spec.version && hosts.contains(where: { $0.host == host && $0.isActive }) {
                await state.markChanged(host)
            }
        }
        for note in plan.notes { await ctx.emit(.message, note) }
        for step in plan.steps { await ctx.emit(.message, "membership: " + step.description) }
    }

    static func describe(_ h: EtcdHostFacts) -> String {
        var parts: [String] = []
        parts.append(h.facts.os?.prettyName ?? h.facts.os?.id ?? "unknown OS")
        parts.append(h.facts.architecture ?? "unknown arch")
        parts.append(h.facts.etcdVersion.map { "etcd \($0)" } ?? "no etcd")
        parts.append("unit " + (h.unit.map { "\($0.activeState)/\($0.subState)" } ?? "absent"))
        return parts.joined(separator: ", ")
    }

    // MARK: artifacts

    static func resolveArtifacts(_ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings, _ state: EtcdRunState) async throws {
        let architectures = Set(await state.hosts.values.filter(\.reachable).map { $0.facts.architecture ?? "amd64" })
        for arch in architectures.sorted() {
            let version = settings.spec.version.description
            let archive = try await settings.artifacts.etcdArchive(version: version, architecture: arch)
            let binaries = try unpackOnce(archive, cache: settings.artifacts.cacheDirectory)
            await state.record(binaries: binaries, architecture: arch)
            await ctx.emit(.message, "etcd \(version) \(arch): \(archive.fileName) verified (sha256 \(archive.sha256.prefix(12))…)")
        }
    }

    /// Unpacks a verified archive once per checksum; the binaries' checksums are kept beside them.
    static func unpackOnce(_ archive: VerifiedArtifact, cache: String) throws -> [LocalBinary] {
        let dir = cache + "/unpacked/" + archive.sha256
        let sumsPath = dir + "/.capstan-sha256"
        if let text = try? String(contentsOfFile: sumsPath, encoding: .utf8) {
            let sums = FactsParser.sha256sums(text)
            let bins = sums.map { LocalBinary(name: ($0.key as NSString).lastPathComponent, path: $0.key, sha256: $0.value) }
            if !bins.isEmpty, bins.allSatisfy({ FileManager.default.isExecutableFile(atPath: $0.path) }) {
                return bins.sorted { $0.name < $1.name }
            }
        }
        let staging = dir + ".tmp-" + UUID().uuidString.prefix(8)
        let unpacked = try ArtifactStore.unpackEtcd(archive, into: staging)
        var bins: [LocalBinary] = []
        for path in [unpacked.etcd, unpacked.etcdctl] + (unpacked.etcdutl.map { [$0] } ?? []) {
            let name = (path as NSString).lastPathComponent
            bins.append(LocalBinary(name: name, path: dir + "/" + name, sha256: try ArtifactStore.sha256(ofFile: path)))
        }
        let fm = FileManager.default
        let text = bins.map { "\($0.sha256)  \($0.path)\n" }.joined()
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: staging + "/.capstan-sha256"))
            if fm.fileExists(atPath: dir) { try fm.removeItem(atPath: dir) }
            try fm.moveItem(atPath: staging, toPath: dir)
        } catch {
            throw ArtifactError.unpackFailed(file: archive.path, reason: "cannot place the binaries in \(dir): \(error)")
        }
        return bins
    }

    // MARK: install

    static func install(_ host: String, _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings, _ state: EtcdRunState) async throws {
        let spec = settings.spec
        guard let facts = await state.hosts[host], facts.reachable else {
            await ctx.emit(.hostStatus, host: host, "skipped: unreachable (--force)")
            return
        }
        guard let member = spec.member(host) else { return }
        let arch = facts.facts.architecture ?? "amd64"
        let binaries = await state.binaries[arch] ?? []
        guard !binaries.isEmpty else { throw WorkflowError.internalInvariant("no etcd binaries for \(arch) (host \(host))") }

        if !facts.userExists {
            try await ctx.change(host, "create system user \(spec.user)") { c in
                try await c.check(ShellCommand("useradd", "--system", "--user-group", "--no-create-home", "--home-dir", spec.dataDir, "--shell", "/usr/sbin/nologin", spec.user))
            }
        }
        if facts.dataDirStat != "700 \(spec.user) \(spec.user)" {
            try await ctx.change(host, "set \(spec.dataDir) to 0700 \(spec.user):\(spec.user) (was \(facts.dataDirStat ?? "absent"))") { c in
                try await c.check(ShellCommand("mkdir", "-p", "--", spec.dataDir)
                    .then(ShellCommand("chown", "\(spec.user):\(spec.user)", spec.dataDir))
                    .then(ShellCommand("chmod", "0700", spec.dataDir)))
            }
        }
        var inputsChanged = false
        // Binaries replaced now, or right but hashed because no record vouched for them: recorded below.
        var record: [String: String] = [:]
        for binary in binaries {
            let remote = spec.binDir + "/" + binary.name
            let current = facts.facts.fileChecksums[remote]
            if current == binary.sha256, facts.unrecordedBinaries.contains(remote) { record[remote] = binary.sha256 }
            guard current != binary.sha256 else { continue }
            record[remote] = binary.sha256
            let diff = "sha256 \(current ?? "none") → \(binary.sha256)"
            try await ctx.installVerified(host, current == nil ? "install" : "replace", detail: "etcd \(spec.version)", localFile: binary.path,
                                          sha256: binary.sha256, to: remote, attributes: FileAttributes(mode: 0o755), diff: diff)
            if binary.name == "etcd" { inputsChanged = true }
        }
        try await ctx.recordChecksums(host, record)
        let certificates = try certificateFiles(for: host, settings)
        // One command reads every file compared below.
        try await ctx.survey(host, files: certificates.map(\.remotePath) + [spec.unitPath, spec.envPath])
        let startedByStep = await state.hostsInSteps.contains(host)
        for file in certificates {
            if let managed = file.managed {
                if facts.isActive && !startedByStep, try await ctx.differs(host, managed) {
                    await state.deferFile(managed, on: host)
                    inputsChanged = true
                } else if try await ctx.ensureFile(host, managed) { inputsChanged = true }
            } else {
                try await ctx.change(host, "create \(file.remotePath) (issued by the pki phase)") { _ in
                    throw WorkflowError.stateFile("\(file.remotePath) for \(host) is missing from the state directory \(settings.state.root); run without --skip-phase pki")
                }
                inputsChanged = true
            }
        }
        let context = EtcdMemberContext(
            clusterName: spec.clusterName, name: member.name, address: member.address,
            initialCluster: "", initialClusterState: "new", initialClusterToken: spec.initialClusterToken,
            user: spec.user, group: spec.user, binDir: spec.binDir, dataDir: spec.dataDir, pkiDir: spec.pkiDir,
            snapshotCount: spec.snapshotCount, quotaBackendBytes: spec.quotaBackendBytes,
            extraFlags: spec.extraFlags, initialEnvironmentFile: spec.envPath)
        let unitText = try settings.templates.render("etcd/etcd.service", context: context)
        let unitChanged = try await ctx.ensureFile(host, ManagedFile(path: spec.unitPath, text: unitText))
        if unitChanged {
            try await ctx.change(host, "systemctl daemon-reload (etcd.service changed)", affecting: []) { c in
                try await c.check(ShellCommand("systemctl", "daemon-reload"))
            }
        }
        // The initial-cluster settings are written only for a member's first start; a running member never reads them.
        if let first = await state.firstStart[host] {
            var envContext = context
            envContext.initialCluster = first.cluster
            envContext.initialClusterState = first.state
            let env = try settings.templates.render("etcd/etcd.env", context: envContext)
            try await ctx.ensureFile(host, ManagedFile(path: spec.envPath, text: env))
        }
        if !facts.isEnabled && !startedByStep {
            try await ctx.change(host, "systemctl enable etcd") { c in
                try await c.check(ShellCommand("systemctl", "enable", spec.unit))
            }
        }
        if (unitChanged || inputsChanged) && facts.isActive { await state.markChanged(host) }
    }

    struct CertificateFile {
        var remotePath: String
        /// Nil when the state directory does not hold it yet (plan before the PKI exists).
        var managed: ManagedFile?
    }

    /// The etcd certificates `host` receives (from `PKIManager.hostFiles`): the etcd CA certificate (never
    /// its key), the member's server and peer pairs (readable by the etcd user) and the healthcheck client.
    static func certificateFiles(for host: String, _ settings: EtcdWorkflowSettings) throws -> [CertificateFile] {
        guard let spec = settings.inventory.hosts.first(where: { $0.name == host }) else { return [] }
        let required = try CertificateCatalog.required(for: settings.inventory)
        let prefix = settings.spec.pkiDir + "/"
        return try PKIManager.hostFiles(for: spec, required: required, inventory: settings.inventory)
            .filter { $0.remotePath.hasPrefix(prefix) && !$0.remotePath.hasSuffix("/ca.key") }
            .map { file in
                let etcdReads = file.mode == 0o600 && !file.remotePath.hasSuffix("healthcheck-client.key")
                guard let data = try settings.state.read(file.statePath) else { return CertificateFile(remotePath: file.remotePath, managed: nil) }
                return CertificateFile(remotePath: file.remotePath, managed: ManagedFile(
                    path: file.remotePath, content: data,
                    attributes: FileAttributes(mode: UInt32(file.mode), owner: etcdReads ? "\(settings.spec.user):\(settings.spec.user)" : nil),
                    secret: file.mode == 0o600))
            }
    }
}
