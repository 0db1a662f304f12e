import Foundation
import Inventory
import PKI

/// The phases of `capstan apply`, in order: a pure function of the inventory and the run's settings, so
/// `apply`, `plan`, `node add`, `node remove` and `--skip-phase` take their phases and their names from
/// one list, and adding a part of the cluster is one more line here.
public struct ClusterPhases: Sendable {
    public var inventory: Inventory
    public var artifacts: ArtifactStore
    public var kubernetes: KubernetesInstallSettings
    /// Where the backup-schedule phase publishes the PKI, as this machine reaches the store.
    public var backupStore: @Sendable () async throws -> any BackupStore
    /// Nodes whose pod network changes by routes only in this run (`node add`'s other nodes).
    public var routesOnly: Set<String> = []

    public init(inventory: Inventory, artifacts: ArtifactStore, kubernetes: KubernetesInstallSettings = KubernetesInstallSettings(),
                backupStore: @escaping @Sendable () async throws -> any BackupStore) {
        self.inventory = inventory
        self.artifacts = artifacts
        self.kubernetes = kubernetes
        self.backupStore = backupStore
    }

    /// The parts `apply --only` selects, each a group of phases (each phase says which).
    public typealias Part = Phase.Part

    /// A self-managed cluster. With `renewBefore`, the PKI phase re-issues only what is missing, expired or
    /// invalid, and leaves expiring within the span are renewed by the last phase, health-gated.
    public func selfManaged(etcd: EtcdWorkflowSettings, renewBefore: TimeSpan? = nil) -> [Phase] {
        let state = StateDirectory(inventory: inventory)
        var phases: [Phase] = [ClusterIdentityGuard.phase(inventory: inventory, state: state)]
        phases.append(PKIPhase.phase(inventory, renewBefore: renewBefore == nil ? .days(30) : TimeSpan(seconds: 0)))
        phases += EtcdWorkflow.phases(etcd)
        phases += EtcdBackupSchedule.phases(inventory: inventory, operatorStore: backupStore)
        phases += kubernetesPhases()
        phases.append(ClusterObjectsPhase.phase(inventory: inventory, state: state))
        if let renewBefore { phases.append(CertRotation.renewPhase(within: renewBefore, etcd)) }
        return phases
    }

    /// A managed cluster: the provider owns PKI, etcd and the control plane; the workers join it.
    public func managed() -> [Phase] {
        [ClusterIdentityGuard.phase(inventory: inventory, state: StateDirectory(inventory: inventory))] + kubernetesPhases()
    }

    /// Every phase of `apply` for this inventory (`etcd` settings built from the inventory when not given;
    /// `renewBefore` as `apply --renew-before`, for a self-managed cluster).
    public func all(etcd: EtcdWorkflowSettings? = nil, renewBefore: TimeSpan? = nil) throws -> [Phase] {
        guard inventory.isSelfManaged else { return managed() }
        return selfManaged(etcd: try etcd ?? EtcdWorkflowSettings(inventory: inventory, artifacts: artifacts), renewBefore: renewBefore)
    }

    /// Node runtime, control plane and kubelets (self-managed) or the join (managed). Artifacts are
    /// resolved and the PKI read when the group starts, after the PKI phase of the same run.
    func kubernetesPhases() -> [Phase] {
        let inventory = self.inventory
        let store = artifacts
        let nodes = inventory.hosts.filter { $0.has(.controlPlane) || $0.has(.worker) }.map(\.name)
        var phases = [KubernetesVersionGate.phase(inventory: inventory, hosts: nodes, artifacts: store)]
            + KubernetesWorkflow.deferredPhases(inventory: inventory, settings: kubernetes) { _ in
                let artifacts = try await NodeArtifacts.resolve(store: store, inventory: inventory, versions: try ComponentVersions.resolve(for: inventory))
                let pki = inventory.isSelfManaged ? try ClusterFiles(inventory: inventory, state: StateDirectory(inventory: inventory)) : nil
                return (pki, artifacts)
            }
        // The pod network follows the runtime (which installs the CNI plugins) and precedes the kubelets.
        let network = PodNetworkWorkflow.phases(inventory: inventory, state: StateDirectory(inventory: inventory), renderer: kubernetes.renderer,
                                                routesOnly: routesOnly)
        phases.insert(contentsOf: network, at: (phases.firstIndex { $0.name == WorkerWorkflow.runtimePhase } ?? phases.count - 1) + 1)
        return phases
    }

