import Foundation
import Hosts
import Inventory
import PKI

/// Knobs of the Kubernetes part of `capstan upgrade apply` and `rollback`.
public struct KubernetesUpgradeSettings: Sendable {
    /// Go past a drain that PodDisruptionBudgets hold up: delete the pods instead of evicting them.
    public var forceDrain: Bool
    /// `kubectl drain --timeout`.
    public var drainTimeoutSeconds: Int64
    /// API server gate (`/livez`, `/readyz`) and, with the same timeout, each component's `/healthz`.
    public var healthGate: HealthGate
    /// Where kubectl runs (on a control-plane host) and the kubeconfig it uses there.
    public var kubectl: String
    public var kubeconfig: String

    public init(forceDrain: Bool = false, drainTimeoutSeconds: Int64 = 300, healthGate: HealthGate = HealthGate(),
                kubectl: String = NodeArtifacts.binDir + "/kubectl", kubeconfig: String = "/etc/kubernetes/admin.conf") {
        self.forceDrain = forceDrain
        self.drainTimeoutSeconds = drainTimeoutSeconds
        self.healthGate = healthGate
        self.kubectl = kubectl
        self.kubeconfig = kubeconfig
    }

    /// kubectl on the control-plane host with these settings.
    public var drainer: NodeDrainer {
        NodeDrainer(forceDrain: forceDrain, drainTimeoutSeconds: drainTimeoutSeconds, kubectl: kubectl, kubeconfig: kubeconfig)
    }
}

/// Upgrades (or rolls back) the Kubernetes components of one host or one batch of workers to the
/// version of the inventory it is built with. It reuses the install phases of `capstan apply`
/// (`node-runtime`, `control-plane`, `node-kubelet`) for that inventory, so a host ends up exactly as
/// `apply` at the new version would leave it, and then gates every component it runs on its health
/// endpoint, whether or not this run changed it (a resumed run re-checks the host it stopped at).
public struct KubernetesUpgrade: Sendable {
    public let version: SemanticVersion
    let runtime: Phase
    /// The new minor's images (its pause image) on air-gapped nodes, before containerd is told to use them.
    let images: Phase
    let controlPlane: Phase
    let kubelet: Phase
    let settings: KubernetesUpgradeSettings
    let hosts: [String: HostSpec]
    let securePort: Int

