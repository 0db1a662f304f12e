import Foundation
import Inventory
import PKI
import Templates
import Testing
import TestSupport
@testable import Workflows

/// The objects `apply` keeps in the cluster: what they are, that every identity Capstan issues is
/// authorized by them or by Kubernetes' default policy, and that every one passes the target version's
/// schemas (kubernetes-validate, strict).
@Suite("Cluster objects: bootstrap RBAC, cluster DNS, add-ons", .tags(.unit))
struct ClusterObjectsTests {
    static let examples = ["bare-metal-ha.yaml", "external-etcd.yaml", "lab.yaml"]

    func objects(_ inventory: Inventory, monitoring: Bool = false) throws -> [ClusterObject] {
        let manifests = monitoring ? try MonitoringAddon.render(inventory: inventory, etcdClient: goldenEtcdClient) : nil
        return try ClusterObjects.objects(from: try ClusterObjects.manifests(inventory, monitoring: manifests))
    }

    func json(_ object: ClusterObject) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(object.json.utf8)) as? [String: Any])
    }

    @Test("the bootstrap bindings, CoreDNS at the address kubelets use, every object labelled as Capstan's")
    func objectsOfTheLabInventory() throws {
        let inventory = try loadInventory(AddonPaths.inventory("lab.yaml"))
        let all = try objects(inventory)
        #expect(all.map(\.id) == [
            "ClusterRoleBinding/kubeadm:cluster-admins", "ClusterRoleBinding/kubeadm:node-autoapprove-certificate-rotation",
            "ServiceAccount/kube-system/coredns", "ClusterRole/system:coredns", "ClusterRoleBinding/system:coredns",
            "ConfigMap/kube-system/coredns", "Deployment/kube-system/coredns", "Service/kube-system/kube-dns",
            "PodDisruptionBudget/kube-system/coredns",
        ])
        for object in all {
            #expect(string(try json(object), "metadata", "labels", ClusterObjects.ownerLabel) == "capstan", "\(object.id)")
        }
        let service = try json(try #require(all.first { $0.id == "Service/kube-system/kube-dns" }))
        #expect(string(service, "spec", "clusterIP") == inventory.network.serviceCIDR.address(at: 10).description)
        let deployment = try json(try #require(all.first { $0.kind == "Deployment" }))
        #expect((deployment["spec"] as? [String: Any])?["replicas"] as? Int == 2)
        let configMap = try json(try #require(all.first { $0.kind == "ConfigMap" }))
        let corefile = try #require(string(configMap, "data", "Corefile"))
        #expect(corefile.contains("kubernetes cluster.local in-addr.arpa ip6.arpa"))
        #expect(corefile.contains("forward . /etc/resolv.conf"))
    }

    @Test("the CoreDNS image follows the Kubernetes minor as kubeadm pairs them, unless the inventory pins one; upstreams and replicas come from the inventory")
    func imageAndSettings() throws {
        var inventory = try loadInventory(AddonPaths.inventory("lab.yaml"))
        for (minor, tag) in [(29, "v1.11.1"), (30, "v1.11.1"), (31, "v1.11.3"), (32, "v1.11.3")] {
            inventory.kubernetesVersion = SemanticVersion(1, minor, 0)
            #expect(ClusterObjects.context(inventory).image == "registry.k8s.io/coredns/coredns:\(tag)")
        }
        inventory.addons.dns = DNSAddonSpec(image: "mirror.example/coredns:v1.11.3", replicas: 3, upstreams: ["10.0.0.2", "10.0.0.3:5353"])
        let all = try objects(inventory)
        let deployment = try json(try #require(all.first { $0.kind == "Deployment" }))
        let before = try #require(string(((deployment["spec"] as? [String: Any])?["template"] as? [String: Any]), "metadata", "annotations", "capstan.dev/corefile-sha256"))
        #expect(object(deployment, "spec", "replicas") as? Int == 3)
        #expect(all.first { $0.kind == "ConfigMap" }?.json.contains("forward . 10.0.0.2 10.0.0.3:5353") == true)
        #expect(all.first { $0.kind == "Deployment" }?.json.contains("mirror.example/coredns:v1.11.3") == true)
        // A changed Corefile changes the pod template, so the pods roll.
        inventory.addons.dns.upstreams = ["10.0.0.9"]
        let changed = try json(try #require(try objects(inventory).first { $0.kind == "Deployment" }))
        #expect(string(((changed["spec"] as? [String: Any])?["template"] as? [String: Any]), "metadata", "annotations", "capstan.dev/corefile-sha256") != before)
        // DNS off: only the bootstrap bindings remain.
        inventory.addons.dns.enabled = false
        #expect(try objects(inventory).map(\.kind) == ["ClusterRoleBinding", "ClusterRoleBinding"])
    }

    @Test("monitoring enabled adds the monitoring add-on's objects to the same apply")
    func monitoring() throws {
        var inventory = try loadInventory(AddonPaths.inventory("lab.yaml"))
        inventory.addons.monitoring = true
        let all = try objects(inventory, monitoring: true)
        let monitoring = try MonitoringAddon.render(inventory: inventory, etcdClient: goldenEtcdClient)
        let expected = try ClusterObjects.objects(from: monitoring.orderedNames.map { ("m", monitoring.files[$0] ?? "") }).map(\.id)
        #expect(expected.contains("Namespace/monitoring") && expected.contains("Deployment/monitoring/prometheus"), "\(expected)")
        // The same apply carries the bootstrap bindings, CoreDNS and every monitoring object, in that order.
        #expect(all.map(\.id) == (try objects(inventory)).map(\.id) + expected)
        #expect(Set(all.map(\.id)).count == all.count)
    }

    @Test("every identity Capstan issues toward the API is authorized by Kubernetes' default policy or by a binding Capstan applies")
    func identitiesAreAuthorized() throws {
        let inventory = try loadInventory(AddonPaths.inventory("lab.yaml"))
        let bindings = try objects(inventory).filter { $0.kind == "ClusterRoleBinding" }
        // The API server's authorization mode is a policy default (spec.extraArgs may extend it, never drop Node or RBAC).
        let apiServerFlags = ComponentFlags.merged(.apiServer, extraArgs: [:])
        // Every client identity in the catalog that authenticates to the API server has a row.
        let clients = CertificateCatalog.kubeadm.filter { spec in
            if case .kubeconfig = spec.kind { return true }
            return spec.name == "apiserver-kubelet-client"
        }
        #expect(Set(clients.map(\.name)) == Set(ClusterIdentities.table.map(\.certificate)))
        for identity in ClusterIdentities.table {
            let spec = try #require(CertificateCatalog.spec(named: identity.certificate))
            #expect(spec.commonName == identity.user && spec.organizations == identity.groups, "\(identity.certificate): the table disagrees with the catalog")
            #expect(!identity.authorizations.isEmpty)
            let subjects = ["User:" + identity.user] + identity.groups.map { "Group:" + $0 }
            for authorization in identity.authorizations {
                switch authorization {
                case .defaultPolicy(let name):
                    let granted = try #require(DefaultBootstrapPolicy.clusterRoleBindings[name], "no default binding \(name)")
                    #expect(granted.contains(where: subjects.contains), "\(identity.certificate): \(name) does not name \(subjects)")
                case .capstan(let name):
                    let binding = try json(try #require(bindings.first { $0.name == name }, "Capstan applies no \(name)"))
                    let named = ((binding["subjects"] as? [[String: Any]]) ?? []).map { "\($0["kind"] ?? ""):\($0["name"] ?? "")" }
                    #expect(named.contains(where: subjects.contains), "\(identity.certificate): \(name) names \(named)")
                case .nodeAuthorizer:
                    #expect(identity.groups == ["system:nodes"] && identity.user.hasPrefix("system:node:"))
                    #expect(apiServerFlags.contains("--authorization-mode=Node,RBAC"))
                case .systemMasters:
                    #expect(identity.groups.contains("system:masters"))
                }
            }
        }
    }

    @Test("every object of every example inventory passes kubernetes-validate --strict for every supported version")
    func schemas() throws {
        let dir = NSTemporaryDirectory() + "capstan-objects-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for example in Self.examples {
            var inventory = try loadInventory(AddonPaths.inventory(example))
            inventory.addons.monitoring = inventory.isSelfManaged
            guard inventory.isSelfManaged else { continue }
            for minor in SupportedVersions.kubernetes.map(\.minor) {
                inventory.kubernetesVersion = SemanticVersion(1, minor, 0)
                var files: [String] = []
                for (i, object) in try objects(inventory, monitoring: true).enumerated() {
                    let path = "\(dir)/\(example)-\(minor)-\(i).json"
                    try object.json.write(toFile: path, atomically: true, encoding: .utf8)
                    files.append(path)
                }
                let r = try validate(version: "1.\(minor).0", files)
                #expect(r.status == 0, "\(example) 1.\(minor): \(r.output)")
                #expect(r.output.components(separatedBy: "passed for resource").count - 1 == files.count, "\(r.output)")
            }
        }
    }

    @Test("kubernetes-validate is a real check: a misspelled field is refused")
    func validatorRefuses() throws {
        let inventory = try loadInventory(AddonPaths.inventory("lab.yaml"))
        let pdb = try #require(try objects(inventory).first { $0.kind == "PodDisruptionBudget" })
        let path = NSTemporaryDirectory() + "capstan-bad-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try pdb.json.replacingOccurrences(of: "maxUnavailable", with: "maxUnavailabel").write(toFile: path, atomically: true, encoding: .utf8)
        let r = try validate(version: "1.31.0", [path])
        #expect(r.status != 0 && r.output.contains("maxUnavailabel"), "\(r.output)")
    }

    func validate(version: String, _ files: [String]) throws -> ProgramRun {
        try runProgram(["python3", "-m", "kubernetes_validate", "--strict", "-k", version] + files)
    }

    func object(_ value: Any?, _ path: String...) -> Any? {
        var current = value
        for key in path { current = (current as? [String: Any])?[key] }
        return current
    }
}
