/// Rendered add-on manifests: file name → manifest text, plus notes for the operator (stderr).
public struct AddonManifests: Sendable, Equatable {
    /// One Kubernetes manifest file per entry; names sort in the order `kubectl apply` needs.
    public var files: [String: String]
    /// What the operator should know about what was left out and why.
    public var notes: [String]

    public init(files: [String: String], notes: [String] = []) {
        self.files = files
        self.notes = notes
    }

    /// File names in apply order (the numeric prefixes put the Namespace first).
    public var orderedNames: [String] { files.keys.sorted() }

    /// Every file as one multi-document stream for `kubectl apply -f -`.
    public var combined: String {
        orderedNames.compactMap { files[$0] }.map { text in
            text.hasSuffix("\n") ? text : text + "\n"
        }.joined(separator: "---\n")
    }
}
