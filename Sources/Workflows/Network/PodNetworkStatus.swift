import Foundation
import Hosts
import Inventory
import PKI
import Templates

/// `capstan status`'s pod network part: per node its recorded subnet, whether Capstan's CNI configuration
/// is there as rendered, and its routes to every other node (missing or stale ones flagged). Read only.
public struct PodNetworkStatus: Sendable, Encodable {
    public struct Node: Sendable, Encodable {
        public var host: String
        public var subnet: String?
        /// `present`, `differs`, `absent` (native); the files in /etc/cni/net.d (none).
        public var cniConfig: String
        public var missingRoutes: [String] = []
        public var staleRoutes: [String] = []
        public var masquerade: Bool?
        public var error: String?

        var healthy: Bool { error == nil && subnet != nil && cniConfig == "present" && missingRoutes.isEmpty && staleRoutes.isEmpty && masquerade != false }
    }

    public var plugin: String
    public var nodes: [Node]

    public var healthy: Bool { plugin != NetworkPlugin.native.rawValue || nodes.allSatisfy(\.healthy) }

    public static func gather(inventory: Inventory, state: StateDirectory, renderer: TemplateRenderer = TemplateRenderer(), in ctx: WorkflowContext) async -> PodNetworkStatus {
        let hosts = WorkerWorkflow.nodes(inventory).map(\.name)
        let recorded: PodSubnets?
        do {
            recorded = try state.read(PodSubnets.statePath).map { try PodSubnets.decode($0, path: state.path(PodSubnets.statePath)) }
        } catch {
            return PodNetworkStatus(plugin: inventory.network.plugin.rawValue, nodes: hosts.map { Node(host: $0, cniConfig: "unknown", error: "\(error)") })
        }
        let outcomes = await FanOut.run(hosts, name: { $0 }) { host -> Node in
            let connection = try await ctx.reader(host)
            guard inventory.network.plugin == .native else {
                let listing = try await connection.run(ShellCommand.raw("ls /etc/cni/net.d 2>/dev/null || true")).stdoutText
                let names = listing.split(separator: "\n").joined(separator: ", ")
                return Node(host: host, cniConfig: names.isEmpty ? "absent: the node stays NotReady until a CNI plugin is installed" : names)
            }
            guard let recorded, recorded.subnet(of: host) != nil else {
                return Node(host: host, cniConfig: "unknown", error: "no pod subnet recorded yet: run capstan apply")
            }
            let files = try PodNetworkWorkflow.render(inventory: inventory, host: host, subnets: recorded, renderer: renderer)
            let facts = try await NodeNetworkFacts.read(connection)
            let conflist = try await connection.read(PodNetworkWorkflow.conflistPath)
            var node = Node(host: host, subnet: files.context.subnet,
                            cniConfig: conflist == nil ? "absent" : conflist == files.conflist.content ? "present" : "differs")
            for change in PodNetwork.routeChanges(wanted: PodNetworkWorkflow.wantedRoutes(files.context), owned: facts.ownedRoutes(proto: files.context.routeProtocol)) {
                let text = "\(change.subnet) via \(change.via)" + (change.node.map { " (\($0))" } ?? "")
                if change.kind == .remove { node.staleRoutes.append(text) } else { node.missingRoutes.append(text) }
            }
            if let subnet = files.subnet, let pod = CIDR(parsing: files.context.podCIDR) { node.masquerade = facts.hasMasquerade(subnet: subnet, podCIDR: pod) }
            return node
        }
        let nodes = outcomes.map { outcome in
            outcome.value ?? Node(host: outcome.host, subnet: recorded?.nodes[outcome.host], cniConfig: "unknown", error: outcome.error.map { "\($0)" } ?? "no answer")
        }
        return PodNetworkStatus(plugin: inventory.network.plugin.rawValue, nodes: nodes)
    }

    public var text: String {
        guard plugin == NetworkPlugin.native.rawValue else {
            var lines = ["Pod network: none (bring your own CNI); CNI configuration per node:"]
            for node in nodes { lines.append("  \(node.host): \(node.error ?? node.cniConfig)") }
            return lines.joined(separator: "\n") + "\n"
        }
        var lines = ["Pod network: native (bridge CNI + routes)"]
        for node in nodes {
            if let error = node.error {
                lines.append("  \(node.host): \(node.subnet ?? "-")  \(error)")
                continue
            }
            var parts = ["\(node.host): \(node.subnet ?? "-")", "CNI config \(node.cniConfig)"]
            parts.append(node.missingRoutes.isEmpty && node.staleRoutes.isEmpty ? "routes ok" : "routes NOT ok")
            if node.masquerade == false { parts.append("masquerade rule missing") }
            lines.append("  " + parts.joined(separator: "  "))
            for route in node.missingRoutes { lines.append("    missing route \(route)") }
            for route in node.staleRoutes { lines.append("    stale route \(route) (no node holds it)") }
        }
        if !healthy { lines.append("  fix: run capstan apply (it restores missing routes and files and removes stale routes)") }
        return lines.joined(separator: "\n") + "\n"
    }
}
