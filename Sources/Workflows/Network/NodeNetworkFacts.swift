import Foundation
import Hosts
import Inventory

/// What the pod network phase and `status` read from one node, in one command: forwarding sysctls,
/// the main routing table, the IPv4 addresses and the NAT rules. Parsing is pure.
public struct NodeNetworkFacts: Sendable, Equatable {
    public struct Route: Sendable, Equatable {
        /// The whole line as `ip -4 route` prints it, for messages.
        public var line: String
        public var destination: CIDR?
        public var via: String?
        public var device: String?
        public var proto: String?
    }

    public struct Address: Sendable, Equatable {
        public var device: String
        public var cidr: CIDR
    }

    /// `net.ipv4.ip_forward`; nil when unreadable.
    public var ipForward: String?
    /// `net.bridge.bridge-nf-call-iptables`; nil when absent (br_netfilter not loaded).
    public var bridgeNetfilter: String?
    public var routes: [Route] = []
    public var addresses: [Address] = []
    /// `iptables -t nat -S POSTROUTING` lines.
    public var natRules: [String] = []

    static let ipForwardPath = "/proc/sys/net/ipv4/ip_forward"
    static let bridgeNetfilterPath = "/proc/sys/net/bridge/bridge-nf-call-iptables"

    static let probePaths = [ipForwardPath, bridgeNetfilterPath]
    static let probeCommands: [(key: String, command: ShellCommand)] = [
        ("routes", ShellCommand.raw("ip -4 route show table main 2>&1")),
        ("addresses", ShellCommand.raw("ip -4 -o addr show 2>&1")),
        ("nat", ShellCommand.raw("iptables -w -t nat -S POSTROUTING 2>/dev/null || true")),
    ]

    /// Reads the facts of the host behind `connection` in one round trip.
    public static func read(_ connection: any CommandRunner) async throws -> NodeNetworkFacts {
        parse(try await HostProbe.run(on: connection, paths: probePaths, commands: probeCommands))
    }

    /// Reads them through the run's survey of `host` (read with it when a phase declared them).
    static func read(_ ctx: WorkflowContext, _ host: String) async throws -> NodeNetworkFacts {
        parse(try await ctx.probe(host, paths: probePaths, commands: probeCommands))
    }

    static func parse(_ probe: HostProbe) -> NodeNetworkFacts {
        parse(ipForward: probe.text(ipForwardPath), bridgeNetfilter: probe.text(bridgeNetfilterPath),
              routes: probe.outputs["routes"] ?? "", addresses: probe.outputs["addresses"] ?? "", nat: probe.outputs["nat"] ?? "")
    }

    static let routeTypes: Set<String> = ["unicast", "blackhole", "unreachable", "prohibit", "throw", "local", "broadcast", "multicast", "nat", "anycast"]

