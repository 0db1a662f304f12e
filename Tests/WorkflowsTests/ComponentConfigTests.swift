import Foundation
import Inventory
import Templates
import Testing
import TestSupport
import Yams
@testable import Workflows

/// `spec.componentConfig` merged into the kubelet's and kube-proxy's files: user values land, Capstan's other
/// values stay, nothing is doubled, and the result passes the strict stand-in's decoding for every minor.
@Suite("spec.componentConfig in the rendered configuration files", .tags(.unit))
struct ComponentConfigTests {
    static func nodeFiles(_ edit: (inout Inventory) -> Void = { _ in }) throws -> (inventory: Inventory, files: NodeFiles) {
        let path = StrictStandin.repository.appendingPathComponent("inventories/bare-metal-ha.yaml").path
        var inventory = try InventoryLoader.loadOrThrow(path: path, checkFiles: false).0
        edit(&inventory)
        let host = try #require(WorkerWorkflow.nodes(inventory).first)
        let versions = try #require(ComponentVersions.defaults(for: inventory.kubernetesVersion))
        return (inventory, try NodeFiles.render(host: host, inventory: inventory, versions: versions, renderer: TemplateRenderer()))
    }

    static func text(_ spec: ServiceSpec?) throws -> String {
        String(decoding: try #require(spec?.inputs.first).content, as: UTF8.self)
    }

    @Test("user values land, Capstan's other values stay, a replaced value appears once, the header names the key")
    func merged() throws {
        let (_, files) = try Self.nodeFiles()
        let kubelet = try Self.text(files.kubelet)
        let document = try #require(try Yams.load(yaml: kubelet) as? [String: Any])
        #expect(document["maxPods"] as? Int == 150)
        #expect(document["podPidsLimit"] as? Int == 8192)
        #expect(kubelet.components(separatedBy: "podPidsLimit:").count == 2, "podPidsLimit written once:\n\(kubelet)")
        #expect((document["evictionHard"] as? [String: String]) == ["memory.available": "500Mi", "nodefs.available": "10%"])
        #expect(document["shutdownGracePeriod"] as? String == "30s")
        // Capstan's values beside them are untouched.
        #expect((document["authentication"] as? [String: Any]).flatMap { ($0["x509"] as? [String: String])?["clientCAFile"] } == "/etc/kubernetes/pki/ca.crt")
        #expect((document["tlsCipherSuites"] as? [String])?.count == 6)
        #expect(document["cgroupDriver"] as? String == "systemd")
        #expect(kubelet.hasPrefix("# Managed by Capstan (") && kubelet.contains("\n# With spec.componentConfig.kubelet merged in"), "\(kubelet)")

        let proxy = try #require(try Yams.load(yaml: try Self.text(files.kubeProxy)) as? [String: Any])
        #expect(proxy["conntrack"] as? [String: AnyHashable] == ["maxPerCore": 0, "tcpEstablishedTimeout": "2h"])
        #expect(proxy["mode"] as? String == "iptables")
    }

    @Test("without spec.componentConfig the files are the templates' byte for byte (no restart when Capstan is upgraded)")
    func untouchedWithout() throws {
        let (inventory, files) = try Self.nodeFiles { $0.componentConfig = [:] }
        let host = try #require(WorkerWorkflow.nodes(inventory).first)
        let kubelet = try Self.text(files.kubelet)
        #expect(!kubelet.contains("spec.componentConfig") && kubelet.contains("podPidsLimit: 4096\n"))
        let proxy = try TemplateRenderer().render("kubernetes/kube-proxy-config.yaml", context: KubeProxyContext(
            clusterName: inventory.name, nodeName: host.name, podCIDR: inventory.network.podCIDR.description))
        #expect(try Self.text(files.kubeProxy) == proxy)
    }

    @Test("the merged files pass the strict stand-in's decoding for 1.29 to 1.32; a field it does not know is refused")
    func strict() throws {
        let (_, files) = try Self.nodeFiles()
        for minor in StrictStandin.minors {
            let kubelet = try StrictStandinRefusalTests.checkFile("KubeletConfiguration", try Self.text(files.kubelet), version: minor)
            #expect(kubelet.status == 0, "\(minor): \(kubelet.stderr)")
            let proxy = try StrictStandinRefusalTests.checkFile("KubeProxyConfiguration", try Self.text(files.kubeProxy), version: minor)
            #expect(proxy.status == 0, "\(minor): \(proxy.stderr)")
        }
        // The inventory refuses this at its line; merged anyway, the stand-in refuses it as the kubelet would.
        let (_, planted) = try Self.nodeFiles { $0.componentConfig[.kubelet] = ComponentConfig(yaml: "maxPod: 150\n") }
        let refused = try StrictStandinRefusalTests.checkFile("KubeletConfiguration", try Self.text(planted.kubelet))
        #expect(refused.status == 1 && refused.stderr.contains("unknown field \"maxPod\""), "\(refused.stderr)")
    }

    @Test("plan's list: each leaf, Capstan's value where it sets one; dotted map keys stay one key")
    func overrides() throws {
        let (inventory, _) = try Self.nodeFiles()
        let list = try ComponentConfig.overrides(of: inventory)
        let byField = Dictionary(uniqueKeysWithValues: list.map { ("\($0.component.rawValue) \($0.field)", $0) })
        #expect(byField["kubelet podPidsLimit"]?.replaces == "4096")
        #expect(byField["kubelet maxPods"].map { $0.replaces == nil && $0.value == "150" } == true)
        #expect(byField["kubelet evictionHard.nodefs.available"]?.value == "\"10%\"")
        #expect(byField["kube-proxy conntrack.tcpEstablishedTimeout"]?.replaces == nil)
        #expect(byField["kubelet featureGates.GracefulNodeShutdown"].map { $0.replaces == nil && $0.value == "true" } == true)
        #expect(list.count == 7, "\(list)")
    }
}
