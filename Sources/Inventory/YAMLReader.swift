import Yams

/// A mapping node read with its allowed keys checked: unknown keys are already reported,
/// values are looked up by key with their dotted path for messages (`spec.hosts[0].address`).
struct MappingView {
    let path: String
    let position: Position?
    /// Keys in file order, with the key node (for its mark) and the value node.
    let entries: [(key: String, keyNode: Node, value: Node)]
    /// Allowed key → the unknown key written instead (already reported with a did-you-mean).
    var misspelt: [String: String] = [:]
    /// The reader that made this view; it notes which values the parser asked for.
    var reader: YAMLReader?

    /// The value node, or nil when the key is absent or its value is YAML null (`key:` or `key: ~`).
    func value(_ key: String) -> Node? {
        reader?.noteRead(child(key))
        return presentValue(key)
    }

    /// Whether the key has a value; unlike `value`, not a read of it.
    func has(_ key: String) -> Bool { presentValue(key) != nil }

    private func presentValue(_ key: String) -> Node? {
        guard let v = entries.first(where: { $0.key == key })?.value, !v.isNull else { return nil }
        return v
    }
    func keyNode(_ key: String) -> Node? { entries.first(where: { $0.key == key })?.keyNode }
    func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}

/// A 1-based line and column (libyaml counts columns in Unicode scalars).
struct Position: Sendable, Equatable {
    var line: Int
    var column: Int
}

extension Position {
    init(_ m: Mark) { self.init(line: m.line, column: m.column) }
}

extension Node {
    var position: Position? { mark.map(Position.init) }

    var isNull: Bool {
        if case .scalar(let s) = self { return self.null != nil || (s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string)) }
        return false
    }

    /// "a mapping", "a list", "the number 3", "'text'": for "expected X, found Y" messages.
    var kindDescription: String {
        switch self {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let s):
            let text = s.string.count > 40 ? String(s.string.prefix(40)) + "…" : s.string
            return "'\(text)'"
        }
    }
}

/// Collects diagnostics for one file and reads typed values out of Yams nodes, reporting
/// (never throwing) every problem with the node's line and column.
final class YAMLReader {
    let file: String
    private(set) var diagnostics: [Diagnostic] = []
    /// Where each value was written, by dotted path; cross-field checks point here.
    private(set) var marks: [String: Position] = [:]
    /// Paths whose value was present but invalid; cross-field checks skip them to avoid a second, derived complaint.
    private(set) var invalidPaths: Set<String> = []
    /// Paths whose values the parser asked for (a key it allows but never reads would be silently ignored).
    private(set) var readPaths: Set<String> = []

    init(file: String) { self.file = file }

    func error(_ mark: Position?, _ message: String) { add(.error, mark, message) }
    func warning(_ mark: Position?, _ message: String) { add(.warning, mark, message) }

    func error(at path: String, _ message: String) { add(.error, mark(for: path), message) }
    func warning(at path: String, _ message: String) { add(.warning, mark(for: path), message) }

    /// A node reached through several aliases is reported once, under the first path that reached it.
    private var reported: Set<String> = []

    private func add(_ severity: Diagnostic.Severity, _ mark: Position?, _ message: String) {
        let gist = message.split(separator: ":", maxSplits: 1).last.map(String.init) ?? message
        guard reported.insert("\(mark?.line ?? 0):\(mark?.column ?? 0):\(severity):\(gist)").inserted else { return }
        diagnostics.append(Diagnostic(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0, severity: severity, message: message))
    }

    func record(_ path: String, _ node: Node) { if let m = node.position { marks[path] = m } }
    func markInvalid(_ path: String) { invalidPaths.insert(path) }
    func noteRead(_ path: String) { readPaths.insert(path) }

    /// The mark of `path`, or of its nearest recorded parent (`spec.hosts[1].ssh.port` → `spec.hosts[1].ssh`).
    func mark(for path: String) -> Position? {
        var p = Substring(path)
        while true {
            if let m = marks[String(p)] { return m }
            guard let cut = p.lastIndex(where: { $0 == "." || $0 == "[" }) else { return nil }
            p = p[..<cut]
        }
    }

