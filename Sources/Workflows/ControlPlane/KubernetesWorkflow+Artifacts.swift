import Foundation
import Inventory
import PKI

/// What the Kubernetes phases are built from: the verified artifacts and, for a self-managed cluster, the
/// PKI. `pki` is nil for a managed cluster, and in a plan made before the PKI phase has written the
/// certificates (the phases that need them then wait for it).
public struct KubernetesInputs: Sendable {
    public var pki: ClusterFiles?
    public var artifacts: NodeArtifacts

    public init(pki: ClusterFiles?, artifacts: NodeArtifacts) {
        self.pki = pki
        self.artifacts = artifacts
    }
}

/// The Kubernetes phases as `capstan apply` runs them: after the PKI and etcd phases of the same run. Their
/// files come from the PKI that run creates, so they are rendered when the run reaches them: the first phase
/// (`kubernetes-artifacts`) resolves the artifacts, reads the PKI and sets them as the run's
/// `KubernetesInputs`, then renders every phase's files from them (a broken template or a missing
/// certificate fails there, before any host changes). The phases after it are `phases(inventory:inputs:)`,
/// the one list of the Kubernetes part.
extension KubernetesWorkflow {
    public static let artifactsPhase = "kubernetes-artifacts"

    /// Resolves what the phases need at run time; `plan` and `apply` pass the inventory's artifact store.
    public typealias Preparation = @Sendable (WorkflowContext) async throws -> (pki: ClusterFiles?, artifacts: NodeArtifacts)

    /// The hosts that run a kubelet: every node of a self-managed cluster, the workers of a managed one.
    static func kubeletHosts(_ inventory: Inventory) -> [String] {
        (inventory.isSelfManaged ? WorkerWorkflow.nodes(inventory) : inventory.workerHosts).map(\.name)
    }

    public static func deferredPhases(inventory: Inventory, settings: KubernetesInstallSettings = KubernetesInstallSettings(),
                                      prepare: @escaping Preparation) -> [Phase] {
        let inputs = RunData<KubernetesInputs>(setBy: artifactsPhase)
        let first = Phase(artifactsPhase, concerning: kubeletHosts(inventory),
                          next: "fix the artifact source or the PKI state named above; no host was changed") { ctx in
            let (pki, artifacts) = try await prepare(ctx)
            for warning in artifacts.warnings { await ctx.emit(.warning, "warning: \(warning)") }
            for note in artifacts.notes { await ctx.emit(.message, note) }
            try await ctx.readAfterEarlierChanges({
                await inputs.set(KubernetesInputs(pki: pki, artifacts: artifacts), in: ctx)
                try await inputs.resolveDerived(in: ctx)
            }, assuming: { error in
                // A plan before the first apply: the PKI phase has not written the certificates yet.
                guard case WorkflowError.missingStateFile = error else { throw error }
                await ctx.emit(.note, "the control plane and kubelets are planned once the PKI exists (`capstan apply` creates it first): \(error)")
                await inputs.set(KubernetesInputs(pki: nil, artifacts: artifacts), in: ctx)
                try await inputs.resolveDerived(in: ctx)
            })
        }
        return [first] + phases(inventory: inventory, inputs: inputs, settings: settings)
    }

    /// A phase that needs the PKI, in a plan made before it exists: shown as waiting for it.
    static func waitForPKI(_ ctx: WorkflowContext, _ host: String, _ phase: String) async throws {
        try await ctx.change(host, "\(phase): install once the PKI phase has created the certificates") { _ in }
    }
}
