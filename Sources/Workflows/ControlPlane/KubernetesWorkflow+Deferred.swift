import Foundation
import Inventory
import PKI

/// The Kubernetes phases as `capstan apply` runs them: after the PKI and etcd phases of the same run.
/// Their files come from the PKI that run creates, so they cannot be rendered before it starts; the
/// first phase (`kubernetes-artifacts`) resolves the artifacts, reads the PKI and builds the real
/// phases, and the phases after it (same names and hosts as `KubernetesWorkflow.phases`) run them.
extension KubernetesWorkflow {
    public static let artifactsPhase = "kubernetes-artifacts"

    /// Resolves what the phases need at run time; `plan` and `apply` pass the inventory's artifact store.
    public typealias Preparation = @Sendable (WorkflowContext) async throws -> (pki: ClusterFiles?, artifacts: NodeArtifacts)

    public static func deferredPhases(inventory: Inventory, settings: KubernetesInstallSettings = KubernetesInstallSettings(),
                                      prepare: @escaping Preparation) -> [Phase] {
        let box = DeferredPhases()
        let nodes = inventory.isSelfManaged ? WorkerWorkflow.nodes(inventory) : inventory.workerHosts
        var shape: [(name: String, hosts: [String], serial: Bool)] = [
            (WorkerWorkflow.preflightPhase, nodes.map(\.name), false),
            (WorkerWorkflow.kernelPhase, nodes.map(\.name), false),
            (WorkerWorkflow.runtimePhase, nodes.map(\.name), false),
            (WorkerWorkflow.imagesPhase, nodes.map(\.name), false),
        ]
        if inventory.isSelfManaged {
            shape.append((ControlPlaneWorkflow.phaseName, inventory.controlPlaneHosts.map(\.name), true))
            shape.append((ControlPlaneVIP.phaseName, ControlPlaneVIP.address(inventory) == nil ? [] : inventory.controlPlaneHosts.map(\.name), false))
            shape.append((NodeBalancer.phaseName, inventory.localBalancerHosts.map(\.name), false))
            shape.append((WorkerWorkflow.kubeletPhase, nodes.map(\.name), false))
        } else {
            shape.append((ManagedJoin.phaseName, nodes.map(\.name), false))
        }
        let waiting = Set(shape.suffix(inventory.isSelfManaged ? 4 : 0).map(\.name))
        let first = Phase(artifactsPhase, concerning: nodes.map(\.name),
                          next: "fix the artifact source or the PKI state named above; no host was changed") { ctx in
            let (pki, artifacts) = try await prepare(ctx)
            for warning in artifacts.warnings { await ctx.emit(.message, "warning: \(warning)") }
            for note in artifacts.notes { await ctx.emit(.message, note) }
            do {
                await box.set(try phases(inventory: inventory, pki: pki, artifacts: artifacts, settings: settings))
            } catch let error as WorkflowError where ctx.mode == .plan && isMissingPKI(error) {
                // A plan before the first apply: the PKI phase has not written the certificates yet.
                await ctx.emit(.message, "the control plane and kubelets are planned once the PKI exists (`capstan apply` creates it first): \(error)")
                await box.set(try WorkerWorkflow.preparationPhases(inventory: inventory, artifacts: artifacts, settings: settings), pending: waiting)
            }
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

    static func isMissingPKI(_ error: WorkflowError) -> Bool {
        if case .invalidInput(let text) = error { return text.contains("is missing, needed on") }
        return false
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
