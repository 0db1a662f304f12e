import Foundation
import Inventory
import PKI
import Workflows

/// The pod network part of `capstan plan`: each node's subnet from the state directory's record, and
/// which ones `apply` would allocate or retire (the per-node files and routes come in the live part).
struct PodNetworkPlanSection: Encodable {
    struct Node: Encodable { var host: String; var subnet: String; var change: String }
    var plugin: String
    var nodes: [Node] = []
    var retired: [String] = []
    var error: String?

    init(_ inventory: Inventory) {
        plugin = inventory.network.plugin.rawValue
        guard inventory.network.plugin == .native else { return }
        do {
            let (recorded, allocated) = try PodNetworkWorkflow.allocation(inventory, state: StateDirectory(inventory: inventory))
            for host in inventory.hosts where allocated.nodes[host.name] != nil {
                let subnet = allocated.nodes[host.name] ?? ""
                nodes.append(Node(host: host.name, subnet: subnet, change: recorded?.nodes[host.name] == subnet ? "recorded" : "new"))
            }
            retired = allocated.retired.filter { !(recorded?.retired.contains($0) ?? false) }.map { "\($0.host) \($0.subnet)" }
        } catch {
            self.error = "\(error)"
        }
    }

    func text(_ inventory: Inventory) -> String {
        guard plugin == NetworkPlugin.native.rawValue else {
            return "Pod network: none (spec.network.plugin): Capstan installs no CNI configuration; nodes stay NotReady until you install a CNI plugin"
        }
        var lines = ["Pod network: native (bridge CNI + routes), podCIDR \(inventory.network.podCIDR), /\(inventory.network.nodeSubnetSize) per node:"]
        if let error { return (lines + ["  error: \(error)"]).joined(separator: "\n") }
        for node in nodes { lines.append("  \(node.host)  \(node.subnet)  (\(node.change))") }
        for entry in retired { lines.append("  retire \(entry) (left the inventory; its routes are removed from the other nodes)") }
        return lines.joined(separator: "\n")
    }
}
