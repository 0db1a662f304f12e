import Foundation
import Yams

/// `spec.componentConfig.<kubelet|kube-proxy>`: fields merged into the configuration file Capstan renders for
/// that component, each checked against the file's Go type at `kubernetesVersion`'s minor as the binary's strict
/// decoding checks it, so an unknown field or a value of the wrong kind is an error at its place in the file
/// instead of a kubelet that will not start on every node.
extension InventoryParser {
    func parseComponentConfig(_ node: Node, kubernetesVersion: SemanticVersion?) -> [ConfigComponent: ComponentConfig]? {
        guard let m = section(node, path: "spec.componentConfig") else { return nil }
        let schema = kubernetesVersion.flatMap { KubernetesConfigSchema.load(minor: $0.minor) }
        var out: [ConfigComponent: ComponentConfig] = [:]
        for component in ConfigComponent.allCases {
            guard let value = m.value(component.rawValue) else { continue }
            let path = "spec.componentConfig.\(component.rawValue)"
            r.record(path, value)
            guard case .mapping(let map) = value else {
                r.error(value.position, "\(path): expected a mapping of \(component.typeName) fields (e.g. maxPods: 150), found \(value.kindDescription)")
                continue
            }
            if map.isEmpty { continue }
            if checks(component, value, schema: schema, version: kubernetesVersion, path: path),
               let text = try? Yams.serialize(node: value, indent: 2, width: -1, allowUnicode: true) {
                out[component] = ComponentConfig(yaml: text)
            }
        }
        return out
    }

    /// Reports every problem of one component's entry; true when there is none.
    private func checks(_ component: ConfigComponent, _ node: Node, schema: KubernetesConfigSchema?,
                        version: SemanticVersion?, path: String) -> Bool {
        var ok = true
        func refuse(_ at: Node, _ message: String) {
            r.error(at.position, message)
            ok = false
        }
        // Fields Capstan sets from elsewhere: refused at the first key of the path that is written.
        let reserved = ConfigComponent.reserved[component] ?? [:]
        var refusedPaths: [String] = []
        for field in ComponentConfig.leaves(node, keys: []) {
            // A parent written as an empty mapping merges nothing; written as anything else it would replace the field.
            let owner = reserved.first { field.path == $0.key || field.path.hasPrefix($0.key + ".") || (field.value != "{}" && $0.key.hasPrefix(field.path + ".")) }
            let written = owner.map { $0.key.hasPrefix(field.path + ".") ? field.keys : $0.key.split(separator: ".").map(String.init) } ?? []
            guard let owner, let keyNode = ComponentConfig.entry(in: node, at: written)?.key else { continue }
            refuse(keyNode, "\(path).\(owner.key) is set by \(owner.value); Capstan does not let componentConfig replace it")
            refusedPaths.append(field.path)
        }
        policy(component, node, path: path, refuse: refuse)
        guard let version, let schema, let type = schema.type(ofKind: component.kind) else { return ok }  // reported at kubernetesVersion
        for problem in schema.problems(node, kind: .structure(type), path: "") where !refusedPaths.contains(where: { problem.path == $0 || problem.path.hasPrefix($0 + ".") }) {
            let at = "\(path).\(problem.path)"
            guard let (structType, name) = problem.unknownField else {
                refuse(problem.node, "\(at): \(problem.message)")
                continue
            }
            let structName = structType.split(separator: ".").last.map(String.init) ?? structType
            if let others = SupportedVersions.othersHaving(besides: version.minor, among: SupportedVersions.kubernetes.map(\.minor), {
                KubernetesConfigSchema.load(minor: $0).map { $0.fields(of: structType)[name] != nil } ?? false
            }) {
                refuse(problem.node, "\(at): \(component.rawValue) 1.\(version.minor)'s \(structName) has no field \(name) (\(others)); remove it or change kubernetesVersion")
            } else if let guess = Spelling.suggestion(for: name, among: Array(schema.fields(of: structType).keys)) {
                refuse(problem.node, "\(at): \(component.rawValue) 1.\(version.minor)'s \(structName) has no field \(name); did you mean \(guess)?")
            } else {
                refuse(problem.node, "\(at): \(component.rawValue) 1.\(version.minor)'s \(structName) has no field \(name) (its strict decoding refuses unknown fields); remove it")
            }
        }
        if case .mapping(let gatesMap)? = ComponentConfig.value(in: node, at: ["featureGates"]),
           let gates = FeatureGateTable.load(minor: version.minor) {
            for (keyNode, valueNode) in gatesMap {
                guard let name = keyNode.scalar?.string, let value = valueNode.bool else { continue }  // the schema reports the kind
                if let problem = gates.problem(name: name, value: value) {
                    refuse(gates.gates[name] == nil ? keyNode : valueNode, "\(path).featureGates.\(name): \(problem)")
                } else if let note = gates.note(name: name, value: value) {
                    r.warning(keyNode.position, "\(path).featureGates.\(name): \(note)")
                }
            }
        }
        return ok
    }

    /// Values Capstan cannot work with (refused) or the CIS benchmark checks (warned).
    private func policy(_ component: ConfigComponent, _ node: Node, path: String, refuse: (Node, String) -> Void) {
        func value(_ field: String) -> Node? { ComponentConfig.value(in: node, at: field.split(separator: ".").map(String.init)) }
        switch component {
        case .kubeProxy:
            if let mode = value("mode"), let text = mode.scalar?.string, !text.isEmpty, text != "iptables" {
                refuse(mode, "\(path).mode: Capstan runs kube-proxy in iptables mode only (its pod network, reset and audit handle iptables rules; \(text) rules would outlive reset); remove it or write iptables")
            }
        case .kubelet:
            if let anonymous = value("authentication.anonymous.enabled"), anonymous.bool == true {
                r.warning(anonymous.position, "\(path).authentication.anonymous.enabled: anonymous requests to the kubelet's API would be allowed (CIS 4.2.1 checks that they are not)")
            }
            if let mode = value("authorization.mode"), mode.scalar?.string == "AlwaysAllow" {
                r.warning(mode.position, "\(path).authorization.mode: AlwaysAllow lets any authenticated client use the kubelet's API (CIS 4.2.2 expects Webhook)")
            }
            if let port = value("readOnlyPort"), let number = port.int, number != 0 {
                r.warning(port.position, "\(path).readOnlyPort: \(number) serves pod and node data without authentication (CIS 4.2.4 expects 0)")
            }
        }
    }
}
