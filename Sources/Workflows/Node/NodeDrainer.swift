import Foundation
import Hosts

/// kubectl on a control-plane host with its admin kubeconfig, for what `upgrade` and `node remove` do to a
/// node through the API: cordon, drain (PodDisruptionBudgets respected; with `forceDrain` a drain that does
/// not finish is followed by one that deletes the remaining pods), uncordon, delete.
public struct NodeDrainer: Sendable {
    public var forceDrain: Bool
    public var drainTimeoutSeconds: Int64
    public var kubectl: String
    public var kubeconfig: String

    public init(forceDrain: Bool = false, drainTimeoutSeconds: Int64 = 300,
                kubectl: String = NodeArtifacts.binDir + "/kubectl", kubeconfig: String = "/etc/kubernetes/admin.conf") {
        self.forceDrain = forceDrain
        self.drainTimeoutSeconds = drainTimeoutSeconds
        self.kubectl = kubectl
        self.kubeconfig = kubeconfig
    }

    /// `kubectl drain` respecting PodDisruptionBudgets, then (with `forceDrain`) past them.
    /// `next` says what to do when it fails, for the node named.
    public func drain(_ ctx: WorkflowContext, _ controlHost: String, _ node: String, next: String) async throws {
        let base = ["drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=\(drainTimeoutSeconds)s"]
        do {
            try await run(ctx, controlHost, base, node: node, what: "drain", next: next)
        } catch let error as WorkflowError {
            guard forceDrain else {
                guard case let .hostFailed(_, _, reason, _) = error else { throw error }
                throw WorkflowError.drainIncomplete(node: node, controlHost: controlHost, reason: reason, next: next)
            }
            await ctx.emit(.message, host: node, "drain did not finish (\(error)); --force-drain: deleting its pods past their PodDisruptionBudgets")
            try await run(ctx, controlHost, base + ["--disable-eviction", "--force"], node: node, what: "drain (forced)", next: next)
        }
    }

    /// One kubectl call on `controlHost`, recorded as a change; a failure names `node` and `next`.
    public func run(_ ctx: WorkflowContext, _ controlHost: String, _ arguments: [String], node: String, what: String, next: String) async throws {
        let command = ShellCommand([kubectl, "--kubeconfig", kubeconfig] + arguments)
        let limit = Double(drainTimeoutSeconds) + 60
        try await ctx.change(controlHost, "kubectl \(arguments.joined(separator: " "))") { c in
            let result = try await c.run(command, options: RunOptions(timeoutSeconds: limit))
            guard result.succeeded else {
                let evidence = (result.stderrText + result.stdoutText).trimmingCharacters(in: .whitespacesAndNewlines)
                throw WorkflowError.hostFailed(host: node, what: "\(what) \(node) (kubectl on \(controlHost), exit \(result.exitStatus))", reason: evidence, next: next)
            }
        }
    }
}
