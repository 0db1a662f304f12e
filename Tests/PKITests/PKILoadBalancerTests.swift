import Foundation
import Inventory
import PKI
import Testing
import TestSupport

@Suite("Kubeconfig servers per API load balancer", .tags(.unit))
struct PKILoadBalancerTests {
    func servers(_ inv: Inventory) throws -> [String: String] {
        var out: [String: String] = [:]
        for req in try CertificateCatalog.required(for: inv) { if let path = req.kubeconfigPath { out[path] = req.server } }
        return out
    }

    @Test("node-local: kubelets and kube-proxies use 127.0.0.1 (the balancer, or a control-plane host's own API server); admin.conf the endpoint")
    func nodeLocal() throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var inv = Fixture.inventory(controlPlanes: 3, workers: 1, endpoint: nil, dir: dir)
        #expect(inv.apiLoadBalancer == .nodeLocal)
        var s = try servers(inv)
        #expect(s["kubeconfig/hosts/w1/kubelet.conf"] == "https://127.0.0.1:6443")
        #expect(s["kubeconfig/hosts/cp2/kubelet.conf"] == "https://127.0.0.1:6443")
        #expect(s["kubeconfig/kube-proxy.conf"] == "https://127.0.0.1:6443")
        #expect(s["kubeconfig/admin.conf"] == "https://192.168.0.1:6443")
        #expect(s["kubeconfig/hosts/cp2/scheduler.conf"] == "https://192.168.0.2:6443")

        inv.controlPlane.localBalancerPort = 7443
        s = try servers(inv)
        #expect(s["kubeconfig/hosts/cp1/kubelet.conf"] == "https://127.0.0.1:7443")

        inv.controlPlane.loadBalancer = .vip
        inv.controlPlane.endpoint = "10.0.0.100:6443"
        inv.controlPlane.localBalancerPort = 6443
        s = try servers(inv)
        #expect(s["kubeconfig/admin.conf"] == "https://10.0.0.100:6443")
        #expect(s["kubeconfig/hosts/w1/kubelet.conf"] == "https://127.0.0.1:6443")
        let apiserver = try #require(try CertificateCatalog.required(for: inv).first { $0.name == "apiserver" && $0.host == "cp1" })
        let sans = Set(apiserver.sans.map(\.description))
        #expect(sans.isSuperset(of: ["10.0.0.100", "127.0.0.1", "localhost"]), "\(sans)")
    }

    @Test("external keeps today's behaviour: every kubeconfig but the local components' uses the endpoint")
    func external() throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inv = Fixture.inventory(controlPlanes: 3, workers: 1, dir: dir)
        #expect(inv.apiLoadBalancer == .external)
        let s = try servers(inv)
        #expect(s["kubeconfig/hosts/w1/kubelet.conf"] == "https://api.example.test:6443")
        #expect(s["kubeconfig/kube-proxy.conf"] == "https://api.example.test:6443")
    }
}
