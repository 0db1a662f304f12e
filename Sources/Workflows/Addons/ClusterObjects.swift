import Crypto
import Foundation
import Inventory
import Templates
import Yams

/// One object Capstan keeps in the cluster through the API.
public struct ClusterObject: Sendable, Equatable {
    public var apiVersion: String
    public var kind: String
    public var namespace: String?
    public var name: String
    /// The object as JSON (what goes to kubectl), with Capstan's ownership label.
    public var json: String

    /// `ClusterRoleBinding/kubeadm:cluster-admins`, `Deployment/kube-system/coredns`.
    public var id: String { [kind, namespace, name].compactMap { $0 }.joined(separator: "/") }
}

/// What `apply` keeps in a self-managed cluster through the API: the bootstrap RBAC kubeadm creates and
/// Capstan's identities need (`ClusterIdentities`), cluster DNS, and the monitoring add-on when the
/// inventory asks for it. Rendering is pure; `ClusterObjectsPhase` applies, diffs and prunes.
public enum ClusterObjects {
    public static let templateDirectory = "addons/cluster"
    /// The label every object carries; pruning lists by it and deletes only what carries it.
    public static let ownerLabel = "app.kubernetes.io/managed-by"
    public static let ownerValue = "capstan"
    /// The kinds Capstan may own, listed when pruning (every kind any template renders).
    public static let prunableKinds = [
        "clusterrolebindings.rbac.authorization.k8s.io", "clusterroles.rbac.authorization.k8s.io",
        "rolebindings.rbac.authorization.k8s.io", "roles.rbac.authorization.k8s.io",
        "serviceaccounts", "configmaps", "secrets", "services", "namespaces",
        "deployments.apps", "daemonsets.apps", "poddisruptionbudgets.policy",
    ]

    /// The context of the cluster templates for `inventory`.
    public static func context(_ inventory: Inventory) -> ClusterObjectsContext {
        let dns = inventory.addons.dns
        return ClusterObjectsContext(
            clusterName: inventory.name, dnsIP: inventory.network.serviceCIDR.address(at: 10).description,
            clusterDomain: inventory.network.clusterDomain, upstreams: dns.upstreams.joined(separator: " "),
            replicas: dns.replicas, image: dns.image ?? SupportedVersions.coreDNSImage(for: inventory.kubernetesVersion))
    }

    /// Every manifest, file name → YAML (documents separated by `---`), in apply order.
    public static func manifests(_ inventory: Inventory, monitoring: AddonManifests?, renderer: TemplateRenderer = TemplateRenderer()) throws -> [(name: String, text: String)] {
        var context = Self.context(inventory)
        var out: [(String, String)] = [("10-bootstrap-rbac.yaml", try renderer.render(templateDirectory + "/bootstrap-rbac.yaml", context: context))]
        if inventory.addons.dns.enabled {
            // The annotation needs the Corefile's hash: render once without it to read the Corefile.
            let draft = try renderer.render(templateDirectory + "/coredns.yaml", context: context)
            context.corefileSHA256 = SHA256.hash(data: Data(corefile(in: draft).utf8)).map { String(format: "%02x", $0) }.joined()
            out.append(("20-coredns.yaml", try renderer.render(templateDirectory + "/coredns.yaml", context: context)))
        }
        if let monitoring {
            for name in monitoring.orderedNames { out.append(("30-monitoring-" + name, monitoring.files[name] ?? "")) }
        }
        return out
    }

    static func corefile(in manifest: String) -> String {
        guard let start = manifest.range(of: "Corefile: |\n") else { return "" }
        let rest = manifest[start.upperBound...]
        return String(rest[..<(rest.range(of: "\n---")?.lowerBound ?? rest.endIndex)])
    }

    /// Parses the manifests into objects: each document must name apiVersion, kind and metadata.name; the
    /// ownership label is added to every object (the monitoring templates carry their own labels too).
    public static func objects(from manifests: [(name: String, text: String)]) throws -> [ClusterObject] {
        var out: [ClusterObject] = []
        var seen: Set<String> = []
        for (file, text) in manifests {
            for document in try Yams.load_all(yaml: text) {
                guard var object = document as? [String: Any] else { continue }
                guard let apiVersion = object["apiVersion"] as? String, let kind = object["kind"] as? String,
                      var metadata = object["metadata"] as? [String: Any], let name = metadata["name"] as? String else {
                    throw WorkflowError.namedFile("\(file): a document lacks apiVersion, kind or metadata.name")
                }
                var labels = metadata["labels"] as? [String: Any] ?? [:]
                labels[ownerLabel] = ownerValue
                metadata["labels"] = labels
                object["metadata"] = metadata
                let namespace = metadata["namespace"] as? String
                let data = try JSONSerialization.data(withJSONObject: jsonSafe(object), options: [.sortedKeys, .withoutEscapingSlashes])
                let item = ClusterObject(apiVersion: apiVersion, kind: kind, namespace: namespace, name: name,
                                         json: String(decoding: data, as: UTF8.self))
                guard seen.insert(item.id).inserted else { throw WorkflowError.namedFile("\(file): \(item.id) is defined twice") }
                out.append(item)
            }
        }
        return out
    }

    /// Yams gives Int, Double, Bool, String, arrays and dictionaries; JSONSerialization takes them as they are.
    static func jsonSafe(_ value: Any) -> Any {
        switch value {
        case let d as [String: Any]: return d.mapValues(jsonSafe)
        case let a as [Any]: return a.map(jsonSafe)
        default: return value
        }
    }

    /// Every object in one stream for `kubectl … -f -` (a JSON `List`).
    public static func stream(_ objects: [ClusterObject]) -> String {
        "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[" + objects.map(\.json).joined(separator: ",") + "]}\n"
    }
}
