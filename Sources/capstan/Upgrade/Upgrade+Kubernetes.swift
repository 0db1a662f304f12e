import ArgumentParser
import Foundation
import Inventory
import PKI
import Workflows

/// `--force-drain` and `--drain-timeout`, shared by `upgrade apply` and `upgrade rollback`.
/// What `upgrade apply` and `upgrade rollback` share: confirmation, health and drain settings.
struct UpgradeRunOptions: ParsableArguments {
    @Flag(name: .long, help: "Go ahead without asking (for scripts; off a terminal the command refuses without it).") var yes = false
    @Flag(name: .customLong("dry-run"), help: "Read the hosts and show what would change (apply: every action of every step, from the same path as the upgrade; rollback: the steps); change nothing.") var dryRun = false
    @Option(name: .customLong("health-timeout"), help: "Seconds to wait for etcd, API server and component health after each restart.") var healthTimeout: Double = 60
    @Flag(name: .customLong("force-drain"), help: "When PodDisruptionBudgets hold a drain up past --drain-timeout, delete the node's pods anyway.")
    var forceDrain = false
    @Option(name: .customLong("drain-timeout"), help: "How long one node's drain may take, e.g. 90s or 5m (default: spec.upgrade.drainTimeout, 5m).")
    var drainTimeout: String?
    @Option(name: .customLong("kubeconfig"), help: "Managed clusters: credentials for the provider's API; kubectl cordons and drains the workers from this machine with them.")
    var kubeconfig: String?
    @Option(name: .customLong("kubectl"), help: "Managed clusters: the kubectl executable on this machine.")
    var kubectl = "kubectl"

    func validate() throws {
        if let drainTimeout, TimeSpan(parsing: drainTimeout) == nil {
            throw ValidationError("--drain-timeout \(drainTimeout) is not a duration like 90s or 5m")
        }
    }

    /// --kubeconfig is for managed clusters only: on a self-managed one kubectl runs on the first control-plane
    /// host with the admin kubeconfig Capstan placed there.
    func requireKubeconfig(_ inventory: Inventory) throws -> String? {
        if inventory.isSelfManaged {
            if kubeconfig != nil {
                throw ValidationError("--kubeconfig is for managed clusters; for \(inventory.name) kubectl runs on its first control-plane host with the admin kubeconfig Capstan placed there")
            }
            return nil
        }
        guard let kubeconfig else {
            throw ValidationError("\(inventory.name) is managed: its workers are cordoned and drained through the provider's API with your credentials; pass --kubeconfig FILE (kubectl runs on this machine)")
        }
        guard FileManager.default.isReadableFile(atPath: kubeconfig) else { throw ValidationError("--kubeconfig \(kubeconfig): no readable file there") }
        return kubeconfig
    }

    /// Goes ahead when confirmed (`Confirmation`); false for `--dry-run`, after saying so.
    func confirm(_ command: String, _ question: String) throws -> Bool {
        if dryRun {
            print("\(command) (dry run): nothing was changed; \(question.prefix(1).lowercased() + question.dropFirst()) without --dry-run")
            return false
        }
        try Confirmation.require(command, question, yes: yes)
        return true
    }

    func settings(_ inventory: Inventory) -> KubernetesUpgradeSettings {
        let timeout = drainTimeout.flatMap(TimeSpan.init(parsing:)) ?? inventory.upgrade.drainTimeout
        var settings = KubernetesUpgradeSettings(forceDrain: forceDrain, drainTimeoutSeconds: max(1, timeout.seconds),
                                                 healthGate: HealthGate(timeoutSeconds: healthTimeout))
        if !inventory.isSelfManaged, let kubeconfig {
            settings.kubectl = kubectl
            settings.kubeconfig = kubeconfig
        }
        return settings
    }
}

/// Runs Kubernetes upgrade (or rollback) steps in order with the install phases of each step's target
/// version; artifacts and rendered files are prepared once per version.
struct KubernetesStepRunner {
    var inventory: Inventory
    var settings: KubernetesUpgradeSettings
    private var upgraders: [SemanticVersion: KubernetesUpgrade] = [:]
    private var managedUpgraders: [SemanticVersion: ManagedWorkerUpgrade] = [:]

    init(inventory: Inventory, settings: KubernetesUpgradeSettings) {
        self.inventory = inventory
        self.settings = settings
    }

    /// The host kubectl runs on for cordon, drain and uncordon: the first control-plane host.
    var controlHost: String? { inventory.controlPlaneHosts.first?.name }

