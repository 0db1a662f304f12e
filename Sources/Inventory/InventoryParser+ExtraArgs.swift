import Foundation
import Yams

/// `spec.extraArgs.<component>.<flag>: value`, each flag checked against the component's flag table for the
/// inventory's Kubernetes minor, so a typo, a removed flag or a malformed value is an error at its place in
/// the file instead of a unit that crash-loops on the hosts.
extension InventoryParser {
    func parseExtraArgs(_ node: Node, kubernetesVersion: SemanticVersion?) -> [KubernetesComponent: [ExtraArg]]? {
        guard let m = section(node, path: "spec.extraArgs") else { return nil }
        var out: [KubernetesComponent: [ExtraArg]] = [:]
        for component in KubernetesComponent.allCases {
            guard let flagsNode = m.value(component.rawValue) else { continue }
            let path = "spec.extraArgs.\(component.rawValue)"
            guard case .mapping(let map) = flagsNode else {
                r.error(flagsNode.position, "\(path): expected a mapping of flag names to values (e.g. audit-log-maxage: 7), found \(flagsNode.kindDescription)")
                continue
            }
            let table = kubernetesVersion.flatMap { KubernetesFlagTable.load(binary: component.rawValue, minor: $0.minor) }
            var args: [ExtraArg] = []
            for (keyNode, valueNode) in map {
                guard case .scalar(let keyScalar) = keyNode else {
                    r.error(keyNode.position, "\(path): flag names must be strings, found \(keyNode.kindDescription)")
                    continue
                }
                let name = keyScalar.string
                let at = "\(path).\(name)"
                guard case .scalar(let valueScalar) = valueNode, !valueNode.isNull else {
                    r.error(valueNode.position ?? keyNode.position, "\(at): expected a value (a boolean flag takes true or false), found \(valueNode.isNull ? "no value" : valueNode.kindDescription)")
                    continue
                }
                if accepts(component, name: name, value: valueScalar.string, table: table, version: kubernetesVersion,
                           keyAt: keyNode.position, valueAt: valueNode.position, path: at) {
                    args.append(ExtraArg(name: name, value: valueScalar.string))
                }
            }
            if !args.isEmpty { out[component] = args }
        }
        return out
    }

    /// Reports what is wrong with one flag (errors) or worth knowing (warnings); true when it is kept.
    private func accepts(_ component: KubernetesComponent, name: String, value: String, table: KubernetesFlagTable?,
                         version: SemanticVersion?, keyAt: Position?, valueAt: Position?, path: String) -> Bool {
        let binary = component.rawValue
        func refuse(_ at: Position?, _ message: String) -> Bool {
            r.error(at, "\(path): " + message)
            return false
        }
        if let problem = Self.flagNameProblem(name, example: "audit-log-maxage: 7") { return refuse(keyAt, problem) }
        if let setBy = ComponentFlags.reserved[component]?[name] {
            return refuse(keyAt, "\(binary) --\(name) is set by \(setBy); Capstan does not let extraArgs replace it")
        }
        guard let table, let version else { return true }  // an unsupported version is reported at kubernetesVersion
        guard let flag = table.flags[name] else {
            if let others = SupportedVersions.othersHaving(besides: version.minor, among: SupportedVersions.kubernetes.map(\.minor), {
                KubernetesFlagTable.load(binary: binary, minor: $0)?.flags[name] != nil
            }) {
                return refuse(keyAt, "\(binary) 1.\(version.minor) has no flag --\(name) (\(others)); remove it or change kubernetesVersion")
            }
            if let guess = Spelling.suggestion(for: name, among: Array(table.flags.keys)) {
                return refuse(keyAt, "\(binary) 1.\(version.minor) has no flag --\(name); did you mean \(guess)?")
            }
            let unknown = "--\(name) is not in Capstan's table of \(binary) 1.\(version.minor) flags"
            if table.complete { return refuse(keyAt, unknown + "; remove it") }
            r.warning(keyAt, "\(path): " + unknown + " (the table covers the option files it cites, not all of them); if \(binary) does not know it, it refuses to start and apply stops at the first host's health gate")
            return true
        }
        if let problem = KubernetesFlagTable.valueProblem(value, type: flag.type) {
            return refuse(valueAt, "invalid value for \(binary) --\(name) (\(flag.type)): \(problem)")
        }
        if let problem = policyProblem(component, name: name, value: value) {
            return refuse(valueAt, problem)
        }
        if name == "feature-gates", let gates = FeatureGateTable.load(minor: version.minor) {
            switch FeatureGateTable.parse(value, kubePrefix: flag.type == "featureGates" && version.minor >= 32) {
            case .failure(let problem):
                return refuse(valueAt, "invalid value for \(binary) --feature-gates: \(problem)")
            case .success(let settings):
                let problems = settings.compactMap { gates.problem(name: $0.name, value: $0.value) }
                if !problems.isEmpty { return refuse(valueAt, problems.joined(separator: "; ")) }
                for setting in settings {
                    if let note = gates.note(name: setting.name, value: setting.value) { r.warning(valueAt, "\(path): " + note) }
                }
            }
        }
        if component == .apiServer, name == "enable-admission-plugins", !value.split(separator: ",").contains("NodeRestriction") {
            r.warning(valueAt, "\(path): without NodeRestriction a kubelet may change other nodes' objects (CIS checks that it is on); write NodeRestriction,\(value)")
        }
        if let deprecated = flag.deprecated {
            r.warning(keyAt, "\(path): \(binary) --\(name) is deprecated: \(deprecated)")
        }
        return true
    }

    /// What is wrong with how a flag's name is written (dashes, a value in the name), for every extraArgs mapping.
    static func flagNameProblem(_ name: String, example: String) -> String? {
        if name.hasPrefix("-") { return "write the flag without its dashes: \(name.drop(while: { $0 == "-" })): …" }
        if name.contains("=") || name.contains(" ") { return "'\(name)' is not a flag name; write name: value (e.g. \(example))" }
        return nil
    }

    /// Values Capstan's own identities cannot work without.
    private func policyProblem(_ component: KubernetesComponent, name: String, value: String) -> String? {
        guard component == .apiServer, name == "authorization-mode" else { return nil }
        let modes = value.split(separator: ",").map(String.init)
        let missing = ["Node", "RBAC"].filter { !modes.contains($0) }
        guard !missing.isEmpty else { return nil }
        return "kube-apiserver --authorization-mode must keep \(missing.joined(separator: " and ")): kubelets are authorized by the Node authorizer and Capstan's other identities by RBAC bindings; write e.g. Node,RBAC,Webhook"
    }
}
