import Foundation
import Templates
import Testing

@Suite("Load balancer templates")
struct LoadBalancerTemplateTests {
    static let haproxy = HAProxyContext(clusterName: "lab", nodeName: "w1", port: 6443, backends: [
        .init(name: "cp1", address: "10.213.0.11"), .init(name: "cp2", address: "10.213.0.12"), .init(name: "cp3", address: "fd00::13"),
    ])

    @Test("haproxy.cfg matches Golden/loadbalancer/haproxy.cfg")
    func haproxyGolden() throws {
        let rendered = try TemplateRenderer().render("loadbalancer/haproxy.cfg", context: Self.haproxy)
        try expectGolden(rendered, golden: "loadbalancer/haproxy.cfg", template: "loadbalancer/haproxy.cfg")
    }

    @Test("haproxy.cfg: one health-checked backend per control-plane host, listening only on loopback")
    func haproxyBackends() throws {
        let rendered = try TemplateRenderer().render("loadbalancer/haproxy.cfg", context: Self.haproxy)
        let servers = rendered.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("server ") }
        #expect(servers == ["server cp1 10.213.0.11:6443 verifyhost cp1", "server cp2 10.213.0.12:6443 verifyhost cp2",
                            "server cp3 [fd00::13]:6443 verifyhost cp3"])
        #expect(rendered.contains("bind 127.0.0.1:6443\n"))
        #expect(rendered.contains("check check-ssl verify required ca-file /etc/kubernetes/pki/ca.crt inter 500ms"))
        #expect(rendered.contains("http-check send meth GET uri /readyz"))
    }
}
