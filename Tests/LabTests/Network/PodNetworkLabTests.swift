import Foundation
import Testing
import TestSupport
import Lab

/// Capstan's native pod network on lab hosts with real kernel networking: `capstan apply` writes each
/// node's bridge conflist and routes, and real CNI plugins (Debian's containernetworking-plugins, installed
/// by apply to /opt/cni/bin) put pods into network namespaces on two and three hosts (`CNIChain`).
@Suite("Pod network on lab hosts", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct PodNetworkLabTests {
    static let roles: [Int: [String]] = [1: ["control-plane", "etcd", "worker"], 2: ["worker"]]
    /// Units whose start time must not move when a node joins or leaves.
    static let watchedUnits = ["containerd", "kubelet", "kube-proxy", "capstan-pod-network", "etcd", "kube-apiserver"]

    func inventory(_ lab: Lab, roles: [Int: [String]]) throws -> (path: String, state: String) {
        let dir = Scratch.directory("net-lab") + "/cluster"
        let path = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "netlab", version: "3.5.1", roles: roles)
        return (path, dir + "/.capstan/netlab")
    }

    func subnets(_ state: String) throws -> [String: String] {
        let record = try #require(IntegrationLab.jsonObject(atPath: state + "/network/pod-subnets.json"))
        return try #require(record["nodes"] as? [String: String])
    }

    /// Capstan's routes on a host: subnet → gateway.
    func routes(_ lab: Lab, _ host: String) throws -> [String: String] {
        let out = try lab.run(in: host, ["ip", "-4", "route", "show", "proto", "211"]).stdout
        var found: [String: String] = [:]
        for line in out.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            if words.count >= 3, words[1] == "via" { found[words[0]] = words[2] }
        }
        return found
    }

    func inside(_ address: String, _ subnet: String) -> Bool {
        // Node subnets here are /24s of 10.244.0.0/16.
        subnet.hasPrefix(address.split(separator: ".").prefix(3).joined(separator: ".") + ".")
    }

    func stamps(_ lab: Lab, _ hosts: [String]) throws -> [String] {
        try hosts.flatMap { host in try Self.watchedUnits.map { try IntegrationLab.unitStartStamp(lab, host, $0 + ".service") } }
    }

    @Test("pods on two hosts reach each other unmasqueraded, reach a host masqueraded; routes and config survive a reboot; a worker joins and leaves live; a no-op re-apply changes nothing")
    func podNetwork() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let (path, state) = try inventory(lab, roles: Self.roles)
        let address = { (n: Int) in lab.layout.hostAddress(n) }

        let plan = try IntegrationLab.capstan(["plan", "-i", path, "--offline"])
        #expect(plan.stdout.contains("h1  10.244.0.0/24  (new)") && plan.stdout.contains("h2  10.244.1.0/24  (new)"), "\(plan.stdout)")

        let first = try IntegrationLab.capstan(["apply", "-i", path])
        try #require(first.succeeded, "apply failed: \(first.all)")
        let assigned = try subnets(state)
        #expect(assigned == ["h1": "10.244.0.0/24", "h2": "10.244.1.0/24"])
        #expect(try routes(lab, "h1") == ["10.244.1.0/24": address(2)])
        #expect(try routes(lab, "h2") == ["10.244.0.0/24": address(1)])

        // Pods made with the exact conflist Capstan wrote, by the real plugins.
        let a = try CNIChain.add(lab, host: "h1", pod: "pod-a")
        let b = try CNIChain.add(lab, host: "h2", pod: "pod-b")
        #expect(inside(a.address, "10.244.0.0/24"), "pod on h1 got \(a.address)")
        #expect(inside(b.address, "10.244.1.0/24"), "pod on h2 got \(b.address)")
        let ab = try CNIChain.exec(lab, a, ["ping", "-c", "2", "-W", "2", b.address])
        #expect(ab.succeeded, "pod on h1 cannot ping the pod on h2: \(ab.stdout)\(ab.stderr)")
        let ba = try CNIChain.exec(lab, b, ["ping", "-c", "2", "-W", "2", a.address])
        #expect(ba.succeeded, "pod on h2 cannot ping the pod on h1: \(ba.stdout)\(ba.stderr)")
        // Inside the pod CIDR the source stays the pod's; leaving it, the node's address takes its place.
        #expect(try CNIChain.sourceSeen(lab, listenerHost: "h2", namespace: "pod-b", address: b.address, port: 7101, client: a) == a.address)
        #expect(try CNIChain.sourceSeen(lab, listenerHost: "h2", namespace: nil, address: address(2), port: 7102, client: a) == address(1))
        let status = try IntegrationLab.capstan(["status", "-i", path])
        #expect(status.stdout.contains("h1: 10.244.0.0/24  CNI config present  routes ok"), "\(status.stdout)")

        // A route lost by hand: status flags it, plan names it, apply restores it.
        try lab.run(in: "h1", ["ip", "route", "del", "10.244.1.0/24", "proto", "211"])
        let lost = try IntegrationLab.capstan(["status", "-i", path])
        #expect(lost.stdout.contains("missing route 10.244.1.0/24 via \(address(2)) (h2)"), "\(lost.stdout)")
        let drift = try IntegrationLab.capstan(["plan", "-i", path])
        #expect(drift.stdout.contains("[h1] pod network: route add 10.244.1.0/24 via \(address(2)) (h2)"), "\(drift.stdout)")
        #expect(try IntegrationLab.capstan(["apply", "-i", path]).succeeded)
        #expect(try routes(lab, "h1") == ["10.244.1.0/24": address(2)])

        // A reboot: the unit puts routes and masquerade back, the conflist is on disk; no apply.
        try lab.stop(host: "h2")
        try lab.start(host: "h2")
        #expect(try routes(lab, "h2") == ["10.244.0.0/24": address(1)])
        #expect(try lab.run(in: "h2", ["test", "-s", "/etc/cni/net.d/10-capstan.conflist"]).succeeded)
        #expect(try lab.run(in: "h2", ["iptables", "-w", "-t", "nat", "-S", "POSTROUTING"]).stdout.contains("capstan pod egress"))
        let b2 = try CNIChain.add(lab, host: "h2", pod: "pod-b2")
        let again = try CNIChain.exec(lab, a, ["ping", "-c", "2", "-W", "2", b2.address])
        #expect(again.succeeded, "after h2's reboot the pod on h1 cannot ping a new pod on h2: \(again.stdout)\(again.stderr)")

        // A worker joins: its own subnet, routes both ways, nothing restarted on the others.
        let before = try stamps(lab, ["h1", "h2"])
        // The same inventory file (and so the same state directory), rewritten with h3.
        _ = try inventory(lab, roles: Self.roles.merging([3: ["worker"]]) { a, _ in a })
        let join = try IntegrationLab.capstan(["apply", "-i", path])
        try #require(join.succeeded, "\(join.all)")
        #expect(try subnets(state) == ["h1": "10.244.0.0/24", "h2": "10.244.1.0/24", "h3": "10.244.2.0/24"])
        #expect(try routes(lab, "h1") == ["10.244.1.0/24": address(2), "10.244.2.0/24": address(3)])
        #expect(try routes(lab, "h2") == ["10.244.0.0/24": address(1), "10.244.2.0/24": address(3)])
        #expect(try routes(lab, "h3") == ["10.244.0.0/24": address(1), "10.244.1.0/24": address(2)])
        #expect(try stamps(lab, ["h1", "h2"]) == before, "a unit on h1 or h2 restarted when h3 joined")
        let c = try CNIChain.add(lab, host: "h3", pod: "pod-c")
        #expect(inside(c.address, "10.244.2.0/24"), "pod on h3 got \(c.address)")
        let ca = try CNIChain.exec(lab, c, ["ping", "-c", "2", "-W", "2", a.address])
        #expect(ca.succeeded, "pod on h3 cannot ping the pod on h1: \(ca.stdout)\(ca.stderr)")

        // It leaves the inventory: its routes go from the others, its subnet is retired, not reused.
        _ = try inventory(lab, roles: Self.roles)
        let leave = try IntegrationLab.capstan(["apply", "-i", path])
        try #require(leave.succeeded, "\(leave.all)")
        #expect(try routes(lab, "h1") == ["10.244.1.0/24": address(2)])
        #expect(try routes(lab, "h2") == ["10.244.0.0/24": address(1)])
        #expect(try stamps(lab, ["h1", "h2"]) == before, "a unit on h1 or h2 restarted when h3 left")
        let record = try #require(IntegrationLab.jsonObject(atPath: state + "/network/pod-subnets.json"))
        #expect((record["retired"] as? [[String: String]]) == [["host": "h3", "subnet": "10.244.2.0/24"]])

        // A no-op re-apply: no action at all.
        let noop = try IntegrationLab.capstan(["apply", "-i", path, "--output", "json"])
        #expect(noop.succeeded, "\(noop.all)")
        let actions = noop.stdout.split(separator: "\n").filter { $0.contains("\"kind\":\"action\"") }
        #expect(actions.isEmpty, "no-op apply acted: \(actions)")
        print("MEASURED no-op re-apply with the pod network (2 nodes): \(String(format: "%.2f", noop.seconds)) s")

        // Pre-flight: a route someone else put inside the pod CIDR stops apply on that host, named.
        try lab.run(in: "h2", ["ip", "route", "add", "10.244.200.0/24", "dev", "eth0"])
        let conflict = try IntegrationLab.capstan(["apply", "-i", path])
        try lab.run(in: "h2", ["ip", "route", "del", "10.244.200.0/24", "dev", "eth0"])
        #expect(conflict.status == 1)
        #expect(conflict.all.contains("failed to check the pod network on h2: route '10.244.200.0/24 dev eth0 scope link' lies inside podCIDR 10.244.0.0/16"), "\(conflict.all)")
        #expect(!conflict.all.contains("on h1:"), "\(conflict.all)")
    }

    @Test("plugin none: apply takes Capstan's conflist, unit, routes and NAT rule away and installs none; plan and status say the nodes need a CNI")
    func none() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let (path, _) = try inventory(lab, roles: Self.roles)
        try #require(try IntegrationLab.capstan(["apply", "-i", path]).succeeded)
        #expect(try routes(lab, "h1").count == 1)

        let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "spec:\n", with: "spec:\n  network:\n    plugin: none\n")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let plan = try IntegrationLab.capstan(["plan", "-i", path])
        #expect(plan.stdout.contains("Pod network: none (spec.network.plugin)"), "\(plan.stdout)")
        #expect(plan.stdout.contains("[h1] remove Capstan's pod network (spec.network.plugin is none): /etc/cni/net.d/10-capstan.conflist"), "\(plan.stdout)")
        let apply = try IntegrationLab.capstan(["apply", "-i", path])
        try #require(apply.succeeded, "\(apply.all)")
        for host in ["h1", "h2"] {
            #expect(try lab.run(in: host, ["ls", "-A", "/etc/cni/net.d"]).stdout.isEmpty, "CNI configuration left on \(host)")
            #expect(try routes(lab, host).isEmpty, "Capstan routes left on \(host)")
            #expect(!(try lab.run(in: host, ["iptables", "-w", "-t", "nat", "-S", "POSTROUTING"]).stdout.contains("capstan pod egress")))
            #expect(!(try lab.run(in: host, ["systemctl", "is-enabled", "capstan-pod-network.service"]).succeeded))
        }
        let status = try IntegrationLab.capstan(["status", "-i", path])
        #expect(status.stdout.contains("h1: absent: the node stays NotReady until a CNI plugin is installed"), "\(status.stdout)")
        let noop = try IntegrationLab.capstan(["apply", "-i", path, "--output", "json"])
        #expect(noop.stdout.split(separator: "\n").filter { $0.contains("\"kind\":\"action\"") }.isEmpty, "\(noop.stdout)")
    }
}
