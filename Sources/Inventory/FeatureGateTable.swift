import Foundation

/// The feature gates the Kubernetes binaries of one minor register, read from upstream sources by
/// `Tests/Standins/regen-feature-gates.py` (`FeatureGates/kubernetes-1.<minor>.json` names the repository,
/// ref and file of each source). kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
/// kube-proxy share one gate set, so one table per minor serves every component.
///
/// `featureGates` in `spec.componentConfig` and `feature-gates` in `spec.extraArgs` are checked against it as
/// the binaries' `featureGate.Set` checks them at start: an unknown gate, or a value other than the default of
/// a gate locked to it, is an error at its FILE:LINE:COL instead of a component that will not start. The
/// strict stand-ins refuse the same settings from the same files.
public struct FeatureGateTable: Sendable {
    public struct Gate: Sendable, Decodable, Equatable {
        public var `default`: Bool
        /// `Alpha`, `Beta`, `GA` or `Deprecated` at this minor.
        public var stage: String
        /// The binary refuses any value but the default.
        public var locked: Bool

        public init(default: Bool, stage: String, locked: Bool) {
            self.default = `default`
            self.stage = stage
            self.locked = locked
        }
    }

    public var minor: Int
    public var gates: [String: Gate]

    private struct File: Decodable {
        var gates: [String: Gate]
    }

    /// The gates of Kubernetes 1.`minor`, or nil when Capstan carries no table for it.
    public static func load(minor: Int) -> FeatureGateTable? {
        guard let url = Bundle.module.url(forResource: "FeatureGates/kubernetes-1.\(minor)", withExtension: "json"),
              let data = try? Data(contentsOf: url),
              let file = try? JSONDecoder().decode(File.self, from: data) else { return nil }
        return FeatureGateTable(minor: minor, gates: file.gates)
    }

    /// What stops a 1.`minor` binary given `name=value` (an error); nil when it starts.
    public func problem(name: String, value: Bool) -> String? {
        guard let gate = gates[name] else {
            if let others = SupportedVersions.othersHaving(besides: minor, among: SupportedVersions.kubernetes.map(\.minor), {
                FeatureGateTable.load(minor: $0)?.gates[name] != nil
            }) {
                return "Kubernetes 1.\(minor) has no feature gate \(name) (\(others)); remove it or change kubernetesVersion"
            }
            if let guess = Spelling.suggestion(for: name, among: Array(gates.keys)) {
                return "Kubernetes 1.\(minor) has no feature gate \(name); did you mean \(guess)?"
            }
            return "Kubernetes 1.\(minor) has no feature gate \(name) (its components refuse to start: unrecognized feature gate); remove it"
        }
        if gate.locked, gate.default != value {
            return "feature gate \(name) is \(gate.stage) and locked to \(gate.default) in Kubernetes 1.\(minor) (its components refuse \(name)=\(value) at start); remove it"
        }
        return nil
    }

    /// Worth knowing about a valid setting (a warning); nil when there is nothing to say.
    public func note(name: String, value: Bool) -> String? {
        guard let gate = gates[name] else { return nil }
        if gate.stage == "Deprecated" { return "feature gate \(name) is deprecated in Kubernetes 1.\(minor) and will be removed" }
        if gate.default == value, gate.stage == "GA" { return "feature gate \(name) is GA in Kubernetes 1.\(minor) and already \(value); the setting can go" }
        return nil
    }

    /// A `--feature-gates` value read as `featureGate.Set` reads it: comma-separated `Name=bool` pairs, spaces
    /// trimmed, empty items skipped. `kubePrefix`: the 1.32+ component registry of kube-apiserver,
    /// kube-controller-manager and kube-scheduler also takes `kube:Name=bool`, all or none of the pairs.
    /// Returns the pairs, or what the binary would refuse.
    public static func parse(_ text: String, kubePrefix: Bool) -> Result<[(name: String, value: Bool)], ParseError> {
        var out: [(name: String, value: Bool)] = []
        var prefixed = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = item.trimmingCharacters(in: .whitespaces)
            if pair.isEmpty { continue }
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            var name = parts[0].trimmingCharacters(in: .whitespaces)
            guard parts.count == 2 else { return .failure(ParseError("missing bool value for \(name) (write \(name)=true)")) }
            let raw = parts[1].trimmingCharacters(in: .whitespaces)
            if let colon = name.firstIndex(of: ":") {
                let component = String(name[..<colon])
                guard kubePrefix, component == "kube" else {
                    return .failure(ParseError(kubePrefix ? "component not registered: \(component) (only kube: may prefix a gate)"
                                                          : "\(name): this component takes gate names without a component prefix"))
                }
                name = String(name[name.index(after: colon)...])
                prefixed += 1
            }
            guard let value = KubernetesFlagTable.goBool(raw) else {
                return .failure(ParseError("invalid value of \(name)=\(raw): strconv.ParseBool: parsing \"\(raw)\": invalid syntax (write true or false)"))
            }
            out.append((name, value))
        }
        if prefixed > 0, prefixed != out.count {
            return .failure(ParseError("write every gate with the kube: prefix or none of them; the components refuse a mix"))
        }
        return .success(out)
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}