    mutating func prepared(_ version: SemanticVersion) async throws -> KubernetesUpgrade {
        if let known = upgraders[version] { return known }
        var target = inventory
        target.kubernetesVersion = version
        let store = try ArtifactStore(for: target)
        let artifacts = try await NodeArtifacts.resolve(store: store, inventory: target, versions: try ComponentVersions.resolve(for: target))
        let pki = try ClusterFiles(inventory: target, state: StateDirectory(inventory: target))
        let made = try KubernetesUpgrade(inventory: target, pki: pki, artifacts: artifacts, settings: settings)
        upgraders[version] = made
        return made
    }

    /// A managed cluster's workers at `version`: no PKI, the provider CA and bootstrap credentials as `apply` places them.
    mutating func preparedManaged(_ version: SemanticVersion) async throws -> ManagedWorkerUpgrade {
        if let known = managedUpgraders[version] { return known }
        var target = inventory
        target.kubernetesVersion = version
        let artifacts = try await NodeArtifacts.resolve(store: try ArtifactStore(for: target), inventory: target, versions: try ComponentVersions.resolve(for: target))
        let made = try ManagedWorkerUpgrade(inventory: target, artifacts: artifacts, settings: settings)
        managedUpgraders[version] = made
        return made
    }

    mutating func run(_ step: UpgradeStep, in context: WorkflowContext) async throws {
        guard let version = SemanticVersion(parsing: step.to) else { throw ValidationError("step \(step.description) names no version") }
        if !inventory.isSelfManaged {
            guard step.stage == .workers else { throw ValidationError("a managed cluster's control plane is the provider's: step \(step.description) cannot run") }
            return try await preparedManaged(version).upgrade(context, batch: step.hosts)
        }
        let upgrader = try await prepared(version)
        switch step.stage {
        case .etcd:
            return
        case .controlPlane:
            for host in step.hosts { try await upgrader.upgradeControlPlane(context, host: host) }
        case .workers:
            guard let controlHost else { throw ValidationError("the inventory has no control-plane host to run kubectl on") }
            try await upgrader.upgradeWorkers(context, batch: step.hosts, controlHost: controlHost)
        }
    }
}

extension UpgradeApplyCommand {
    /// The Kubernetes steps after etcd: each step's hosts are recorded as pending before it starts and as
    /// upgraded once their gates pass, so a re-run continues where this one stopped.
    func runKubernetes(_ steps: [UpgradeStep], record: inout UpgradeRecord, inventory: Inventory, state: StateDirectory,
                       context: WorkflowContext, target k: SemanticVersion) async throws {
        var runner = KubernetesStepRunner(inventory: inventory, settings: options.settings(inventory))
        print("upgrading Kubernetes to \(k.tag): " + steps.map { "[\($0.hosts.joined(separator: ", "))]" }.joined(separator: " → "))
        for step in steps {
            record.kubernetesPending = step.hosts
            record.updatedAt = Date()
            try await save(record, state, context)
            print("\(step.stage.rawValue) \(step.hosts.joined(separator: ", ")): \(step.from) → \(step.to)")
            do {
                try await runner.run(step, in: context)
            } catch {
                let stopped = stoppedHost(error) ?? step.hosts.first
                record.status = .failed
                record.stoppedAt = stopped
                record.message = "\(error)"
                record.updatedAt = Date()
                try await save(record, state, context)
                let drainHint = (error as? WorkflowError)?.incompleteDrain != nil && !options.forceDrain ? " (add --force-drain to go past PodDisruptionBudgets)" : ""
                printError("""
                    Error: the Kubernetes upgrade stopped\(stopped.map { " at \($0)" } ?? ""): \(error)
                    upgraded so far: \((record.kubernetesUpgraded ?? []).isEmpty ? "none" : (record.kubernetesUpgraded ?? []).joined(separator: ", "))
                    to resume: fix the cause, then run `capstan upgrade apply -i \(target.inventoryOption.inventory) --to \(k.tag)\(target.etcd.map { " --etcd \($0)" } ?? "")\(inventory.isSelfManaged ? "" : " --kubeconfig FILE") --yes`\(drainHint) (continues with \(step.hosts.joined(separator: ", ")))
                    """ + (inventory.isSelfManaged ? """

                    to roll back: `capstan upgrade rollback -i \(target.inventoryOption.inventory) --yes` (returns the hosts to \(Set((record.previousKubernetes ?? [:]).values).sorted().joined(separator: ", ")); rollback point: backup \(record.rollbackPoint?.backup ?? "none"))
                    """ : ""))
                throw ExitCode(1)
            }
            record.kubernetesUpgraded = Array(Set((record.kubernetesUpgraded ?? []) + step.hosts)).sorted()
            record.kubernetesPending = nil
            record.stoppedAt = nil
            record.message = nil
            record.updatedAt = Date()
            try await save(record, state, context)
        }
    }
}