    /// `inventory` carries the version to go to (`spec.kubernetesVersion`); `artifacts` were resolved for it.
    public init(inventory: Inventory, pki: ClusterFiles, artifacts: NodeArtifacts, settings: KubernetesUpgradeSettings,
                install: KubernetesInstallSettings = KubernetesInstallSettings()) throws {
        guard inventory.isSelfManaged else {
            throw WorkflowError.refused(what: "upgrade the Kubernetes control plane", found: "the cluster is managed: the provider upgrades its control plane",
                                        next: "Upgrade the control plane with the provider, then run `capstan apply` at the new version for the workers")
        }
        let gated = install.gated(by: settings.healthGate)
        version = inventory.kubernetesVersion
        let preparation = try WorkerWorkflow.preparationPhases(inventory: inventory, artifacts: artifacts, settings: gated)
        images = try preparation.named(WorkerWorkflow.imagesPhase)
        runtime = try preparation.named(WorkerWorkflow.runtimePhase)
        controlPlane = try ControlPlaneWorkflow.phases(inventory: inventory, pki: pki, artifacts: artifacts, settings: gated).named(ControlPlaneWorkflow.phaseName)
        kubelet = try WorkerWorkflow.phases(inventory: inventory, pki: pki, artifacts: artifacts, settings: gated).named(WorkerWorkflow.kubeletPhase)
        self.settings = settings
        hosts = Dictionary(inventory.hosts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // The port ControlPlaneFiles renders into kube-apiserver.service (ControlPlaneContext's default).
        securePort = 6443
    }

    /// A control-plane host: runtime, then kube-apiserver, kube-controller-manager, kube-scheduler (each
    /// restarted when its binary changed), then kubelet and kube-proxy; then every gate in that order.
    public func upgradeControlPlane(_ ctx: WorkflowContext, host: String) async throws {
        guard let spec = hosts[host], spec.has(.controlPlane) else { throw WorkflowError.unknownHost(host) }
        try await onHost(host, "upgrade the control plane to \(version.tag)") {
            try await images.run(ctx, host: host)
            try await runtime.run(ctx, host: host)
            try await controlPlane.run(ctx, host: host)
            try await kubelet.run(ctx, host: host)
            let address = spec.clusterAddress
            let url = HealthGate.url(address, securePort)
            let gate = settings.healthGate
            try await ctx.gate {
                try await gate.wait(ctx, host: host, url: url, caFile: "/etc/kubernetes/pki/ca.crt")
                for probe in ComponentProbe.controlPlane + ComponentProbe.node {
                    try await probe.wait(ctx, host: host, timeoutSeconds: gate.timeoutSeconds, intervalSeconds: gate.intervalSeconds)
                }
            }
        }
    }

    /// A batch of workers: cordon all, drain all, upgrade each, gate each, uncordon all. kubectl runs on
    /// `controlHost` with its admin kubeconfig. A drain that does not finish stops the batch with its
    /// nodes left cordoned (nothing of them was upgraded); a failing node stops it before the uncordon.
    public func upgradeWorkers(_ ctx: WorkflowContext, batch: [String], controlHost: String) async throws {
        for node in batch { try await kubectl(ctx, controlHost, ["cordon", node], node: node, what: "cordon") }
        for node in batch { try await drain(ctx, controlHost, node) }
        for node in batch {
            try await onHost(node, "upgrade the node to \(version.tag)") {
                try await images.run(ctx, host: node)
                try await runtime.run(ctx, host: node)
                try await kubelet.run(ctx, host: node)
                let gate = settings.healthGate
                try await ctx.gate {
                    for probe in ComponentProbe.node {
                        try await probe.wait(ctx, host: node, timeoutSeconds: gate.timeoutSeconds, intervalSeconds: gate.intervalSeconds)
                    }
                }
            }
        }
        for node in batch { try await kubectl(ctx, controlHost, ["uncordon", node], node: node, what: "uncordon") }
    }

    /// `kubectl drain` respecting PodDisruptionBudgets; with `forceDrain`, a drain that does not finish is
    /// followed by one that deletes the remaining pods (`--disable-eviction --force`).
    func drain(_ ctx: WorkflowContext, _ controlHost: String, _ node: String) async throws {
        try await settings.drainer.drain(ctx, controlHost, node, next: next(for: "drain", node: node, controlHost: controlHost))
    }

    func kubectl(_ ctx: WorkflowContext, _ controlHost: String, _ arguments: [String], node: String, what: String) async throws {
        try await settings.drainer.run(ctx, controlHost, arguments, node: node, what: what, next: next(for: what, node: node, controlHost: controlHost))
    }

    func next(for what: String, node: String, controlHost: String) -> String {
        what.hasPrefix("drain")
            ? "\(node) stays cordoned and was not changed. Free it (check its PodDisruptionBudgets: `kubectl get pdb -A`), raise --drain-timeout, or pass --force-drain to delete its pods past their budgets; then run `capstan upgrade apply` again to continue with this batch"
            : "fix the API server access from \(controlHost), then run `capstan upgrade apply` again to continue with this batch"
    }

    /// Runs `body` and names `host` in whatever it throws, so the caller can record where it stopped.
    func onHost(_ host: String, _ what: String, _ body: () async throws -> Void) async throws {
        try await Self.attributing(to: host, what, next: "the hosts after \(host) were not changed; fix \(host), then run `capstan upgrade apply` again (it continues with \(host)) or `capstan upgrade rollback`", body)
    }

    /// Runs `body`; an error that does not already name `host` (a failure or an incomplete drain there)
    /// becomes `hostFailed(host, what, …, next)`. Shared by the self-managed and the managed upgrade.
    static func attributing(to host: String, _ what: String, next: String, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as WorkflowError {
            if case .hostFailed(let h, _, _, _) = error, h == host { throw error }
            if case .drainIncomplete(let node, _, _, _) = error, node == host { throw error }
            throw WorkflowError.hostFailed(host: host, what: what, reason: "\(error)", next: next)
        } catch {
            throw WorkflowError.hostFailed(host: host, what: what, reason: "\(error)", next: next)
        }
    }
}

extension [Phase] {
    /// The phase of `apply` an upgrade reuses, by name.
    func named(_ name: String) throws -> Phase {
        guard let phase = first(where: { $0.name == name }) else { throw WorkflowError.internalInvariant("no \(name) phase was built for the upgrade") }
        return phase
    }
}

extension KubernetesInstallSettings {
    /// These settings with the upgrade's health gate.
    func gated(by gate: HealthGate) -> KubernetesInstallSettings {
        KubernetesInstallSettings(preflight: preflight, healthGate: gate, renderer: renderer)
    }
}

/// A component's own health endpoint, probed on its host: the unit must be active and the endpoint answer 200.
struct ComponentProbe: Sendable {
    var unit: String
    var url: String
    /// The serving certificate is made up by the component itself (controller-manager, scheduler), as in
    /// kubeadm's probes: not verified; the check is that the new process answers.
    var insecure: Bool

    static let controlPlane = [
        ComponentProbe(unit: "kube-controller-manager.service", url: "https://127.0.0.1:10257/healthz", insecure: true),
        ComponentProbe(unit: "kube-scheduler.service", url: "https://127.0.0.1:10259/healthz", insecure: true),
    ]
    static let node = [
        ComponentProbe(unit: "kubelet.service", url: "http://127.0.0.1:10248/healthz", insecure: false),
        ComponentProbe(unit: "kube-proxy.service", url: "http://127.0.0.1:10256/healthz", insecure: false),
    ]

    var checks: [ShellCommand] {
        [ShellCommand("systemctl", "is-active", "--quiet", unit),
         ShellCommand(["curl", "-fsS", "--max-time", "5"] + (insecure ? ["-k"] : []) + [url])]
    }

    func wait(_ ctx: WorkflowContext, host: String, timeoutSeconds: Double, intervalSeconds: Double) async throws {
        let failure = try await HealthGate.poll(ctx, host: host, checks: checks, timeoutSeconds: timeoutSeconds, intervalSeconds: intervalSeconds) { i, result in
            i == 0 ? "\(unit) is not active" : result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let failure {
            throw WorkflowError.hostFailed(host: host, what: "bring \(unit) back healthy", reason: "\(url) did not answer 200 within \(Int(timeoutSeconds)) s (\(failure))",
                                           next: "see `journalctl -u \(unit)` on \(host)")
        }
        await ctx.emit(.message, host: host, "\(unit) healthy (\(url))")
    }
}
