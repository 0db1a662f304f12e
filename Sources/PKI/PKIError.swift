/// A failure of the PKI layer: what failed, on which file or certificate, why, and what to do next.
public struct PKIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var what: String
    /// The file or certificate concerned, when there is one.
    public var subject: String?
    public var reason: String
    public var hint: String

    public init(_ what: String, subject: String? = nil, reason: String, hint: String) {
        self.what = what
        self.subject = subject
        self.reason = reason
        self.hint = hint
    }

    public var description: String {
        "\(what)\(subject.map { " (\($0))" } ?? ""): \(reason); \(hint)"
    }
}
