import Foundation
import Yams

/// The components whose configuration file `spec.componentConfig` adjusts.
public enum ConfigComponent: String, Sendable, CaseIterable, Codable, Comparable {
    case kubelet
    case kubeProxy = "kube-proxy"

    /// The document kind its file holds, as the schema names it.
    var kind: String {
        switch self {
        case .kubelet: return "kubelet.config.k8s.io/v1beta1/KubeletConfiguration"
        case .kubeProxy: return "kubeproxy.config.k8s.io/v1alpha1/KubeProxyConfiguration"
        }
    }

    var typeName: String {
        switch self {
        case .kubelet: return "KubeletConfiguration"
        case .kubeProxy: return "KubeProxyConfiguration"
        }
    }

    public static func < (a: ConfigComponent, b: ConfigComponent) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Fields Capstan derives from the inventory, its PKI or its own checks, with what sets them: an override
    /// would break what Capstan relies on, so the inventory refuses it.
    static let reserved: [ConfigComponent: [String: String]] = [
        .kubelet: [
            "apiVersion": "Capstan (the file's version)",
            "kind": "Capstan (the file's kind)",
            "authentication.x509.clientCAFile": "Capstan's PKI (the cluster CA)",
            "tlsCertFile": "Capstan's PKI (the kubelet serving certificate it issues)",
            "tlsPrivateKeyFile": "Capstan's PKI (the kubelet serving certificate it issues)",
            "clusterDNS": "spec.network.serviceCIDR (the cluster DNS address is its 10th address)",
            "clusterDomain": "spec.network.clusterDomain",
            "containerRuntimeEndpoint": "Capstan's containerd installation",
            "cgroupDriver": "Capstan's containerd configuration (runc with SystemdCgroup; the kubelet must match it)",
            "healthzBindAddress": "Capstan's health gates (they probe 127.0.0.1:10248)",
            "healthzPort": "Capstan's health gates (they probe 127.0.0.1:10248)",
            "registerWithTaints": "spec.hosts[].taints",
            "staticPodPath": "Capstan (reset empties it)",
        ],
        .kubeProxy: [
            "apiVersion": "Capstan (the file's version)",
            "kind": "Capstan (the file's kind)",
            "clientConnection.kubeconfig": "Capstan's PKI (kube-proxy's kubeconfig)",
            "clusterCIDR": "spec.network.podCIDR",
            "hostnameOverride": "the host's name in spec.hosts",
            "healthzBindAddress": "Capstan's health gates (they probe 127.0.0.1:10256)",
        ],
    ]
}

/// One component's `spec.componentConfig` entry: fields merged into the configuration file Capstan renders,
/// checked against the file's Go type at `kubernetesVersion`'s minor.
public struct ComponentConfig: Sendable, Equatable, Codable {
    /// The entry as YAML (a mapping), kept as text so the inventory stays plain data.
    public var yaml: String

    public init(yaml: String) { self.yaml = yaml }

    /// One value the entry sets: the keys leading to it in the file and the value as written (flow YAML).
    public struct Field: Sendable, Equatable, Codable {
        public var keys: [String]
        public var value: String
        /// The keys joined with dots (`evictionHard.memory.available`).
        public var path: String { keys.joined(separator: ".") }
    }

    /// Every value the entry sets, mappings walked down to their leaves (a list is one value), in file order.
    public var fields: [Field] {
        guard let node = try? Yams.compose(yaml: yaml) else { return [] }
        return Self.leaves(node, keys: [])
    }

    static func leaves(_ node: Node, keys: [String]) -> [Field] {
        if case .mapping(let map) = node, !map.isEmpty {
            return map.flatMap { key, value in leaves(value, keys: keys + [key.scalar?.string ?? ""]) }
        }
        return [Field(keys: keys, value: flow(node))]
    }

    /// The key node and value at `keys` inside a mapping (the key is where a message about the field points).
    static func entry(in node: Node, at keys: [String]) -> (key: Node, value: Node)? {
        var found: (key: Node, value: Node)?
        var current = node
        for key in keys {
            guard case .mapping(let map) = current, let pair = map.first(where: { $0.key.scalar?.string == key }) else { return nil }
            found = (pair.key, pair.value)
            current = pair.value
        }
        return found
    }

    /// The value at `keys` inside a mapping.
    static func value(in node: Node, at keys: [String]) -> Node? {
        keys.isEmpty ? node : entry(in: node, at: keys)?.value
    }

    /// What `capstan plan` shows of one value: the component, the field, the value and Capstan's value it replaces.
    public struct Override: Sendable, Equatable, Encodable {
        public var component: ConfigComponent
        public var field: String
        public var value: String
        /// Capstan's value of the same field, nil when Capstan does not set it.
        public var replaces: String?
    }

    /// Each value of each entry, against `defaults` (the file Capstan renders for the component, unmerged).
    public static func overrides(_ configs: [ConfigComponent: ComponentConfig], defaults: [ConfigComponent: String]) -> [Override] {
        configs.keys.sorted().flatMap { component -> [Override] in
            let base = defaults[component].flatMap { try? Yams.compose(yaml: $0) }
            return (configs[component]?.fields ?? []).map { field in
                Override(component: component, field: field.path, value: field.value,
                         replaces: base.flatMap { value(in: $0, at: field.keys) }.map(flow))
            }
        }
    }

    /// A node as one line of flow YAML (`150`, `[a, b]`, `{memory.available: 5%}`).
    static func flow(_ node: Node) -> String {
        switch node {
        case .scalar(let s):
            return s.style == .plain || node.scalarTagName != .str ? s.string : "\"\(s.string)\""
        case .sequence(let items): return "[" + items.map(flow).joined(separator: ", ") + "]"
        case .mapping(let map): return "{" + map.map { "\(flow($0.key)): \(flow($0.value))" }.joined(separator: ", ") + "}"
        case .alias: return "*alias"
        }
    }

    /// `rendered` (a configuration file Capstan renders) with this entry merged in: mappings merge key by key,
    /// anything else (scalars, lists) replaces Capstan's value. The file's leading comment stays and a second
    /// line names the inventory key, so a reader of the host's file sees where a value came from.
    public func merged(into rendered: String, from inventoryKey: String) throws -> String {
        guard let base = try Yams.compose(yaml: rendered), let override = try Yams.compose(yaml: yaml) else { return rendered }
        let header = rendered.split(separator: "\n", omittingEmptySubsequences: false).prefix { $0.hasPrefix("#") }
        let merged = Self.merge(base, override)
        let body = try Yams.serialize(node: merged, indent: 2, width: -1, allowUnicode: true)
        return (header + ["# With \(inventoryKey) merged in (Capstan's values replaced where it sets the same field)."])
            .joined(separator: "\n") + "\n" + body
    }

    static func merge(_ base: Node, _ override: Node) -> Node {
        guard case .mapping(let b) = base, case .mapping(let o) = override else { return override }
        var pairs: [(Node, Node)] = []
        for (key, value) in b {
            if let replacement = o[key] { pairs.append((key, merge(value, replacement))) } else { pairs.append((key, value)) }
        }
        for (key, value) in o where b[key] == nil { pairs.append((key, value)) }
        return .mapping(Node.Mapping(pairs))
    }
}
