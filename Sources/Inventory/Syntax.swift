import Foundation

/// Syntax rules for names and addresses written in inventories, following Kubernetes' own
/// validation (k8s.io/apimachinery/pkg/util/validation) where Kubernetes has one.
public enum Syntax {
    private static func isLowerAlnum(_ c: Character) -> Bool { c.isASCII && (c.isLowercase || c.isNumber) }
    private static func isAlnum(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }

    /// RFC 1123 label: lowercase letters, digits and '-', starting and ending alphanumeric, at most 63.
    public static func isDNSLabel(_ s: String) -> Bool {
        guard (1...63).contains(s.count), let f = s.first, let l = s.last, isLowerAlnum(f), isLowerAlnum(l) else { return false }
        return s.allSatisfy { isLowerAlnum($0) || $0 == "-" }
    }

    /// RFC 1123 subdomain (Kubernetes node names, label prefixes): dot-separated labels, at most 253.
    public static func isDNSSubdomain(_ s: String) -> Bool {
        guard (1...253).contains(s.count) else { return false }
        return s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0)) }
    }

    /// A host name as used to reach a machine: like a subdomain, but upper case is allowed.
    public static func isHostName(_ s: String) -> Bool { isDNSSubdomain(s.lowercased()) }

    /// An IPv6 literal as `inet_pton` reads it (no zone, no brackets).
    public static func isIPv6(_ s: String) -> Bool {
        var address = in6_addr()
        return s.contains(":") && inet_pton(AF_INET6, s, &address) == 1
    }

    /// An IPv4 or IPv6 address literal.
    public static func isIPAddress(_ s: String) -> Bool { IPv4Address(parsing: s) != nil || isIPv6(s) }

    /// An IPv4 address, an IPv6 literal or a host name.
    public static func isAddress(_ s: String) -> Bool {
        isIPAddress(s) || (isHostName(s) && !s.allSatisfy { $0.isNumber || $0 == "." })
    }

    /// Name part of a Kubernetes qualified name (label key, taint key): at most 63 of [A-Za-z0-9_.-], alphanumeric at both ends.
    private static func isQualifiedNamePart(_ s: String) -> Bool {
        guard (1...63).contains(s.count), let f = s.first, let l = s.last, isAlnum(f), isAlnum(l) else { return false }
        return s.allSatisfy { isAlnum($0) || $0 == "-" || $0 == "_" || $0 == "." }
    }

    /// Why `key` is not a valid label or taint key (`[prefix/]name`), or nil when it is.
    public static func labelKeyProblem(_ key: String) -> String? {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            return isQualifiedNamePart(key) ? nil : "the name must be 1-63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        case 2:
            if !isDNSSubdomain(String(parts[0])) { return "the prefix '\(parts[0])' must be a lowercase DNS subdomain (e.g. example.com)" }
            return isQualifiedNamePart(String(parts[1])) ? nil : "the name after '/' must be 1-63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        default:
            return "a key has at most one '/' (prefix/name)"
        }
    }

    /// Label values: empty, or like a qualified name part.
    public static func isLabelValue(_ s: String) -> Bool { s.isEmpty || isQualifiedNamePart(s) }

    /// Environment variable names (`passwordEnv`).
    public static func isEnvironmentName(_ s: String) -> Bool {
        guard let f = s.first, f == "_" || (f.isASCII && f.isLetter) else { return false }
        return s.allSatisfy { $0 == "_" || isAlnum($0) }
    }

    /// Splits `host:port`, `host` or `[v6]:port`. Returns nil when the form is wrong; port nil when absent.
    public static func splitEndpoint(_ s: String) -> (host: String, port: Int?)? {
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            let host = String(s[s.index(after: s.startIndex)..<close])
            let rest = s[s.index(after: close)...]
            if rest.isEmpty { return (host, nil) }
            guard rest.first == ":", let p = Int(rest.dropFirst()) else { return nil }
            return (host, p)
        }
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return (s, nil)
        case 2:
            guard parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let p = Int(parts[1]) else { return nil }
            return (String(parts[0]), p)
        default: return isIPv6(s) ? (s, nil) : nil
        }
    }

    /// A container image reference: `[REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST]` with at least a tag or a digest.
    public static func isImageReference(_ s: String) -> Bool {
        guard !s.isEmpty, s.count <= 255, !s.contains(where: { $0.isWhitespace || !$0.isASCII }) else { return false }
        var name = Substring(s)
        var pinned = false
        if let at = name.range(of: "@") {
            let digest = name[at.upperBound...]
            guard digest.hasPrefix("sha256:"), digest.count == 71, digest.dropFirst(7).allSatisfy(\.isHexDigit) else { return false }
            name = name[..<at.lowerBound]
            pinned = true
        }
        let lastSlash = name.lastIndex(of: "/")
        let lastPart = lastSlash.map { name[name.index(after: $0)...] } ?? name
        if let colon = lastPart.lastIndex(of: ":") {
            let tag = lastPart[lastPart.index(after: colon)...]
            guard !tag.isEmpty, tag.count <= 128, tag.allSatisfy({ $0.isLetter || $0.isNumber || "_.-".contains($0) }) else { return false }
            name = name[..<colon]
            pinned = true
        }
        return pinned && !name.isEmpty && name.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part.allSatisfy { $0.isLetter || $0.isNumber || "_.-:".contains($0) }
        }
    }

    /// A DNS upstream for CoreDNS's `forward`: an IP address with an optional port, or an absolute path (resolv.conf).
    public static func isDNSUpstream(_ s: String) -> Bool {
        if s.hasPrefix("/") { return s.count > 1 && !s.contains(where: \.isWhitespace) }
        guard let (host, port) = splitEndpoint(s) else { return false }
        return isIPAddress(host) && (port.map { (1...65535).contains($0) } ?? true)
    }
}
