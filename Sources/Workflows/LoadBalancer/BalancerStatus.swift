import Foundation
import Hosts
import Inventory
import Templates

/// What `capstan status` shows of the node-local balancers: each node's API server backends as its
/// haproxy sees them (from the stats socket's CSV).
public struct BalancerStatus: Sendable, Equatable, Codable {
    public struct Node: Sendable, Equatable, Codable {
        public var host: String
        /// Backend name → haproxy's state (`UP`, `DOWN`, `MAINT`, `UP 1/2`…); empty when unreadable.
        public var backends: [String: String]
        public var error: String?
    }

    public var nodes: [Node]
    /// `loadBalancer: vip`: the address and the control-plane hosts that hold it (one when healthy).
    public var virtualIP: String?
    public var vipHolders: [String]

    /// Rows of haproxy's `show stat` CSV for the servers of the `kube-apiserver` backend.
    public static func parse(csv: String) -> [String: String] {
        var out: [String: String] = [:]
        let lines = csv.split(separator: "\n").map(String.init)
        guard let header = lines.first?.trimmingCharacters(in: CharacterSet(charactersIn: "# ")).split(separator: ",", omittingEmptySubsequences: false).map(String.init),
              let px = header.firstIndex(of: "pxname"), let sv = header.firstIndex(of: "svname"), let st = header.firstIndex(of: "status") else { return [:] }
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count > max(px, sv, st), fields[px] == "kube-apiserver", !["FRONTEND", "BACKEND"].contains(fields[sv]) else { continue }
            out[fields[sv]] = fields[st]
        }
        return out
    }

    /// Reads every balancer host (read only; a host that does not answer is reported, not thrown).
    public static func gather(inventory: Inventory, in ctx: WorkflowContext) async -> BalancerStatus {
        var nodes: [Node] = []
        for host in inventory.localBalancerHosts {
            do {
                let c = try await ctx.reader(host.name)
                let r = try await c.run(ShellCommand("curl", "-sS", "--max-time", "3", "--unix-socket", HAProxyContext.defaultStatsSocket, "http://localhost/;csv"),
                                        options: RunOptions(timeoutSeconds: 10))
                let backends = r.succeeded ? parse(csv: r.stdoutText) : [:]
                nodes.append(Node(host: host.name, backends: backends,
                                  error: backends.isEmpty ? "haproxy's stats socket did not answer (\(r.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))); is haproxy running? (systemctl status haproxy)" : nil))
            } catch {
                nodes.append(Node(host: host.name, backends: [:], error: "\(error)"))
            }
        }
        var holders: [String] = []
        let vip = ControlPlaneVIP.address(inventory)
        if let vip {
            for host in inventory.controlPlaneHosts {
                guard let c = try? await ctx.reader(host.name),
                      let r = try? await c.run(ShellCommand("ip", "-o", "-4", "addr", "show", "to", vip), options: RunOptions(timeoutSeconds: 10)) else { continue }
                if r.succeeded, r.stdoutText.contains("inet \(vip)/") { holders.append(host.name) }
            }
        }
        return BalancerStatus(nodes: nodes, virtualIP: vip, vipHolders: holders)
    }

    public var text: String {
        var out = ""
        if let virtualIP {
            out += "API virtual IP \(virtualIP): " + (vipHolders.isEmpty ? "held by no control-plane host (is keepalived running? systemctl status keepalived)" : "held by \(vipHolders.joined(separator: ", "))") + "\n"
        }
        guard !nodes.isEmpty else { return out }
        out += "API balancers (node-local haproxy, backends as each sees them):\n"
        for node in nodes {
            if let error = node.error {
                out += "  \(node.host): \(error)\n"
            } else {
                out += "  \(node.host): " + node.backends.keys.sorted().map { "\($0) \(node.backends[$0] ?? "?")" }.joined(separator: ", ") + "\n"
            }
        }
        return out
    }
}
