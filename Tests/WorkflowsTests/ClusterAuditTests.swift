import Foundation
import Inventory
import Templates
import Testing
import TestSupport
import Yams
@testable import Workflows

@Suite("capstan audit: the CIS checks against what Capstan renders", .tags(.unit))
struct ClusterAuditTests {
    /// A stacked control-plane + etcd + worker host as Capstan's templates and modes leave it.
    static func facts() throws -> HostAuditFacts {
        let renderer = TemplateRenderer()
        let context = ControlPlaneContext(
            clusterName: "lab", nodeName: "h1", advertiseAddress: "10.213.0.11", etcdServers: ["https://10.213.0.11:2379"],
            serviceCIDR: "10.96.0.0/12", podCIDR: "10.244.0.0/16", clusterDomain: "cluster.local",
            apiServerFlags: ComponentFlags.merged(.apiServer, extraArgs: [:]),
            controllerManagerFlags: ComponentFlags.merged(.controllerManager, extraArgs: [:]),
            schedulerFlags: ComponentFlags.merged(.scheduler, extraArgs: [:]))
        var facts = HostAuditFacts()
        for unit in ["kube-apiserver", "kube-controller-manager", "kube-scheduler"] {
            facts.flags[unit] = HostAuditFacts.execStartFlags(try renderer.render("kubernetes/\(unit).service", context: context))
        }
        let etcd = EtcdMemberContext(clusterName: "lab", name: "h1", address: "10.213.0.11", initialCluster: "h1=https://10.213.0.11:2380",
                               initialClusterState: "new", initialClusterToken: "t")
        facts.flags["etcd"] = HostAuditFacts.execStartFlags(try renderer.render("etcd/etcd.service", context: etcd))
        let kubelet = KubeletContext(clusterName: "lab", nodeName: "h1", nodeIP: "10.213.0.11", clusterDNS: "10.96.0.10", clusterDomain: "cluster.local")
        facts.flags["kubelet"] = HostAuditFacts.execStartFlags(try renderer.render("kubernetes/kubelet.service", context: kubelet))
        facts.kubeletConfig = try Yams.load(yaml: try renderer.render("kubernetes/kubelet-config.yaml", context: kubelet)) as? [String: Any]
        facts.proxyConfig = try Yams.load(yaml: try renderer.render("kubernetes/kube-proxy-config.yaml",
                                                                   context: KubeProxyContext(clusterName: "lab", nodeName: "h1", podCIDR: "10.244.0.0/16"))) as? [String: Any]
        facts.encryptionProviders = ["secretbox", "identity"]
        facts.clusterCA = "aa"
        facts.etcdCA = "bb"
        let root = "root:root"
        for unit in HostAuditFacts.units { facts.stats["/etc/systemd/system/\(unit).service"] = (0o644, root) }
        for conf in ["admin", "scheduler", "controller-manager", "kubelet", "kube-proxy"] { facts.stats["/etc/kubernetes/\(conf).conf"] = (0o600, root) }
        facts.stats["/etc/kubernetes/pki"] = (0o755, root)
        for base in ["ca", "apiserver", "front-proxy-ca", "kubelet-server"] {
            facts.stats["/etc/kubernetes/pki/\(base).crt"] = (0o644, root)
            facts.stats["/etc/kubernetes/pki/\(base).key"] = (0o600, root)
        }
        facts.stats["/etc/kubernetes/pki/sa.pub"] = (0o644, root)
        facts.stats["/etc/kubernetes/pki/etcd/server.key"] = (0o600, "etcd:etcd")
        facts.stats["/var/lib/etcd"] = (0o700, "etcd:etcd")
        facts.stats[HostAuditFacts.kubeletConfigPath] = (0o600, root)
        facts.stats["/etc/cni/net.d/10-capstan.conflist"] = (0o600, root)
        return facts
    }

    static let host = HostSpec(name: "h1", address: "10.213.0.11", roles: [.controlPlane, .etcd, .worker])
    static let inventory = Inventory(name: "lab", kubernetesVersion: SemanticVersion(1, 31, 4), hosts: [host], sourcePath: "/tmp/inventory.yaml")

    func results(_ facts: HostAuditFacts) throws -> [String: ClusterAudit.Result] {
        Dictionary(try ClusterAudit.audit(Self.host, inventory: Self.inventory, facts: facts).map { ($0.id, $0) }, uniquingKeysWith: { a, b in a.status == .fail ? a : b })
    }

    @Test("Capstan's rendered files and modes fail no check; each deliberate difference says why")
    func defaultsPass() throws {
        let all = try results(try Self.facts())
        let failed = all.values.filter { $0.status == .fail }.map { "\($0.id) \($0.title): \($0.detail)" }
        #expect(failed.isEmpty, "\(failed.sorted())")
        #expect(all.count >= 70, "\(all.count) checks")
        let differs = Set(all.values.filter { $0.status == .differs }.map(\.id))
        #expect(differs == ["1.1.1", "1.1.3", "1.1.5", "1.1.7", "1.2.1", "1.4.1", "4.1.1", "4.2.7", "4.2.11", "4.2.14"], "\(differs.sorted())")
        #expect(all.values.filter { $0.status == .differs }.allSatisfy { $0.detail.count > 40 })
    }

    @Test("planted departures fail the check that names them")
    func plantedFailures() throws {
        var facts = try Self.facts()
        facts.stats["/etc/kubernetes/pki/apiserver.key"] = (0o644, "root:root")
        facts.stats["/etc/kubernetes/admin.conf"] = (0o640, "root:adm")
        facts.stats["/var/lib/etcd"] = (0o755, "root:root")
        facts.flags["kube-apiserver"]?["profiling"] = "true"
        facts.flags["kube-apiserver"]?["authorization-mode"] = "AlwaysAllow"
        facts.flags["kube-apiserver"]?["tls-cipher-suites"] = "TLS_RSA_WITH_RC4_128_SHA"
        facts.flags["etcd"]?["client-cert-auth"] = nil
        facts.kubeletConfig?["authentication"] = ["anonymous": ["enabled": true]]
        facts.kubeletConfig?["readOnlyPort"] = 10255
        facts.proxyConfig?["metricsBindAddress"] = "0.0.0.0:10249"
        facts.encryptionProviders = ["identity"]
        facts.etcdCA = facts.clusterCA
        let all = try results(facts)
        for id in ["1.1.21", "1.1.13", "1.1.14", "1.1.11", "1.1.12", "1.2.15", "1.2.6", "1.2.7", "1.2.8", "1.2.28", "1.2.29", "2.2", "2.7",
                   "4.2.1", "4.2.3", "4.2.4", "4.3.1"] {
            #expect(all[id]?.status == .fail, "\(id): \(String(describing: all[id]))")
        }
        #expect(all["1.1.21"]?.detail.contains("/etc/kubernetes/pki/apiserver.key") == true)
    }
}
