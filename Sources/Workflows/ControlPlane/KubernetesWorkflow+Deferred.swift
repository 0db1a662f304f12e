import Foundation
import Inventory
import PKI

/// The Kubernetes phases as `capstan apply` runs them: after the PKI and etcd phases of the same run.
/// Their files come from the PKI that run creates, so they cannot be rendered before it starts; the
/// first phase (`kubernetes-artifacts`) resolves the artifacts, reads the PKI and builds the real
/// phases, and the phases after it (same names and hosts as `KubernetesWorkflow.phases`) run them.
extension KubernetesWorkflow {
    public static let artifactsPhase = PhaseName.kubernetesArtifacts.rawValue

    /// Resolves what the phases need at run time; `plan` and `apply` pass the inventory's artifact store.
    public typealias Preparation = @Sendable (WorkflowContext) async throws -> (pki: ClusterFiles?, artifacts: NodeArtifacts)

    /// One phase `kubernetes-artifacts` builds, with what it needs from the state directory.
    struct DeferredPhase: Sendable {
        var name: String
        var hosts: [String]
        var serial = false
        /// Renders certificates and kubeconfigs of the PKI phase: in a plan before the first apply (no
        /// PKI yet) it is shown as waiting for the PKI instead of failing the plan.
        var needsPKI = false
    }

    /// The hosts that run a kubelet: every node of a self-managed cluster, the workers of a managed one.
    static func kubeletHosts(_ inventory: Inventory) -> [String] {
        (inventory.isSelfManaged ? WorkerWorkflow.nodes(inventory) : inventory.workerHosts).map(\.name)
    }

    static func deferredShape(_ inventory: Inventory) -> [DeferredPhase] {
        let nodes = kubeletHosts(inventory)
        var shape = [
            DeferredPhase(name: WorkerWorkflow.preflightPhase, hosts: nodes),
            DeferredPhase(name: WorkerWorkflow.kernelPhase, hosts: nodes),
            DeferredPhase(name: WorkerWorkflow.runtimePhase, hosts: nodes),
            DeferredPhase(name: WorkerWorkflow.imagesPhase, hosts: nodes),
        ]
        if inventory.isSelfManaged {
            let controlPlane = inventory.controlPlaneHosts.map(\.name)
            shape += [
                DeferredPhase(name: ControlPlaneWorkflow.phaseName, hosts: controlPlane, serial: true, needsPKI: true),
                DeferredPhase(name: ControlPlaneVIP.phaseName, hosts: ControlPlaneVIP.address(inventory) == nil ? [] : controlPlane, needsPKI: true),
                DeferredPhase(name: NodeBalancer.phaseName, hosts: inventory.localBalancerHosts.map(\.name), needsPKI: true),
                DeferredPhase(name: WorkerWorkflow.kubeletPhase, hosts: nodes, needsPKI: true),
            ]
        } else {
            // A managed cluster's join files come from the provider, not from Capstan's PKI.
            shape.append(DeferredPhase(name: ManagedJoin.phaseName, hosts: nodes))
        }
        return shape
    }

    public static func deferredPhases(inventory: Inventory, settings: KubernetesInstallSettings = KubernetesInstallSettings(),
                                      prepare: @escaping Preparation) -> [Phase] {
        let box = DeferredPhases()
        let shape = deferredShape(inventory)
        let waiting = Set(shape.filter(\.needsPKI).map(\.name))
        let first = Phase(artifactsPhase, concerning: kubeletHosts(inventory),
                          next: "fix the artifact source or the PKI state named above; no host was changed") { ctx in
            let (pki, artifacts) = try await prepare(ctx)
            for warning in artifacts.warnings { await ctx.emit(.warning, "warning: \(warning)") }
            for note in artifacts.notes { await ctx.emit(.message, note) }
            let built = try await ctx.readAfterEarlierChanges({
                (phases: try phases(inventory: inventory, pki: pki, artifacts: artifacts, settings: settings), pending: Set<String>())
            }, assuming: { error in
                // A plan before the first apply: the PKI phase has not written the certificates yet.
                guard case WorkflowError.missingStateFile = error else { throw error }
                await ctx.emit(.note, "the control plane and kubelets are planned once the PKI exists (`capstan apply` creates it first): \(error)")
                return (phases: try WorkerWorkflow.preparationPhases(inventory: inventory, artifacts: artifacts, settings: settings), pending: waiting)
            })
            await box.set(built.phases, pending: built.pending)
        }
        return [first] + shape.map { item in
            let run: @Sendable (WorkflowContext, String) async throws -> Void = { ctx, host in
                guard let phase = try await box.phase(item.name) else {
                    try await ctx.change(host, "\(item.name): install once the PKI phase has created the certificates") { _ in }
                    return
                }
                try await phase.body(ctx, host)
            }
            let survey: @Sendable (WorkflowContext, String) async throws -> Void = { ctx, host in
                if let phase = try await box.phase(item.name), let survey = phase.survey { try await survey(ctx, host) }
            }
            return (item.serial
                ? Phase(item.name, hosts: item.hosts, execution: .serial,
                        next: "fix the failing host and run the command again; hosts after it were not changed", perHost: run)
                : Phase(item.name, hosts: item.hosts, perHost: run)).surveying(survey)
        }
    }
}

/// The phases built by `kubernetes-artifacts`, shared with the phases that run them.
actor DeferredPhases {
    private var built: [String: Phase]?
    private var pending: Set<String> = []

    func set(_ phases: [Phase], pending: Set<String> = []) {
        built = Dictionary(phases.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.pending = pending
    }

    /// The built phase; nil when it waits for the PKI (plan only); an error when it was never built.
    func phase(_ name: String) throws -> Phase? {
        guard let built else {
            throw WorkflowError.invalidInput("\(name) needs the phase \(KubernetesWorkflow.artifactsPhase) of the same run: do not skip it")
        }
        if pending.contains(name) { return nil }
        guard let phase = built[name] else {
            throw WorkflowError.invalidInput("\(name) was not built by \(KubernetesWorkflow.artifactsPhase) for this inventory")
        }
        return phase
    }
}
