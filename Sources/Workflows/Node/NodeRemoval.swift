import Foundation
import Hosts
import Inventory
import PKI

/// `capstan node remove` and `reset --host`: the parts of removing hosts that are not `apply` on the
/// inventory without them. In order: the Node objects go through the API (cordon, drain with
/// PodDisruptionBudgets respected, delete), then the remaining hosts are converged without the removed
/// ones (etcd member removed under the quorum guards, API server etcd lists, balancer backends, VIP peers,
/// pod routes; `apply`'s own phases), then each removed host that answers is torn down, and last its
/// leaves leave the state directory.
public enum NodeRemoval {
    public static let drainPhaseName = "node-drain"
    public static let statePhaseName = "node-state"

    /// A host being removed.
    public struct Target: Sendable, Equatable {
        public var name: String
        /// It runs a kubelet, so it has a Node object.
        public var isNode: Bool
        /// It answered when the command started: only then is it drained and torn down.
        public var reachable: Bool

        public init(name: String, isNode: Bool, reachable: Bool) {
            self.name = name
            self.isNode = isNode
            self.reachable = reachable
        }
    }

    /// Refusals before anything is touched: removing every etcd member or every control-plane host of a
    /// self-managed cluster is the end of the cluster, which is `reset --all`.
    public static func refusal(inventory: Inventory, removing names: Set<String>) -> WorkflowError? {
        guard inventory.isSelfManaged else { return nil }
        let members = inventory.etcdMembers.map(\.name)
        if !members.isEmpty, members.allSatisfy(names.contains) {
            return .refused(what: "remove \(names.sorted().joined(separator: ", "))",
                            found: "every etcd member (\(members.joined(separator: ", "))) would go: the cluster's data would be lost",
                            next: "keep at least one member (remove fewer hosts), or end the whole cluster with `capstan reset --all` after `capstan backup now`")
        }
        let planes = inventory.controlPlaneHosts.map(\.name)
        if !planes.isEmpty, planes.allSatisfy(names.contains) {
            return .refused(what: "remove \(names.sorted().joined(separator: ", "))",
                            found: "every control-plane host (\(planes.joined(separator: ", "))) would go",
                            next: "add another control-plane host first (`capstan node add`), or end the whole cluster with `capstan reset --all`")
        }
        return nil
    }

    /// The inventory the rest of the cluster converges to: the same without `names`.
    public static func remaining(_ inventory: Inventory, removing names: Set<String>) -> Inventory {
        var rest = inventory
        rest.hosts.removeAll { names.contains($0.name) }
        return rest
    }

    /// Cordon, drain (a host that answers) and delete each target's Node object through kubectl on
    /// `controlHost`. A node the API no longer has is skipped, so a re-run after an interruption goes on.
    /// A host that does not answer is not drained (its pods cannot stop gracefully); deleting its Node lets
    /// the controllers replace them elsewhere.
    public static func drainPhase(_ targets: [Target], controlHost: String, drainer: NodeDrainer) -> Phase {
        let nodes = targets.filter(\.isNode)
        return Phase(drainPhaseName, concerning: [controlHost] + nodes.map(\.name),
                     next: "the node stays cordoned; free it (check its PodDisruptionBudgets: `kubectl get pdb -A`), raise --drain-timeout or pass --force-drain, then run the command again") { ctx in
            for target in nodes {
                let next = "\(target.name) stays cordoned and nothing else was changed; free it, raise --drain-timeout or pass --force-drain, then run the command again"
                guard try await nodeExists(ctx, controlHost, target.name, drainer) else {
                    await ctx.emit(.message, host: target.name, "the API has no Node \(target.name) (already deleted)")
                    continue
                }
                try await drainer.run(ctx, controlHost, ["cordon", target.name], node: target.name, what: "cordon", next: next)
                if target.reachable {
                    try await drainer.drain(ctx, controlHost, target.name, next: next)
                } else {
                    await ctx.emit(.message, host: target.name, "\(target.name) does not answer: not drained; its pods are rescheduled once its Node is deleted")
                }
                try await drainer.run(ctx, controlHost, ["delete", "node", target.name, "--ignore-not-found"], node: target.name, what: "delete the Node of", next: next)
            }
        }
    }

    /// Whether the API has the Node (`kubectl get node NAME --ignore-not-found -o name` prints nothing when not).
    static func nodeExists(_ ctx: WorkflowContext, _ controlHost: String, _ node: String, _ drainer: NodeDrainer) async throws -> Bool {
        let connection = try await ctx.reader(controlHost)
        let result = try await connection.run(ShellCommand([drainer.kubectl, "--kubeconfig", drainer.kubeconfig, "get", "node", node, "--ignore-not-found", "-o", "name"]),
                                              options: RunOptions(timeoutSeconds: 60))
        guard result.succeeded else {
            throw WorkflowError.hostFailed(host: controlHost, what: "look up the Node \(node) (kubectl on \(controlHost), exit \(result.exitStatus))",
                                           reason: (result.stderrText + result.stdoutText).trimmingCharacters(in: .whitespacesAndNewlines),
                                           next: "fix the API server access from \(controlHost), then run the command again")
        }
        return !result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    }

    /// The removed hosts' leaves and kubeconfigs in the state directory (`pki/hosts/NAME`,
    /// `kubeconfig/hosts/NAME`); the CAs, the cluster record and every other host's files stay. A host
    /// added again later gets new ones from the same CAs.
    public static func statePhase(_ names: [String], state: StateDirectory) -> Phase {
        Phase(statePhaseName, concerning: [WorkflowContext.stateTarget]) { ctx in
            for name in names {
                for relative in ["pki/hosts/\(name)", "kubeconfig/hosts/\(name)"] where state.exists(relative) {
                    try await ctx.changeState("remove \(state.path(relative)) (the leaves of \(name))") {
                        try FileManager.default.removeItem(atPath: state.path(relative))
                    }
                }
            }
        }
    }
}
