import Foundation
import Hosts
import Inventory
import PKI
import Templates
import Testing
import TestSupport
import Yams
@testable import Workflows

/// Repository paths, from this file's location.
enum AddonPaths {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let repository = tests.deletingLastPathComponent()
    static let golden = tests.appendingPathComponent("TemplatesTests/Golden/addons")
    static func inventory(_ name: String) -> String { repository.appendingPathComponent("inventories/\(name)").path }
}

/// Fixed stand-ins for PEM files, so golden output does not change with freshly generated keys.
let goldenEtcdClient = EtcdClientMaterial(
    caCertificatePEM: "-----BEGIN CERTIFICATE-----\nR09MREVOIEVUQ0QgQ0E=\n-----END CERTIFICATE-----\n",
    certificatePEM: "-----BEGIN CERTIFICATE-----\nR09MREVOIEhFQUxUSENIRUNL\n-----END CERTIFICATE-----\n",
    keyPEM: "-----BEGIN EC PRIVATE KEY-----\nR09MREVOIEtFWQ==\n-----END EC PRIVATE KEY-----\n",
    description: "etcd/healthcheck-client of h1")

func loadInventory(_ path: String) throws -> Inventory {
    try InventoryLoader.loadOrThrow(path: path, checkFiles: false).0
}

/// Every YAML document of a manifest file, as dictionaries.
func documents(_ text: String) throws -> [[String: Any]] {
    try Yams.load_all(yaml: text).compactMap { $0 }.map { document in
        guard let dict = document as? [String: Any] else { throw WorkflowError.internalInvariant("document is not a mapping: \(document)") }
        return dict
    }
}

func string(_ value: Any?, _ path: String...) -> String? {
    var current = value
    for key in path { current = (current as? [String: Any])?[key] }
    return current as? String
}

