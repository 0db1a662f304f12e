import Foundation
import Testing
import TestSupport
@testable import Inventory

@Suite("spec.controlPlane.loadBalancer: defaults and settings", .tags(.unit))
struct LoadBalancerInventoryTests {
    static func inventory(controlPlane: String, controlPlanes: Int, workers: Int = 1) -> String {
        var text = """
        apiVersion: capstan.dev/v1alpha1
        kind: Cluster
        metadata:
          name: lb
        spec:
          kubernetesVersion: v1.31.4
        \(controlPlane.isEmpty ? "" : "  controlPlane:\n" + controlPlane)
          hosts:

        """
        for i in 1...(controlPlanes + workers) {
            let roles = i <= controlPlanes ? "[control-plane, etcd]" : "[worker]"
            text += "    - name: h\(i)\n      address: 10.0.0.\(i)\n      roles: \(roles)\n"
        }
        return text
    }

    func load(_ text: String) throws -> Inventory {
        let result = InventoryLoader.load(text: text, path: "/tmp/lb.yaml", checkFiles: false)
        #expect(!result.diagnostics.contains { $0.severity == .error }, "\(result.diagnostics)")
        return try #require(result.inventory)
    }

    @Test("unset: several control-plane hosts get node-local, one gets none, an endpoint keeps the user's balancer (external)")
    func defaults() throws {
        let ha = try load(Self.inventory(controlPlane: "", controlPlanes: 3))
        #expect(ha.apiLoadBalancer == .nodeLocal)
        #expect(ha.localBalancerHosts.map(\.name) == ["h4"])
        let single = try load(Self.inventory(controlPlane: "", controlPlanes: 1))
        #expect(single.apiLoadBalancer == LoadBalancerMode.none)
        #expect(single.localBalancerHosts.isEmpty)
        let external = try load(Self.inventory(controlPlane: "    endpoint: lb.example.com:6443\n", controlPlanes: 3))
        #expect(external.apiLoadBalancer == .external)
        #expect(external.localBalancerHosts.isEmpty)
    }

    @Test("vip takes its address from endpoint and keeps node-local for the nodes; another port puts the balancer on control-plane hosts too")
    func vipAndPort() throws {
        let vip = try load(Self.inventory(controlPlane: "    loadBalancer: vip\n    endpoint: 10.0.0.100:6443\n    vip:\n      interface: eth0\n      virtualRouterId: 7\n", controlPlanes: 3))
        #expect(vip.apiLoadBalancer == .vip)
        #expect(vip.controlPlane.vip == VIPSpec(interface: "eth0", virtualRouterID: 7))
        #expect(vip.localBalancerHosts.map(\.name) == ["h4"])
        let port = try load(Self.inventory(controlPlane: "    loadBalancer: node-local\n    localBalancerPort: 7443\n", controlPlanes: 3))
        #expect(port.controlPlane.localBalancerPort == 7443)
        #expect(port.localBalancerHosts.map(\.name) == ["h1", "h2", "h3", "h4"])
    }
}
