import Foundation
import Inventory
import Templates
import Testing
import TestSupport
@testable import Workflows

@Suite("Pod subnet allocation", .tags(.unit))
struct PodSubnetsTests {
    let pod = CIDR(parsing: "10.244.0.0/16")!

    @Test("nodes get subnets in inventory order, and keep them when hosts are added or removed")
    func stable() throws {
        let first = try PodSubnetAllocator.allocate(hosts: ["a", "b", "c"], podCIDR: pod, nodeSubnetSize: 24, recorded: nil)
        #expect(first.nodes == ["a": "10.244.0.0/24", "b": "10.244.1.0/24", "c": "10.244.2.0/24"])
        // A new host listed first still gets a fresh subnet; nobody moves.
        let added = try PodSubnetAllocator.allocate(hosts: ["d", "a", "b", "c"], podCIDR: pod, nodeSubnetSize: 24, recorded: first)
        #expect(added.nodes == ["a": "10.244.0.0/24", "b": "10.244.1.0/24", "c": "10.244.2.0/24", "d": "10.244.3.0/24"])
        let removed = try PodSubnetAllocator.allocate(hosts: ["a", "c", "d"], podCIDR: pod, nodeSubnetSize: 24, recorded: added)
        #expect(removed.nodes == ["a": "10.244.0.0/24", "c": "10.244.2.0/24", "d": "10.244.3.0/24"])
        #expect(removed.retired == [.init(host: "b", subnet: "10.244.1.0/24")])
        // The same record again changes nothing.
        #expect(try PodSubnetAllocator.allocate(hosts: ["a", "c", "d"], podCIDR: pod, nodeSubnetSize: 24, recorded: removed) == removed)
    }

    @Test("a removed node's subnet is reused only when no never-used subnet is left; a node added again gets its own back")
    func retiredReuse() throws {
        let small = CIDR(parsing: "10.244.0.0/23")!
        let two = try PodSubnetAllocator.allocate(hosts: ["a", "b"], podCIDR: small, nodeSubnetSize: 24, recorded: nil)
        let one = try PodSubnetAllocator.allocate(hosts: ["a"], podCIDR: small, nodeSubnetSize: 24, recorded: two)
        #expect(one.retired == [.init(host: "b", subnet: "10.244.1.0/24")])
        let back = try PodSubnetAllocator.allocate(hosts: ["a", "b"], podCIDR: small, nodeSubnetSize: 24, recorded: one)
        #expect(back.nodes["b"] == "10.244.1.0/24" && back.retired.isEmpty)
        let other = try PodSubnetAllocator.allocate(hosts: ["a", "e"], podCIDR: small, nodeSubnetSize: 24, recorded: one)
        #expect(other.nodes["e"] == "10.244.1.0/24" && other.retired.isEmpty)

        let wide = try PodSubnetAllocator.allocate(hosts: ["a", "b"], podCIDR: pod, nodeSubnetSize: 24, recorded: nil)
        let shrunk = try PodSubnetAllocator.allocate(hosts: ["a"], podCIDR: pod, nodeSubnetSize: 24, recorded: wide)
        let fresh = try PodSubnetAllocator.allocate(hosts: ["a", "e"], podCIDR: pod, nodeSubnetSize: 24, recorded: shrunk)
        #expect(fresh.nodes["e"] == "10.244.2.0/24")
        #expect(fresh.retired == [.init(host: "b", subnet: "10.244.1.0/24")])
    }

    @Test("an exhausted pod CIDR is an error naming the host, the CIDR and what to change")
    func exhausted() throws {
        let small = CIDR(parsing: "10.244.0.0/23")!
        do {
            _ = try PodSubnetAllocator.allocate(hosts: ["a", "b", "c"], podCIDR: small, nodeSubnetSize: 24, recorded: nil)
            Issue.record("three /24s fit in a /23")
        } catch {
            let text = "\(error)"
            #expect(text.contains("10.244.0.0/23 has no /24 subnet left for c"))
            #expect(text.contains("spec.network.podCIDR"))
        }
    }

