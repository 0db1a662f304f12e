/// `v1.31.4`, `3.5.1`, `1.30.0-rc.1`. The leading `v` is accepted and not stored.
public struct SemanticVersion: Sendable, Equatable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int
    public var preRelease: String?

    public init(_ major: Int, _ minor: Int, _ patch: Int, preRelease: String? = nil) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.preRelease = preRelease
    }

    public init?(parsing text: String) {
        var s = Substring(text)
        if s.first == "v" { s = s.dropFirst() }
        var pre: String?
        if let dash = s.firstIndex(of: "-") {
            pre = String(s[s.index(after: dash)...])
            s = s[..<dash]
            guard let p = pre, !p.isEmpty else { return nil }
        }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var nums: [Int] = []
        for p in parts {
            guard !p.isEmpty, p.allSatisfy({ $0.isASCII && $0.isNumber }), p.count <= 6, let n = Int(p) else { return nil }
            nums.append(n)
        }
        self.init(nums[0], nums[1], nums[2], preRelease: pre)
    }

    /// Without the leading `v`.
    public var description: String { "\(major).\(minor).\(patch)" + (preRelease.map { "-\($0)" } ?? "") }
    /// With the leading `v` (Kubernetes style).
    public var tag: String { "v" + description }

    public static func < (a: SemanticVersion, b: SemanticVersion) -> Bool {
        if (a.major, a.minor, a.patch) != (b.major, b.minor, b.patch) {
            return (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
        }
        switch (a.preRelease, b.preRelease) {
        case (nil, nil), (nil, _?): return false
        case (_?, nil): return true
        case let (x?, y?): return x < y
        }
    }
}
