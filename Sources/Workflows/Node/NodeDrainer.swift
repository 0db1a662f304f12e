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
    public func drain(_ ctx: WorkflowContext, _ controlHost: String?, _ node: String, next: String) async throws {
        let base = ["drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=\(drainTimeoutSeconds)s"]
        do {
            try await run(ctx, controlHost, base, node: node, what: "drain", next: next)
        } catch let error as WorkflowError {
            guard forceDrain else {
                guard case let .hostFailed(_, _, reason, _) = error else { throw error }
                throw WorkflowError.drainIncomplete(node: node, controlHost: controlHost ?? Self.thisMachine, reason: reason, next: next)
            }
            await ctx.emit(.message, host: node, "drain did not finish (\(error)); --force-drain: deleting its pods past their PodDisruptionBudgets")
            try await run(ctx, controlHost, base + ["--disable-eviction", "--force"], node: node, what: "drain (forced)", next: next)
        }
    }

    /// Where kubectl runs when no control-plane host does (a managed cluster): here, with the operator's kubeconfig.
    public static let thisMachine = "this machine"

    /// One kubectl call on `controlHost` (nil: on this machine, a change through the cluster's API), recorded
    /// as a change; a failure names `node` and `next`.
    public func run(_ ctx: WorkflowContext, _ controlHost: String?, _ arguments: [String], node: String, what: String, next: String) async throws {
        let command = ShellCommand([kubectl, "--kubeconfig", kubeconfig] + arguments)
        let limit = Double(drainTimeoutSeconds) + 60
        let description = "kubectl \(arguments.joined(separator: " "))"
        @Sendable func check(_ result: CommandResult) throws {
            guard result.succeeded else {
                let evidence = (result.stderrText + result.stdoutText).trimmingCharacters(in: .whitespacesAndNewlines)
                throw WorkflowError.hostFailed(host: node, what: "\(what) \(node) (kubectl on \(controlHost ?? Self.thisMachine), exit \(result.exitStatus))", reason: evidence, next: next)
            }
        }
        guard let controlHost else {
            return try await ctx.changeCluster(description) {
                try check(try await LocalConnection().run(command, options: RunOptions(timeoutSeconds: limit, privileged: false)))
            }
        }
        try await ctx.change(controlHost, description) { c in try check(try await c.run(command, options: RunOptions(timeoutSeconds: limit))) }
    }
}
