import Foundation
import Templates
import Testing
import TestSupport

@Suite("Load balancer templates", .tags(.unit))
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

    static let keepalived = KeepalivedContext(clusterName: "lab", nodeName: "cp1", address: "10.213.0.100", interface: "host0",
                                              virtualRouterID: 51, priority: 150, sourceAddress: "10.213.0.11", peers: ["10.213.0.12", "10.213.0.13"])

    @Test("keepalived.conf matches Golden/loadbalancer/keepalived.conf")
    func keepalivedGolden() throws {
        let rendered = try TemplateRenderer().render("loadbalancer/keepalived.conf", context: Self.keepalived)
        try expectGolden(rendered, golden: "loadbalancer/keepalived.conf", template: "loadbalancer/keepalived.conf")
    }

    @Test("keepalived.conf: unicast to the other control-plane hosts only, never preempting, tracking the local /readyz")
    func keepalivedInstance() throws {
        let rendered = try TemplateRenderer().render("loadbalancer/keepalived.conf", context: Self.keepalived)
        let lines = rendered.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.contains("unicast_src_ip 10.213.0.11"))
        let peers = try #require(lines.firstIndex(of: "unicast_peer {"))
        #expect(Array(lines[(peers + 1)...(peers + 3)]) == ["10.213.0.12", "10.213.0.13", "}"])
        #expect(lines.contains("nopreempt") && lines.contains("state BACKUP") && lines.contains("vrrp_check_unicast_src"))
        #expect(lines.contains("10.213.0.100/32 dev host0"))
        #expect(rendered.contains("--cacert /etc/kubernetes/pki/ca.crt https://127.0.0.1:6443/readyz"))
    }
}
