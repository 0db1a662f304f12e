import Foundation
import Templates
import Testing
import TestSupport

let podNetworkContext = PodNetworkContext(
    clusterName: "lab", nodeName: "h1", subnet: "10.244.0.0/24", gateway: "10.244.0.1", podCIDR: "10.244.0.0/16",
    routes: [.init(subnet: "10.244.1.0/24", via: "10.213.0.12", node: "h2"), .init(subnet: "10.244.2.0/24", via: "10.213.0.13", node: "h3")])

@Suite("Pod network templates", .tags(.unit))
struct NetworkTemplateTests {
    static let cases = ["10-capstan.conflist", "pod-network.conf", "pod-network.sh", "capstan-pod-network.service"]

    @Test("renders every pod network template exactly as its golden file", arguments: cases)
    func golden(_ name: String) throws {
        let rendered = try TemplateRenderer().render("network/" + name, context: podNetworkContext)
        try expectGolden(rendered, golden: "network/" + name, template: "network/" + name)
        #expect(!rendered.contains("{{") && !rendered.contains("&#"))
    }

    @Test("the conflist is JSON: bridge with host-local on the node's subnet, hairpin, then portmap and loopback; Capstan masquerades, not the bridge")
    func conflist() throws {
        let text = try TemplateRenderer().render("network/10-capstan.conflist", context: podNetworkContext)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let plugins = try #require(json["plugins"] as? [[String: Any]])
        #expect(plugins.map { $0["type"] as? String } == ["bridge", "portmap", "loopback"])
        #expect(plugins[0]["hairpinMode"] as? Bool == true)
        #expect(plugins[0]["isGateway"] as? Bool == true)
        // The bridge plugin's ipMasq would hide pod addresses from pods on other nodes too.
        #expect(plugins[0]["ipMasq"] as? Bool == false)
        let ipam = try #require(plugins[0]["ipam"] as? [String: Any])
        #expect(ipam["type"] as? String == "host-local")
        let ranges = try #require(ipam["ranges"] as? [[[String: String]]])
        #expect(ranges == [[["subnet": "10.244.0.0/24", "gateway": "10.244.0.1"]]])
    }

    @Test("the routes file names every other node's subnet and the masquerade rule")
    func routesFile() throws {
        let text = try TemplateRenderer().render("network/pod-network.conf", context: podNetworkContext)
        let lines = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines == ["masquerade 10.244.0.0/24 10.244.0.0/16", "route 10.244.1.0/24 10.213.0.12 h2", "route 10.244.2.0/24 10.213.0.13 h3"])
    }

    @Test("systemd-analyze verify accepts the oneshot unit, and sh parses the script")
    func unitAndScript() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var context = podNetworkContext
        context.scriptPath = dir + "/pod-network.sh"
        let r = TemplateRenderer()
        try r.render("network/pod-network.sh", context: context).write(toFile: context.scriptPath, atomically: true, encoding: .utf8)
        try r.render("network/capstan-pod-network.service", context: context).write(toFile: dir + "/capstan-pod-network.service", atomically: true, encoding: .utf8)
        let verify = try runProgram(["systemd-analyze", "verify", "--man=no", dir + "/capstan-pod-network.service"])
        #expect(verify.status == 0, "\(verify.output)")
        #expect(verify.output.split(separator: "\n").filter { $0.contains(dir) }.isEmpty, "\(verify.output)")
        let syntax = try runProgram(["sh", "-n", context.scriptPath])
        #expect(syntax.status == 0, "\(syntax.output)")
    }
}