    @Test("a pod CIDR or subnet size that would move a live node's subnet is refused")
    func refusesMove() throws {
        let record = try PodSubnetAllocator.allocate(hosts: ["a", "b"], podCIDR: pod, nodeSubnetSize: 24, recorded: nil)
        for (cidr, size) in [("10.245.0.0/16", 24), ("10.244.0.0/16", 25)] {
            #expect(throws: WorkflowError.self) {
                try PodSubnetAllocator.allocate(hosts: ["a", "b"], podCIDR: CIDR(parsing: cidr)!, nodeSubnetSize: size, recorded: record)
            }
        }
        // A wider pod CIDR that still holds every recorded subnet is fine.
        let wider = try PodSubnetAllocator.allocate(hosts: ["a", "b", "c"], podCIDR: CIDR(parsing: "10.244.0.0/15")!, nodeSubnetSize: 24, recorded: record)
        #expect(wider.nodes["a"] == "10.244.0.0/24" && wider.nodes["c"] == "10.244.2.0/24")
    }

    @Test("the record survives its JSON form")
    func roundTrip() throws {
        let record = try PodSubnetAllocator.allocate(hosts: ["a", "b"], podCIDR: pod, nodeSubnetSize: 26, recorded: nil)
        #expect(record.nodes["b"] == "10.244.0.64/26")
        #expect(try PodSubnets.decode(try record.encoded(), path: "x") == record)
        #expect(throws: WorkflowError.self) { try PodSubnets.decode(Data("{".utf8), path: "x") }
    }
}

@Suite("Node network facts", .tags(.unit))
struct NodeNetworkFactsTests {
    static let routes = """
        default via 192.168.1.1 dev eth1 proto dhcp
        10.0.0.0/8 via 192.168.1.254 dev eth1
        10.213.0.0/24 dev eth0 proto kernel scope link src 10.213.0.11
        10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1
        10.244.1.0/24 via 10.213.0.12 dev eth0 proto 211
        10.244.9.0/24 via 10.213.0.19 dev eth0 proto 211
        blackhole 10.96.5.0/24
        """
    static let addresses = """
        1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
        2: eth0    inet 10.213.0.11/24 brd 10.213.0.255 scope global eth0\\       valid_lft forever preferred_lft forever
        3: cni0    inet 10.244.0.1/24 brd 10.244.0.255 scope global cni0\\       valid_lft forever preferred_lft forever
        4: docker0    inet 10.244.7.1/24 scope global docker0\\       valid_lft forever preferred_lft forever
        """
    static let nat = """
        -P POSTROUTING ACCEPT
        -A POSTROUTING -s 10.244.0.0/24 ! -d 10.244.0.0/16 -m comment --comment "capstan pod egress" -j MASQUERADE
        """
    let pod = CIDR(parsing: "10.244.0.0/16")!
    let service = CIDR(parsing: "10.96.0.0/12")!

    @Test("parses routes, addresses, sysctls and the masquerade rule")
    func parse() {
        let facts = NodeNetworkFacts.parse(ipForward: "1\n", bridgeNetfilter: nil, routes: Self.routes, addresses: Self.addresses, nat: Self.nat)
        #expect(facts.ipForward == "1" && facts.bridgeNetfilter == nil)
        #expect(facts.ownedRoutes(proto: 211) == [CIDR(parsing: "10.244.1.0/24")!: "10.213.0.12", CIDR(parsing: "10.244.9.0/24")!: "10.213.0.19"])
        #expect(facts.addresses.map(\.device) == ["lo", "eth0", "cni0", "docker0"])
        #expect(facts.hasMasquerade(subnet: CIDR(parsing: "10.244.0.0/24")!, podCIDR: pod))
        #expect(!facts.hasMasquerade(subnet: CIDR(parsing: "10.244.1.0/24")!, podCIDR: pod))
    }