    // MARK: structure

    /// Reads a mapping and reports keys not in `allowed` (with a did-you-mean; nil takes any key) and non-string
    /// keys. Supports YAML merge keys (`<<: *anchor`): merged keys never override keys written in the mapping.
    func mapping(_ node: Node, path: String, allowed: [String]?) -> MappingView? {
        guard case .mapping(let m) = node else {
            error(node.position, "\(Self.display(path)): expected a mapping, found \(node.kindDescription)")
            markInvalid(path)
            return nil
        }
        record(path, node)
        var entries: [(key: String, keyNode: Node, value: Node)] = []
        var merged: [(key: String, keyNode: Node, value: Node)] = []
        var misspelt: [String: String] = [:]
        for (k, v) in m {
            guard case .scalar(let ks) = k else {
                error(k.position, "\(Self.display(path)): keys must be plain strings, found \(k.kindDescription)")
                continue
            }
            if ks.string == "<<" && ks.style == .plain {
                let sources: [Node]
                switch v {
                case .mapping: sources = [v]
                case .sequence(let s): sources = Array(s)
                default: sources = []
                }
                guard !sources.isEmpty else {
                    error(v.position, "\(path).<<: a merge key needs a mapping or a list of mappings, found \(v.kindDescription)")
                    continue
                }
                for source in sources {
                    guard case .mapping(let sm) = source else {
                        error(source.position, "\(path).<<: a merge key needs mappings, found \(source.kindDescription)")
                        continue
                    }
                    for (mk, mv) in sm {
                        if case .scalar(let mks) = mk { merged.append((mks.string, mk, mv)) }
                    }
                }
                continue
            }
            let key = ks.string
            if let allowed, !allowed.contains(key) {
                error(k.position, unknownKeyMessage(key, in: path, allowed: allowed))
                if let guess = Spelling.suggestion(for: key, among: allowed) { misspelt[guess] = key }
            } else {
                entries.append((key, k, v))
            }
        }
        for e in merged where !entries.contains(where: { $0.key == e.key }) {
            if let allowed, !allowed.contains(e.key) {
                error(e.keyNode.position, unknownKeyMessage(e.key, in: path, allowed: allowed))
            } else {
                entries.append(e)
            }
        }
        for e in entries { record("\(path).\(e.key)", e.value) }
        return MappingView(path: path, position: node.position, entries: entries, misspelt: misspelt, reader: self)
    }

    /// The top level has no path; messages name it in words.
    static func display(_ path: String) -> String { path.isEmpty ? "top level" : path }

    private func unknownKeyMessage(_ key: String, in path: String, allowed: [String]) -> String {
        Spelling.unknownKey(key, in: Self.display(path), allowed: allowed)
    }

    func requireKeys(_ m: MappingView, _ keys: [String]) {
        for key in keys where !m.has(key) {
            if let k = m.keyNode(key) {
                error(k.position, "\(m.child(key)): a value is required")
            } else {
                if m.misspelt[key] == nil { error(m.position, "\(Self.display(m.path)): missing required key '\(key)'") }
            }
            markInvalid(m.child(key))
        }
    }

    func sequence(_ node: Node, path: String) -> [Node]? {
        guard case .sequence(let s) = node else {
            error(node.position, "\(path): expected a list, found \(node.kindDescription)")
            markInvalid(path)
            return nil
        }
        return Array(s)
    }

    // MARK: scalars

    /// Any scalar as text (YAML `port: 22` is also the text "22"); mappings and lists are wrong types.
    func string(_ m: MappingView, _ key: String) -> String? {
        guard let node = m.value(key) else { return nil }
        return scalarText(node, path: m.child(key))
    }

    func scalarText(_ node: Node, path: String) -> String? {
        guard case .scalar(let s) = node else {
            error(node.position, "\(path): expected a string, found \(node.kindDescription)")
            markInvalid(path)
            return nil
        }
        return s.string
    }