    public static func parse(ipForward: String?, bridgeNetfilter: String?, routes: String, addresses: String, nat: String) -> NodeNetworkFacts {
        var facts = NodeNetworkFacts()
        facts.ipForward = ipForward?.trimmingCharacters(in: .whitespacesAndNewlines)
        facts.bridgeNetfilter = bridgeNetfilter?.trimmingCharacters(in: .whitespacesAndNewlines)
        for line in routes.split(separator: "\n") {
            var words = line.split(separator: " ").map(String.init)
            if let first = words.first, routeTypes.contains(first) { words.removeFirst() }
            guard let target = words.first else { continue }
            var route = Route(line: line.trimmingCharacters(in: .whitespaces), destination: nil, via: nil, device: nil, proto: nil)
            if target != "default" {
                route.destination = CIDR(parsing: target.contains("/") ? target : target + "/32")
            } else {
                route.destination = CIDR(address: IPv4Address(value: 0), prefix: 0)
            }
            var i = 1
            while i + 1 < words.count {
                switch words[i] {
                case "via": route.via = words[i + 1]
                case "dev": route.device = words[i + 1]
                case "proto": route.proto = words[i + 1]
                default: i -= 1
                }
                i += 2
            }
            facts.routes.append(route)
        }
        for line in addresses.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let inet = words.firstIndex(of: "inet"), inet + 1 < words.count, inet >= 2,
                  let cidr = CIDR(parsing: words[inet + 1]) else { continue }
            facts.addresses.append(Address(device: String(words[1].split(separator: "@").first ?? ""), cidr: cidr))
        }
        facts.natRules = nat.split(separator: "\n").map(String.init).filter { $0.hasPrefix("-A ") }
        return facts
    }

    /// Capstan's routes (marked with `proto`): destination → gateway.
    public func ownedRoutes(proto: Int) -> [CIDR: String] {
        var owned: [CIDR: String] = [:]
        for route in routes where route.proto == String(proto) {
            if let destination = route.destination { owned[destination] = route.via ?? "" }
        }
        return owned
    }

    /// Whether the masquerade rule for `subnet` leaving `podCIDR` is in the NAT table.
    public func hasMasquerade(subnet: CIDR, podCIDR: CIDR) -> Bool {
        natRules.contains { rule in
            rule.contains("-s \(subnet) ") && rule.contains("! -d \(podCIDR) ") && rule.contains("MASQUERADE") && rule.contains(PodNetwork.masqueradeComment)
        }
    }

    /// Routes and addresses that would take traffic meant for pods or services elsewhere: anything inside
    /// the pod or service CIDR that Capstan did not make (its own routes, its bridge's subnet). A route
    /// wider than a CIDR (a default route, 10.0.0.0/8) is no conflict: the more specific routes win.
    public func conflicts(podCIDR: CIDR, serviceCIDR: CIDR, ownSubnet: CIDR?, bridge: String, proto: Int) -> [String] {
        var found: [String] = []
        for (name, cidr) in [("podCIDR", podCIDR), ("serviceCIDR", serviceCIDR)] {
            for route in routes {
                guard let destination = route.destination, destination.prefix >= cidr.prefix, cidr.contains(destination.network) else { continue }
                if route.proto == String(proto) { continue }
                if route.device == bridge, destination == ownSubnet { continue }
                found.append("route '\(route.line)' lies inside \(name) \(cidr)")
            }
            for address in addresses where cidr.contains(address.cidr.address) {
                if address.device == bridge, let ownSubnet, ownSubnet.contains(address.cidr.address) { continue }
                // kube-proxy in IPVS mode holds the service IPs on this dummy interface.
                if name == "serviceCIDR", address.device == "kube-ipvs0" { continue }
                found.append("interface \(address.device) has address \(address.cidr) inside \(name) \(cidr)")
            }
        }
        return found
    }
}

/// One node's pod network: its subnet and its routes to every other node, and how they differ from the host.
public struct PodNetwork: Sendable, Equatable {
    public static let masqueradeComment = "capstan pod egress"

    public struct RouteChange: Sendable, Equatable, CustomStringConvertible {
        public enum Kind: String, Sendable { case add, remove, replace }
        public var kind: Kind
        public var subnet: CIDR
        public var via: String
        public var node: String?

        public var description: String {
            "\(kind.rawValue) \(subnet) via \(via)" + (node.map { " (\($0))" } ?? "")
        }
    }

    /// The routes that make `owned` (Capstan's routes on the host) equal to `wanted` (subnet → (via, node)).
    public static func routeChanges(wanted: [CIDR: (via: String, node: String)], owned: [CIDR: String]) -> [RouteChange] {
        var changes: [RouteChange] = []
        for (subnet, target) in wanted.sorted(by: { $0.key.address < $1.key.address }) {
            switch owned[subnet] {
            case nil: changes.append(RouteChange(kind: .add, subnet: subnet, via: target.via, node: target.node))
            case let via? where via != target.via: changes.append(RouteChange(kind: .replace, subnet: subnet, via: target.via, node: target.node))
            default: break
            }
        }
        for (subnet, via) in owned.sorted(by: { $0.key.address < $1.key.address }) where wanted[subnet] == nil {
            changes.append(RouteChange(kind: .remove, subnet: subnet, via: via, node: nil))
        }
        return changes
    }
}