    /// Which phases concern each host, in apply's order, and those that run on this machine only (the PKI).
    public struct Layout: Sendable, Equatable {
        public var names: [String]
        public var perHost: [String: [String]]
        public var local: [String]
    }

    public static func layout(_ phases: [Phase], hosts: [String]) -> Layout {
        var perHost: [String: [String]] = [:]
        for host in hosts { perHost[host] = phases.filter { $0.hosts.contains(host) }.map(\.name) }
        return Layout(names: phases.map(\.name), perHost: perHost, local: phases.filter(\.hosts.isEmpty).map(\.name))
    }
}

/// `pki`: load or create the PKI in the state directory (local; no host is touched). Its work is recorded
/// as state actions: what the PKI plan lists in a dry run, what was written in apply.
public enum PKIPhase {
    public static let name = "pki"

    public static func phase(_ inventory: Inventory, renewBefore: TimeSpan = .days(30)) -> Phase {
        Phase(name, concerning: [], next: "fix the state directory or the PKI settings; no host was changed") { ctx in
            let manager = PKIManager(inventory: inventory, state: StateDirectory(inventory: inventory))
            let now = ctx.now()
            let planned = try manager.plan(now: now, renewBefore: renewBefore).changes
            try await ctx.convergeState(planned: planned) {
                let result = try await manager.apply(now: now, renewBefore: renewBefore)
                let summary = "\(result.createdAuthorities.count) CA(s) created, \(result.issued.count) certificate(s) issued"
                await ctx.emit(.message, "PKI in \(manager.state.root): \(summary)")
                if !result.needsSigning.isEmpty {
                    await ctx.emit(.message, "\(result.needsSigning.count) certificate(s) wait for the external CA to sign their CSRs (see `capstan certs`)")
                }
                return ((), result.changes)
            }
            try await ensureSecretsEncryptionKey(manager.state, ctx)
        }
        .belonging(to: .pki)
    }

    /// What the phase leaves in the state, made directly, without a context (tests and fixtures).
    @discardableResult
    public static func create(_ manager: PKIManager, now: Date) async throws -> PKIResult {
        let result = try await manager.apply(now: now)
        if try SecretsEncryption.load(manager.state) == nil { try SecretsEncryption.initial(now: now).save(in: manager.state) }
        return result
    }

    /// The first Secrets encryption key, made beside the PKI when the state has none (a new cluster, or one
    /// whose state predates encryption at rest; its Secrets stay readable through the `identity` provider
    /// until `capstan secrets rotate-key` rewrites them).
    static func ensureSecretsEncryptionKey(_ state: StateDirectory, _ ctx: WorkflowContext) async throws {
        if let existing = try SecretsEncryption.load(state) {
            if let rotation = existing.rotation {
                await ctx.emit(.warning, "warning: the Secrets key rotation \(rotation.from) → \(rotation.to) stopped at step \(rotation.step.rawValue); the API servers keep that step's keys; run `capstan secrets rotate-key` to finish it")
            }
            return
        }
        let what = "create the Secrets encryption key (secretbox) in \(SecretsEncryption.path)"
        try await ctx.convergeState(planned: [what]) {
            let encryption = SecretsEncryption.initial(now: ctx.now())
            try encryption.save(in: state)
            return ((), ["\(what): \(encryption.writer)"])
        }
    }
}

extension ArtifactStore {
    /// The inventory's artifact source: a local directory, a mirror or upstream, cached on this machine.
    public init(for inventory: Inventory) throws {
        let resolve = { (path: String) in InventoryLoader.resolve(path, relativeTo: inventory.sourcePath) }
        let cache = resolve(inventory.artifacts.cacheDirectory ?? "~/.cache/capstan/artifacts")
        switch inventory.artifacts.source {
        case .local:
            guard let dir = inventory.artifacts.directory else {
                throw WorkflowError.inventory("artifacts.source is local but artifacts.directory is not set")
            }
            self.init(origin: .localDirectory(resolve(dir)), cacheDirectory: cache)
        case .mirror:
            guard let text = inventory.artifacts.url, let url = URL(string: text) else {
                throw WorkflowError.inventory("artifacts.source is mirror but artifacts.url is missing or invalid")
            }
            self.init(origin: .mirror(url), cacheDirectory: cache)
        case .upstream:
            self.init(origin: .upstream, cacheDirectory: cache)
        }
    }
}
