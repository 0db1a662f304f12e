import Foundation
import Hosts
import Inventory

/// Managed mode: the provider upgrades its control plane; `capstan upgrade` upgrades the workers Capstan
/// joined, never past the provider's API server. What it reads first: the API server's version and each
/// worker's kubelet.
public struct ManagedUpgradeSurvey: Sendable {
    /// The provider's API server, as `GET /version` on the inventory's endpoint answers it (Kubernetes'
    /// default RBAC lets any client read `/version`: `system:public-info-viewer`), read from a worker with the
    /// provider CA Capstan placed there, so it is the API server the kubelets talk to.
    public var controlPlane: SemanticVersion
    /// The version text as the provider reports it (`v1.31.4-eks-2d5f260`).
    public var controlPlaneText: String
    /// The worker the version was read through.
    public var readThrough: String
    /// Each worker's installed kubelet (no component when none is installed yet).
    public var workers: [HostVersions]

    public static func read(_ inventory: Inventory, in ctx: WorkflowContext) async throws -> ManagedUpgradeSurvey {
        guard let managed = inventory.controlPlane.managed, !inventory.isSelfManaged else {
            throw WorkflowError.inventory("\(inventory.name) is not a managed cluster")
        }
        let outcomes = await UpgradeFacts.installedVersions(inventory.workerHosts.map(\.name), inventory: inventory, in: ctx)
        let unreachable = outcomes.filter { $0.error != nil }
        guard unreachable.isEmpty else {
            throw WorkflowError.refused(what: "upgrade the workers", found: unreachable.map { "\($0.host) did not answer (\($0.error.map { "\($0)" } ?? ""))" }.joined(separator: "; "),
                                        next: "bring every worker back (or take it out with `capstan node remove`), then plan again; nothing was changed")
        }
        let running = outcomes.compactMap(\.value)
        let endpoint = managed.apiEndpoint.hasSuffix("/") ? String(managed.apiEndpoint.dropLast()) : managed.apiEndpoint
        var tried: [String] = []
        for host in running where host.components[.kubelet] != nil {
            let result = try await ctx.reader(host.host).run(
                ShellCommand("curl", "-fsS", "--max-time", "10", "--cacert", ManagedJoin.caPath, endpoint + "/version"), options: RunOptions(timeoutSeconds: 20))
            guard result.succeeded else {
                tried.append("\(host.host): \(result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
                continue
            }
            let text = try apiServerVersion(result.stdoutText, endpoint: endpoint)
            guard let version = releaseVersion(text) else {
                throw WorkflowError.unexpectedAnswer("\(endpoint)/version answered gitVersion \(text), which is not a Kubernetes version like v1.31.4")
            }
            return ManagedUpgradeSurvey(controlPlane: version, controlPlaneText: text, readThrough: host.host, workers: running)
        }
        throw WorkflowError.refused(what: "upgrade the workers", found: tried.isEmpty ? "no worker runs a kubelet yet" : "no worker reached \(endpoint)/version (\(tried.joined(separator: "; ")))",
                                    next: tried.isEmpty ? "join the workers first: `capstan apply -i FILE`" : "check controlPlane.managed.apiEndpoint and the provider CA, then plan again")
    }

    /// `gitVersion` of the API server's `/version` answer.
    static func apiServerVersion(_ body: String, endpoint: String) throws -> String {
        struct Info: Decodable { var gitVersion: String }
        guard let info = try? JSONDecoder().decode(Info.self, from: Data(body.utf8)) else {
            throw WorkflowError.unexpectedAnswer("\(endpoint)/version did not answer a Kubernetes version document: \(body.prefix(200))")
        }
        return info.gitVersion
    }

    /// `v1.31.4-eks-2d5f260` → 1.31.4: providers append their build to the release they run, and the skew
    /// policy is about the release.
    static func releaseVersion(_ text: String) -> SemanticVersion? {
        guard let v = SemanticVersion(parsing: text) else { return nil }
        return SemanticVersion(v.major, v.minor, v.patch)
    }
}

/// Which workers a managed upgrade moves, in which batches, and what it refuses. Pure.
public enum ManagedUpgradePlanner {
    /// Kubernetes' version skew policy: a kubelet is never newer than the API server and at most three
    /// minor versions older; a kubelet moves one minor version at a time, like kubeadm's node upgrades.
    public static let maxMinorsBehind = 3

