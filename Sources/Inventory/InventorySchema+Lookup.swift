import Foundation

/// Finding a key from what a user types (`capstan explain spec.hosts.ssh.port`).
extension InventorySchema {
    public enum Lookup: Sendable, Equatable {
        /// The top level (an empty path).
        case root
        case key(InventoryKey)
        /// `name` is not a key of `parent` (schema form; "" is the top level); `suggestion` is the closest key there.
        case unknown(name: String, parent: String, suggestion: String?)
    }

    /// Resolves a dotted path written as in the reference (`spec.hosts[].address`), with list indices
    /// (`spec.hosts[0].address`) or without brackets (`spec.hosts.address`). A path that does not start at
    /// the top level is read under `spec` when it names a key there (`etcd.backup`). Label keys may
    /// contain dots: everything after `labels.` is the label key.
    public static func lookup(_ written: String) -> Lookup {
        let text = written.trimmingCharacters(in: .whitespaces)
        if text.isEmpty || text == "." { return .root }
        let first = schemaPath(text).split(separator: ".", maxSplits: 1).first.map { String($0).replacingOccurrences(of: "[]", with: "") } ?? ""
        if !keys(under: "").contains(first), keys(under: "spec").contains(first) {
            return walk("spec." + text)
        }
        return walk(text)
    }

    private static func walk(_ text: String) -> Lookup {
        var parent = ""
        var current: InventoryKey?
        var rest = Substring(text)
        while !rest.isEmpty {
            if let key = current, case .names = key.type, let free = children(of: key.path).first {
                // Any label key (dots and all) is this mapping's one user-chosen child.
                return .key(free)
            }
            let end = rest.firstIndex(of: ".") ?? rest.endIndex
            var name = String(rest[..<end])
            rest = end == rest.endIndex ? "" : rest[rest.index(after: end)...]
            if let bracket = name.firstIndex(of: "[") { name = String(name[..<bracket]) }
            let options = children(of: current?.path ?? "")
            guard let next = options.first(where: { $0.name == name }) else {
                return .unknown(name: name, parent: current?.containerPath ?? parent,
                                suggestion: Spelling.suggestion(for: name, among: options.map(\.name)))
            }
            current = next
            parent = next.containerPath
        }
        return current.map { .key($0) } ?? .root
    }
}
