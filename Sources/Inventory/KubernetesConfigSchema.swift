import Foundation
import Yams

/// The Go types of the configuration files Capstan renders (KubeletConfiguration, KubeProxyConfiguration, …)
/// at one Kubernetes minor, read from upstream sources at their release tags by `Tests/Standins/regen-flags.py`
/// (`KubernetesSchemas/1.<minor>.json`: field names from the json tags, value kinds, provenance).
///
/// `spec.componentConfig` is checked against it the way the binary decodes its file (sigs.k8s.io/yaml, then
/// strict JSON decoding): an unknown field or a value of the wrong kind is refused. The strict stand-ins read
/// the same files, so the inventory check and the stand-ins cannot disagree.
public struct KubernetesConfigSchema: Sendable {
    /// One field's value kind: `string`, `bool`, `int`, `number`, `duration`, `durationOrInt`, `quantity`,
    /// `intOrString`, `time`, `bytes`, `any`, or `list`/`map` (`of` the item kind) and `struct` (`ref` a type).
    public indirect enum Kind: Sendable, Decodable {
        case scalar(String)
        case list(Kind)
        case map(Kind)
        case structure(String)

        private enum Keys: String, CodingKey { case t, of, ref }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            let t = try c.decode(String.self, forKey: .t)
            switch t {
            case "list": self = .list(try c.decode(Kind.self, forKey: .of))
            case "map": self = .map(try c.decode(Kind.self, forKey: .of))
            case "struct": self = .structure(try c.decode(String.self, forKey: .ref))
            default: self = .scalar(t)
            }
        }

