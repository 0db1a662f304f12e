import Foundation
import Inventory

/// Which pod subnet each node holds, as recorded in the state directory (`network/pod-subnets.json`).
///
/// A node keeps its subnet for as long as it is in the inventory: pods, routes on every other node and
/// the node's host-local IPAM files all name it, so moving it would break running pods. A removed node's
/// subnet is retired rather than freed: it is handed out again only once the pod CIDR has no subnet that
/// was never used (a node that was removed but not reset may still route or hold pods in it), and a node
/// added again under the same name gets its old subnet back.
public struct PodSubnets: Sendable, Equatable, Codable {
    public struct Retired: Sendable, Equatable, Codable {
        public var host: String
        public var subnet: String
    }

    public var podCIDR: String
    public var nodeSubnetSize: Int
    /// Node name → subnet (`10.244.3.0/24`).
    public var nodes: [String: String]
    /// Subnets of removed nodes, oldest first.
    public var retired: [Retired]

    public static let statePath = "network/pod-subnets.json"

    public init(podCIDR: CIDR, nodeSubnetSize: Int, nodes: [String: String] = [:], retired: [Retired] = []) {
        self.podCIDR = podCIDR.description
        self.nodeSubnetSize = nodeSubnetSize
        self.nodes = nodes
        self.retired = retired
    }

    /// The node's subnet, when it has one.
    public func subnet(of host: String) -> CIDR? { nodes[host].flatMap(CIDR.init(parsing:)) }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self) + Data("\n".utf8)
    }

    public static func decode(_ data: Data, path: String) throws -> PodSubnets {
        do {
            return try JSONDecoder().decode(PodSubnets.self, from: data)
        } catch {
            throw WorkflowError.stateFile("\(path) is not a pod subnet record (\(error)); restore it from a backup of the state directory", cause: error)
        }
    }
}

/// Hands out node pod subnets from the pod CIDR. Pure: the record in, the new record out.
public enum PodSubnetAllocator {
    /// The record after `hosts` (in inventory order) are given subnets: recorded nodes keep theirs,
    /// nodes no longer listed are retired, new nodes get the lowest never-used subnet, then retired ones
    /// (oldest first). Refuses a pod CIDR or subnet size that would move a recorded node's subnet, and a
    /// pod CIDR with no subnet left.
    public static func allocate(hosts: [String], podCIDR: CIDR, nodeSubnetSize size: Int, recorded: PodSubnets?) throws -> PodSubnets {
        guard size >= podCIDR.prefix, size <= 30 else {
            throw WorkflowError.inventory("spec.network.nodeSubnetSize /\(size) does not fit in podCIDR \(podCIDR)")
        }
        var record = recorded ?? PodSubnets(podCIDR: podCIDR, nodeSubnetSize: size)
        let moved = record.nodes.keys.sorted().compactMap { host -> String? in
            guard hosts.contains(host), let subnet = record.subnet(of: host) else { return nil }
            return subnet.prefix == size && podCIDR.contains(subnet.network) ? nil : "\(host) holds \(subnet)"
        }
        if !moved.isEmpty {
            throw WorkflowError.refused(
                what: "change the pod network to podCIDR \(podCIDR) with /\(size) node subnets",
                found: "live nodes would move (\(moved.joined(separator: ", "))); the recorded network is podCIDR \(record.podCIDR) with /\(record.nodeSubnetSize) node subnets",
                next: "set spec.network.podCIDR and nodeSubnetSize back to the recorded values (a live node's pod subnet cannot move)")
        }
        record.podCIDR = podCIDR.description
        record.nodeSubnetSize = size

        for host in record.nodes.keys.sorted() where !hosts.contains(host) {
            if let subnet = record.nodes.removeValue(forKey: host) { record.retired.append(.init(host: host, subnet: subnet)) }
        }
        let total = UInt32(1) << UInt32(size - podCIDR.prefix)
        let step = UInt32(1) << UInt32(32 - size)
        var used = Set(record.nodes.values) .union(record.retired.map(\.subnet))
        var next: UInt32 = 0
        for host in hosts where record.nodes[host] == nil {
            if let index = record.retired.firstIndex(where: { $0.host == host }) {
                record.nodes[host] = record.retired.remove(at: index).subnet
                continue
            }
            var chosen: String?
            while next < total {
                let candidate = CIDR(address: IPv4Address(value: podCIDR.network.value &+ next &* step), prefix: size).description
                next += 1
                if !used.contains(candidate) {
                    chosen = candidate
                    break
                }
            }
            if chosen == nil, !record.retired.isEmpty { chosen = record.retired.removeFirst().subnet }
            guard let subnet = chosen else {
                throw WorkflowError.inventory(
                    "podCIDR \(podCIDR) has no /\(size) subnet left for \(host): all \(total) are held by nodes; use a larger spec.network.podCIDR or smaller node subnets (a higher spec.network.nodeSubnetSize) before the first apply")
            }
            used.insert(subnet)
            record.nodes[host] = subnet
        }
        return record
    }
}