/// `kubectl kustomize` parses every resource (kyaml) and checks apiVersion/kind/metadata.name offline.
func kustomize(_ manifests: AddonManifests) throws -> ProgramRun {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-addons-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    for (name, text) in manifests.files { try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
    let kustomization = "resources:\n" + manifests.orderedNames.map { "- \($0)\n" }.joined()
    try kustomization.write(to: dir.appendingPathComponent("kustomization.yaml"), atomically: true, encoding: .utf8)
    return try runProgram(["kubectl", "kustomize", dir.path])
}

@Suite("Monitoring add-on rendering", .tags(.unit))
struct MonitoringAddonTests {
    static let cases: [(golden: String, inventory: String)] = [("self-managed", "lab.yaml"), ("managed", "managed-workers.yaml")]

    func render(_ inventoryFile: String) throws -> AddonManifests {
        try MonitoringAddon.render(inventory: try loadInventory(AddonPaths.inventory(inventoryFile)), etcdClient: goldenEtcdClient)
    }

    @Test("renders exactly the golden manifests for a self-managed and a managed inventory", arguments: [0, 1])
    func golden(_ index: Int) throws {
        let c = Self.cases[index]
        let manifests = try render(c.inventory)
        let dir = AddonPaths.golden.appendingPathComponent(c.golden)
        if ProcessInfo.processInfo.environment["CAPSTAN_UPDATE_GOLDEN"] == "1" {
            try? FileManager.default.removeItem(at: dir)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for (name, text) in manifests.files { try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        }
        let goldenNames = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(goldenNames == manifests.orderedNames)
        for name in manifests.orderedNames {
            let expected = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            #expect(manifests.files[name] == expected, "\(name) differs from Golden/addons/\(c.golden)/\(name)")
            #expect(manifests.files[name]?.contains("{{") == false)
        }
    }

    @Test("every rendered document parses as YAML with apiVersion, kind and a name, namespaced ones in monitoring", arguments: [0, 1])
    func documentsParse(_ index: Int) throws {
        let manifests = try render(Self.cases[index].inventory)
        var kinds: [String] = []
        for name in manifests.orderedNames {
            let docs = try documents(try file(manifests, name))
            #expect(!docs.isEmpty, "\(name) holds no document")
            for doc in docs {
                let kind = try #require(string(doc, "kind"), "\(name): no kind")
                kinds.append(kind)
                #expect(string(doc, "apiVersion") != nil, "\(name): \(kind) has no apiVersion")
                #expect(string(doc, "metadata", "name") != nil, "\(name): \(kind) has no name")
                if !["Namespace", "ClusterRole", "ClusterRoleBinding"].contains(kind) {
                    #expect(string(doc, "metadata", "namespace") == "monitoring", "\(name): \(kind) outside the monitoring namespace")
                }
            }
        }
        var expected = ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet", "Deployment", "Service"]
        if index == 0 { expected.insert("Secret", at: 4) }
        #expect(kinds == expected)
        #expect(manifests.combined.hasPrefix("# Managed by Capstan (\(index == 0 ? "lab" : "shop-eks")): the monitoring add-on's namespace."))
    }

    @Test("kubectl kustomize accepts every manifest offline, and rejects a broken one", arguments: [0, 1])
    func kubectlAccepts(_ index: Int) throws {
        let manifests = try render(Self.cases[index].inventory)
        let result = try kustomize(manifests)
        #expect(result.status == 0, "kubectl kustomize: \(result.output)")
        let reparsed = try documents(result.output)
        #expect(reparsed.count == (index == 0 ? 9 : 8))
        var broken = manifests
        broken.files["30-prometheus-config.yaml"] = manifests.files["30-prometheus-config.yaml"]?.replacingOccurrences(of: "\ndata:", with: "\n data:")
        #expect(try kustomize(broken).status != 0)
    }

    func prometheusConfig(_ manifests: AddonManifests) throws -> [String: Any] {
        let configMap = try firstDocument(manifests, "30-prometheus-config.yaml")
        let text = try #require(string(configMap, "data", "prometheus.yml"))
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    func jobs(_ config: [String: Any]) -> [String: [String: Any]] {
        let list = config["scrape_configs"] as? [[String: Any]] ?? []
        return Dictionary(list.map { ($0["job_name"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
    }

    @Test("prometheus.yml scrapes API servers, kubelets, cAdvisor, node exporters and each etcd member's client URL with the client certificate")
    func selfManagedScrapeConfig() throws {
        let manifests = try render("lab.yaml")
        let jobs = jobs(try prometheusConfig(manifests))
        #expect(Set(jobs.keys) == ["kubernetes-apiservers", "etcd", "kubernetes-nodes", "kubernetes-cadvisor", "node-exporter"])

        let api = try #require(jobs["kubernetes-apiservers"])
        #expect((api["kubernetes_sd_configs"] as? [[String: Any]])?.first?["role"] as? String == "endpoints")
        #expect(string(api, "tls_config", "ca_file") == "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
        #expect(string(api, "authorization", "credentials_file") == "/var/run/secrets/kubernetes.io/serviceaccount/token")
        #expect((api["relabel_configs"] as? [[String: Any]])?.first?["regex"] as? String == "default;kubernetes;https")

        let etcd = try #require(jobs["etcd"])
        #expect(etcd["scheme"] as? String == "https")
        #expect(string(etcd, "tls_config", "cert_file") == "/etc/prometheus/secrets/etcd-client/tls.crt")
        let statics = try #require(etcd["static_configs"] as? [[String: Any]])
        #expect(statics.compactMap { ($0["targets"] as? [String])?.first } == ["10.213.0.11:2379", "10.213.0.12:2379", "10.213.0.13:2379"])
        #expect(statics.compactMap { string($0, "labels", "member") } == ["h1", "h2", "h3"])

        for (job, path) in [("kubernetes-nodes", "/metrics"), ("kubernetes-cadvisor", "/metrics/cadvisor")] {
            let j = try #require(jobs[job])
            #expect((j["kubernetes_sd_configs"] as? [[String: Any]])?.first?["role"] as? String == "node")
            #expect(j["scheme"] as? String == "https" && j["metrics_path"] as? String == path)
            #expect(string(j, "authorization", "credentials_file") == "/var/run/secrets/kubernetes.io/serviceaccount/token")
        }
        let nodeExporter = try #require(jobs["node-exporter"])
        let relabel = try #require((nodeExporter["relabel_configs"] as? [[String: Any]])?.first)
        #expect(relabel["target_label"] as? String == "__address__" && relabel["replacement"] as? String == "${1}:9100")

        // The Deployment mounts the Secret where the etcd job reads it, and carries the configuration's hash.
        let deployment = try firstDocument(manifests, "50-prometheus.yaml")
        let text = try #require(manifests.files["50-prometheus.yaml"])
        #expect(text.contains("mountPath: /etc/prometheus/secrets/etcd-client") && text.contains("secretName: etcd-client"))
        let annotation = string(deployment, "spec", "template", "metadata", "annotations", "capstan.dev/config-sha256")
        #expect(annotation?.count == 64)
    }

    @Test("a managed cluster gets no etcd job, no Secret, and a comment and note that say why")
    func managedHasNoEtcd() throws {
        let manifests = try render("managed-workers.yaml")
        #expect(manifests.files["20-etcd-client-secret.yaml"] == nil)
        let config = try prometheusConfig(manifests)
        #expect(jobs(config)["etcd"] == nil)
        #expect(jobs(config).count == 4)
        let reason = "the control plane is managed by Amazon EKS, which runs etcd itself and exposes neither its metrics endpoints nor a client certificate for them"
        let configText = try #require(manifests.files["30-prometheus-config.yaml"])
        #expect(configText.contains("# No etcd job: " + reason))
        #expect(configText.components(separatedBy: "No etcd job").count == 3, "one YAML comment and one in prometheus.yml")
        #expect(manifests.notes == ["monitoring: no etcd scrape job for shop-eks: " + reason])
        #expect(!manifests.combined.contains("etcd-client"))
        #expect(!manifests.combined.contains("PRIVATE KEY") && !manifests.combined.contains("tls.key"))
    }

    @Test("the RBAC grants get/list/watch on nodes, nodes/metrics, services, endpoints, pods and /metrics, and node exporters run on the host")
    func rbacAndDaemonSet() throws {
        let manifests = try render("lab.yaml")
        let rbac = try documents(try file(manifests, "10-rbac.yaml"))
        let role = try #require(rbac.first { string($0, "kind") == "ClusterRole" })
        let rules = try #require(role["rules"] as? [[String: Any]])
        #expect(Set(rules[0]["resources"] as? [String] ?? []) == ["nodes", "nodes/metrics", "services", "endpoints", "pods"])
        #expect(rules[0]["verbs"] as? [String] == ["get", "list", "watch"])
        #expect(rules[1]["nonResourceURLs"] as? [String] == ["/metrics"] && rules[1]["verbs"] as? [String] == ["get"])
        let binding = try #require(rbac.first { string($0, "kind") == "ClusterRoleBinding" })
        let subject = try #require((binding["subjects"] as? [[String: Any]])?.first)
        #expect(subject["name"] as? String == "prometheus" && subject["namespace"] as? String == "monitoring")

        let ds = try firstDocument(manifests, "40-node-exporter.yaml")
        let spec = try #require((ds["spec"] as? [String: Any])?["template"] as? [String: Any])
        let pod = try #require(spec["spec"] as? [String: Any])
        #expect(pod["hostNetwork"] as? Bool == true && pod["hostPID"] as? Bool == true)
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        #expect((container["image"] as? String)?.hasPrefix("prom/node-exporter:") == true)
        #expect((container["args"] as? [String])?.contains("--collector.textfile.directory=/host/var/lib/node_exporter/textfile_collector") == true)
    }

    @Test("a self-managed cluster without the etcd client certificate is refused with what to run")
    func selfManagedNeedsPKI() throws {
        let inventory = try loadInventory(AddonPaths.inventory("lab.yaml"))
        #expect {
            try MonitoringAddon.render(inventory: inventory, etcdClient: nil)
        } throws: { "\($0)".contains("capstan apply") }
    }

    @Test("material with a private key in a certificate file is refused before it reaches a manifest")
    func refusesKeyInCertificate() throws {
        let inventory = try loadInventory(AddonPaths.inventory("lab.yaml"))
        var bad = goldenEtcdClient
        bad.caCertificatePEM += "-----BEGIN EC PRIVATE KEY-----\nQ0EgS0VZ\n-----END EC PRIVATE KEY-----\n"
        #expect {
            try MonitoringAddon.render(inventory: inventory, etcdClient: bad)
        } throws: { "\($0)".contains("holds a private key") }
    }

    @Test("names that would break out of a YAML scalar are refused")
    func refusesUnsafeNames() throws {
        var inventory = try loadInventory(AddonPaths.inventory("lab.yaml"))
        inventory.hosts[1].name = "h2\"\n  evil: true"
        #expect {
            try MonitoringAddon.render(inventory: inventory, etcdClient: goldenEtcdClient)
        } throws: { "\($0)".contains("cannot go into the monitoring manifests") }
    }
}

struct MissingManifest: Error, CustomStringConvertible {
    var name: String
    var description: String { "no rendered manifest \(name)" }
}

func file(_ manifests: AddonManifests, _ name: String) throws -> String {
    guard let text = manifests.files[name] else { throw MissingManifest(name: name) }
    return text
}

func firstDocument(_ manifests: AddonManifests, _ name: String) throws -> [String: Any] {
    guard let first = try documents(try file(manifests, name)).first else { throw MissingManifest(name: name + " (empty)") }
    return first
}