        /// The Go type name encoding/json uses in its messages.
        var goName: String {
            switch self {
            case .scalar(let t):
                switch t {
                case "number": return "float64"
                case "duration", "durationOrInt": return "Duration"
                case "quantity": return "Quantity"
                case "intOrString": return "IntOrString"
                case "time": return "Time"
                case "bytes": return "[]uint8"
                default: return t
                }
            case .list(let of): return "[]" + of.goName
            case .map(let of): return "map[string]" + of.goName
            case .structure(let ref): return ref.split(separator: ".").last.map(String.init) ?? ref
            }
        }
    }

    private struct TypeEntry: Decodable {
        var fields: [String: Kind]
        var inline: [String]
    }
    private struct KindEntry: Decodable { var type: String }
    private struct File: Decodable {
        var kinds: [String: KindEntry]
        var types: [String: TypeEntry]
    }

    public let minor: Int
    private let kinds: [String: KindEntry]
    private let types: [String: TypeEntry]

    /// The schema of Kubernetes 1.`minor`, or nil when Capstan carries none.
    public static func load(minor: Int) -> KubernetesConfigSchema? {
        guard let url = Bundle.module.url(forResource: "KubernetesSchemas/1.\(minor)", withExtension: "json"),
              let data = try? Data(contentsOf: url),
              let file = try? JSONDecoder().decode(File.self, from: data) else { return nil }
        return KubernetesConfigSchema(minor: minor, kinds: file.kinds, types: file.types)
    }

    /// The Go type of a document kind (`kubelet.config.k8s.io/v1beta1/KubeletConfiguration`).
    public func type(ofKind kind: String) -> String? { kinds[kind]?.type }

    /// A struct's fields by json name, inlined structs included.
    public func fields(of ref: String) -> [String: Kind] {
        guard let entry = types[ref] else { return [:] }
        var out = entry.fields
        for inline in entry.inline {
            for (name, kind) in fields(of: inline) where out[name] == nil { out[name] = kind }
        }
        return out
    }

    /// What is wrong with `node` as a value of `kind`, as the binary's strict decoding would refuse it: each
    /// problem with the node it concerns, its dotted path under `path`, and a message. Unknown struct fields
    /// come back with `unknownField` set (the caller adds a did-you-mean).
    public struct Problem {
        public var node: Node
        public var path: String
        public var message: String
        /// The struct's type and the field name, when the problem is a field the struct does not have.
        public var unknownField: (type: String, name: String)?
    }

    public func problems(_ node: Node, kind: Kind, path: String) -> [Problem] {
        if node.isNullValue { return [] }  // null decodes into any field as its zero value
        func wrong(_ expected: String, hint: String = "") -> [Problem] {
            [Problem(node: node, path: path, message: "expected \(expected) (\(kind.goName)), found \(node.yamlKind)\(hint)")]
        }
        switch kind {
        case .scalar(let t):
            let tag = node.scalarTagName
            switch t {
            case "any": return []
            case "string": return tag == .str ? [] : wrong("a string", hint: node.scalar != nil ? "; quote it to make it text" : "")
            case "bool": return tag == .bool ? [] : wrong("true or false")
            case "int": return tag == .int ? [] : wrong("a whole number")
            case "number": return tag == .int || tag == .float ? [] : wrong("a number")
            case "duration", "durationOrInt":
                if t == "durationOrInt", tag == .int { return [] }
                guard tag == .str, let text = node.scalar?.string else { return wrong("a duration such as 30s, 5m or 1h30m") }
                return text.range(of: KubernetesFlagTable.goDuration, options: .regularExpression) != nil
                    ? [] : [Problem(node: node, path: path, message: "time: invalid duration \"\(text)\" (write e.g. 30s, 5m or 1h30m)")]
            case "quantity":
                if tag == .int || tag == .float { return [] }
                guard tag == .str, let text = node.scalar?.string else { return wrong("a quantity such as 100Mi or 0.5") }
                return text.range(of: Self.quantity, options: .regularExpression) != nil
                    ? [] : [Problem(node: node, path: path, message: "quantities must match the regular expression '\(Self.quantity)' (e.g. 100Mi, 1Gi, 500m)")]
            case "intOrString": return tag == .int || tag == .str ? [] : wrong("a number or a string")
            case "time": return tag == .str ? [] : wrong("a time (RFC 3339, quoted)")
            case "bytes":
                guard tag == .str, let text = node.scalar?.string else { return wrong("base64 text") }
                return Data(base64Encoded: text) != nil ? [] : [Problem(node: node, path: path, message: "illegal base64 data")]
            default: return []
            }
        case .list(let of):
            guard case .sequence(let items) = node else { return wrong("a list") }
            return items.enumerated().flatMap { problems($0.element, kind: of, path: "\(path)[\($0.offset)]") }
        case .map(let of):
            guard case .mapping(let map) = node else { return wrong("a mapping") }
            return map.flatMap { key, value in problems(value, kind: of, path: "\(path).\(key.scalar?.string ?? "?")") }
        case .structure(let ref):
            guard case .mapping(let map) = node else { return wrong("a mapping") }
            let known = fields(of: ref)
            return map.flatMap { key, value -> [Problem] in
                let name = key.scalar?.string ?? ""
                let child = path.isEmpty ? name : "\(path).\(name)"
                guard let field = known[name] else {
                    return [Problem(node: key, path: child, message: "unknown field \"\(name)\"", unknownField: (ref, name))]
                }
                return problems(value, kind: field, path: child)
            }
        }
    }

    /// resource.Quantity's syntax (k8s.io/apimachinery/pkg/api/resource).
    static let quantity = "^[-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
}

extension Node {
    /// The resolved YAML tag of a scalar as sigs.k8s.io/yaml sees it (YAML 1.1: yes/no/on/off are booleans),
    /// nil for mappings and lists.
    var scalarTagName: Tag.Name? {
        guard case .scalar = self else { return nil }
        return Resolver.default.resolveTag(of: self)
    }

    var isNullValue: Bool { scalarTagName == .null }

    /// "a mapping", "a list", "the boolean true", "the number 3", "the string 'x'".
    var yamlKind: String {
        switch self {
        case .mapping, .sequence, .alias: return kindDescription
        case .scalar(let s):
            switch scalarTagName {
            case .bool: return "the boolean \(s.string)"
            case .int, .float: return "the number \(s.string)"
            default: return "the string '\(s.string.count > 40 ? String(s.string.prefix(40)) + "…" : s.string)'"
            }
        }
    }
}