    /// A non-empty string (empty strings are reported as errors).
    func nonEmptyString(_ m: MappingView, _ key: String) -> String? {
        guard let s = string(m, key) else { return nil }
        guard !s.allSatisfy(\.isWhitespace) else {
            invalid(m, key, "\(m.child(key)): must not be empty")
            return nil
        }
        return s
    }

    func int(_ m: MappingView, _ key: String) -> Int? {
        guard let node = m.value(key) else { return nil }
        guard case .scalar(let s) = node, s.style == .plain || s.style == .singleQuoted || s.style == .doubleQuoted else {
            invalid(m, key, "\(m.child(key)): expected an integer, found \(node.kindDescription)")
            return nil
        }
        guard let n = Int(s.string) else {
            let digits = s.string.allSatisfy { $0.isASCII && ($0.isNumber || $0 == "-" || $0 == "+") } && !s.string.isEmpty
            invalid(m, key, "\(m.child(key)): " + (digits ? "\(s.string) is out of range" : "expected an integer, found \(node.kindDescription)"))
            return nil
        }
        return n
    }

    func bool(_ m: MappingView, _ key: String) -> Bool? {
        guard let node = m.value(key) else { return nil }
        if case .scalar(let s) = node {
            switch s.string {
            case "true", "True", "TRUE": return true
            case "false", "False", "FALSE": return false
            default: break
            }
        }
        invalid(m, key, "\(m.child(key)): expected true or false, found \(node.kindDescription)")
        return nil
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ m: MappingView, _ key: String, _ type: E.Type, what: String) -> E? where E.RawValue == String {
        guard let text = string(m, key) else { return nil }
        return enumValue(text, E.self, path: m.child(key), what: what)
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ text: String, _ type: E.Type, path: String, what: String, node: Node? = nil) -> E? where E.RawValue == String {
        if let v = E(rawValue: text) { return v }
        let options = E.allCases.map(\.rawValue)
        var message = "\(path): unsupported \(what) '\(text)'"
        if let guess = Spelling.suggestion(for: text, among: options) { message += "; did you mean '\(guess)'?" }
        message += " (supported: \(options.joined(separator: ", ")))"
        if let node { error(node.position, message) } else { error(at: path, message) }
        markInvalid(path)
        return nil
    }

    func timeSpan(_ m: MappingView, _ key: String) -> TimeSpan? {
        guard let text = string(m, key) else { return nil }
        guard let span = TimeSpan(parsing: text) else {
            invalid(m, key, "\(m.child(key)): '\(text)' is not a duration (use a number with a unit: 90s, 15m, 24h, 30d, 1y, or 1h30m)")
            return nil
        }
        return span
    }

    func version(_ m: MappingView, _ key: String) -> SemanticVersion? {
        guard let text = string(m, key) else { return nil }
        guard let v = SemanticVersion(parsing: text) else {
            invalid(m, key, "\(m.child(key)): '\(text)' is not a version (expected MAJOR.MINOR.PATCH, e.g. v1.31.4; quote it if YAML reads it as a number)")
            return nil
        }
        return v
    }

    func port(_ m: MappingView, _ key: String) -> Int? {
        guard let p = int(m, key) else { return nil }
        guard (1...65535).contains(p) else {
            invalid(m, key, "\(m.child(key)): \(p) is not a valid port (1-65535)")
            return nil
        }
        return p
    }

    func stringList(_ m: MappingView, _ key: String) -> [(String, Node)]? {
        guard let node = m.value(key), let items = sequence(node, path: m.child(key)) else { return nil }
        var out: [(String, Node)] = []
        for (i, item) in items.enumerated() {
            if let s = scalarText(item, path: "\(m.child(key))[\(i)]") { out.append((s, item)) }
        }
        return out
    }

    /// Reports at the value of `key` and marks it invalid.
    func invalid(_ m: MappingView, _ key: String, _ message: String) {
        error(m.value(key)?.position ?? m.keyNode(key)?.position ?? m.position, message)
        markInvalid(m.child(key))
    }
}