    @Test("conflicts: routes and addresses inside the pod or service CIDR that Capstan did not make, not wider routes")
    func conflicts() {
        let facts = NodeNetworkFacts.parse(ipForward: "1", bridgeNetfilter: "1", routes: Self.routes, addresses: Self.addresses, nat: "")
        let found = facts.conflicts(podCIDR: pod, serviceCIDR: service, ownSubnet: CIDR(parsing: "10.244.0.0/24"), bridge: "cni0", proto: 211)
        #expect(found == [
            "interface docker0 has address 10.244.7.1/24 inside podCIDR 10.244.0.0/16",
            "route 'blackhole 10.96.5.0/24' lies inside serviceCIDR 10.96.0.0/12",
        ])
    }

    @Test("route changes: add the missing, replace a wrong gateway, remove the stale")
    func changes() {
        let facts = NodeNetworkFacts.parse(ipForward: "1", bridgeNetfilter: "1", routes: Self.routes, addresses: "", nat: "")
        let wanted: [CIDR: (via: String, node: String)] = [
            CIDR(parsing: "10.244.1.0/24")!: ("10.213.0.22", "h2"), CIDR(parsing: "10.244.2.0/24")!: ("10.213.0.13", "h3"),
        ]
        let changes = PodNetwork.routeChanges(wanted: wanted, owned: facts.ownedRoutes(proto: 211)).map(\.description)
        #expect(changes == ["replace 10.244.1.0/24 via 10.213.0.22 (h2)", "add 10.244.2.0/24 via 10.213.0.13 (h3)", "remove 10.244.9.0/24 via 10.213.0.19"])
        #expect(PodNetwork.routeChanges(wanted: [:], owned: [:]).isEmpty)
    }
}

@Suite("Pod network files per node", .tags(.unit))
struct PodNetworkFilesTests {
    func inventory(h3Address: String = "10.213.0.13") -> Inventory {
        Inventory(
            name: "lab", kubernetesVersion: SemanticVersion(1, 31, 4),
            hosts: [
                HostSpec(name: "h1", address: "192.168.1.11", internalAddress: "10.213.0.11", roles: [.controlPlane, .etcd]),
                HostSpec(name: "e1", address: "10.213.0.20", roles: [.etcd]),
                HostSpec(name: "h3", address: h3Address, roles: [.worker]),
            ])
    }

    @Test("each node routes to every other node's subnet through its cluster address; etcd-only hosts are no nodes")
    func routes() throws {
        let inv = inventory()
        let subnets = try PodSubnetAllocator.allocate(hosts: ["h1", "h3"], podCIDR: inv.network.podCIDR, nodeSubnetSize: 24, recorded: nil)
        let h1 = try PodNetworkWorkflow.render(inventory: inv, host: "h1", subnets: subnets, renderer: TemplateRenderer())
        #expect(h1.context.subnet == "10.244.0.0/24" && h1.context.gateway == "10.244.0.1")
        #expect(h1.context.routes == [.init(subnet: "10.244.1.0/24", via: "10.213.0.13", node: "h3")])
        let h3 = try PodNetworkWorkflow.render(inventory: inv, host: "h3", subnets: subnets, renderer: TemplateRenderer())
        // The internal address, not the SSH one.
        #expect(h3.context.routes == [.init(subnet: "10.244.0.0/24", via: "10.213.0.11", node: "h1")])
        #expect(h3.conflist.path == "/etc/cni/net.d/10-capstan.conflist")
        #expect(h3.script.attributes.mode == 0o755)
        // The phase declares its reads before the subnets exist, from the fixed paths: they must be the rendered ones.
        #expect(h3.all.map(\.path) == PodNetworkWorkflow.managedPaths && h1.all.map(\.path) == PodNetworkWorkflow.managedPaths)
        #expect(h3.context.unit == PodNetworkWorkflow.defaults.unit)
        #expect(throws: WorkflowError.self) { try PodNetworkWorkflow.render(inventory: inv, host: "e1", subnets: subnets, renderer: TemplateRenderer()) }
    }

    @Test("a node whose cluster address is not IPv4 cannot be routed to: the error names it and the fix")
    func notIPv4() throws {
        let inv = inventory(h3Address: "node3.example.com")
        let subnets = try PodSubnetAllocator.allocate(hosts: ["h1", "h3"], podCIDR: inv.network.podCIDR, nodeSubnetSize: 24, recorded: nil)
        do {
            _ = try PodNetworkWorkflow.render(inventory: inv, host: "h1", subnets: subnets, renderer: TemplateRenderer())
            Issue.record("a hostname was accepted as a route gateway")
        } catch {
            #expect("\(error)".contains("node3.example.com is not an IPv4 address: give h3 an IPv4 internalAddress, or set spec.network.plugin: none"))
        }
    }
}