    public static func plan(workers: [HostVersions], controlPlane: SemanticVersion, target: SemanticVersion,
                            maxUnavailable: MaxUnavailable) throws(UpgradeRefusal) -> [UpgradeStep] {
        if target > controlPlane {
            throw UpgradeRefusal("kubelet \(target.tag) would be newer than the provider's API server \(controlPlane.tag); Kubernetes never lets a kubelet run ahead of its control plane",
                                 next: "upgrade the control plane with the provider to \(target.tag) first, or choose --to \(controlPlane.tag) or older")
        }
        if target.major != controlPlane.major || controlPlane.minor - target.minor > maxMinorsBehind {
            throw UpgradeRefusal("kubelet \(target.tag) would be more than \(maxMinorsBehind) minor versions older than the provider's API server \(controlPlane.tag)",
                                 next: "choose --to v\(controlPlane.major).\(controlPlane.minor - maxMinorsBehind).x or newer")
        }
        var moving: [(host: String, from: SemanticVersion)] = []
        for worker in workers {
            guard let running = worker.components[.kubelet] else {
                throw UpgradeRefusal("\(worker.host) runs no kubelet yet", next: "join it first with `capstan apply -i FILE` at the version it should run")
            }
            if running > target {
                throw UpgradeRefusal("\(worker.host) runs kubelet \(running.tag), newer than the target \(target.tag); an upgrade never goes down",
                                     next: "choose --to \(running.tag) or newer")
            }
            if running == target { continue }
            if target.minor > running.minor + 1 || target.major != running.major {
                throw UpgradeRefusal("\(worker.host) runs kubelet \(running.tag): \(target.tag) skips a minor version, and kubelets move one minor at a time",
                                     next: "upgrade to v\(running.major).\(running.minor + 1).x first, then to \(target.tag)")
            }
            moving.append((worker.host, running))
        }
        let size = maxUnavailable.batchSize(workers: workers.count)
        return stride(from: 0, to: moving.count, by: size).map { start in
            let batch = moving[start..<min(start + size, moving.count)]
            return UpgradeStep(stage: .workers, hosts: batch.map(\.host), from: batch.map(\.from).max()?.description ?? "unknown", to: target.description,
                               actions: ["cordon", "drain (respecting PodDisruptionBudgets)", "converge containerd, the kubelet at \(target.tag)",
                                         "wait until the kubelet is healthy", "uncordon"])
        }
    }
}

/// Upgrades one batch of a managed cluster's workers: cordon and drain through the provider's API with the
/// operator's kubeconfig (kubectl on this machine: Capstan holds no credentials for a provider's control
/// plane), then `apply`'s own phases at the target version on each node (images, runtime, `managed-join`),
/// the kubelet's health gate, uncordon.
public struct ManagedWorkerUpgrade: Sendable {
    public let version: SemanticVersion
    let images: Phase
    let runtime: Phase
    let join: Phase
    let drainer: NodeDrainer
    let healthGate: HealthGate

    /// `inventory` carries the target version; `artifacts` were resolved for it; `settings.drainer` runs
    /// kubectl on this machine.
    public init(inventory: Inventory, artifacts: NodeArtifacts, settings: KubernetesUpgradeSettings,
                install: KubernetesInstallSettings = KubernetesInstallSettings()) throws {
        let phases = try ManagedJoin.phases(inventory: inventory, artifacts: artifacts, settings: install.gated(by: settings.healthGate))
        version = inventory.kubernetesVersion
        images = try phases.named(WorkerWorkflow.imagesPhase)
        runtime = try phases.named(WorkerWorkflow.runtimePhase)
        join = try phases.named(ManagedJoin.phaseName)
        drainer = settings.drainer
        healthGate = settings.healthGate
    }

    public func upgrade(_ ctx: WorkflowContext, batch: [String]) async throws {
        let next = "the nodes of this batch stay cordoned; fix the cause, then run `capstan upgrade apply` again to continue with this batch"
        for node in batch { try await drainer.run(ctx, nil, ["cordon", node], node: node, what: "cordon", next: next) }
        for node in batch {
            try await drainer.drain(ctx, nil, node, next: "\(node) stays cordoned and was not changed. Free it (check its PodDisruptionBudgets: `kubectl get pdb -A`), raise --drain-timeout, or pass --force-drain; then run `capstan upgrade apply` again to continue with this batch")
        }
        for node in batch {
            try await KubernetesUpgrade.attributing(to: node, "upgrade the node to \(version.tag)", next: next) {
                try await images.run(ctx, host: node)
                try await runtime.run(ctx, host: node)
                try await join.run(ctx, host: node)
                let gate = healthGate
                try await ctx.gate {
                    for probe in ComponentProbe.node where probe.unit == "kubelet.service" {
                        try await probe.wait(ctx, host: node, timeoutSeconds: gate.timeoutSeconds, intervalSeconds: gate.intervalSeconds)
                    }
                }
            }
        }
        for node in batch { try await drainer.run(ctx, nil, ["uncordon", node], node: node, what: "uncordon", next: next) }
    }
}
