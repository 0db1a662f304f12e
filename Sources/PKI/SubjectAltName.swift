import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A subject alternative name as Capstan compares them: IPs by their bytes (so `::1` and `0:0::1` match).
public enum SubjectAltName: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    case dns(String)
    case ip([UInt8])

    /// An IP SAN when `text` is an IPv4/IPv6 literal, a DNS SAN otherwise (DNS names compare lowercased).
    public init(_ text: String) {
        if let bytes = Self.ipBytes(text) { self = .ip(bytes) } else { self = .dns(text.lowercased()) }
    }

    public static func ipBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if !text.contains(":"), inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    public var description: String {
        switch self {
        case .dns(let name): return name
        case .ip(let bytes):
            if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
            var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let ok = bytes.withUnsafeBytes { raw in inet_ntop(AF_INET6, raw.baseAddress, &buf, socklen_t(buf.count)) != nil }
            return ok ? String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : bytes.map { String(format: "%02x", $0) }.joined()
        }
    }

    public var isIP: Bool { if case .ip = self { return true } else { return false } }

    public static func < (a: SubjectAltName, b: SubjectAltName) -> Bool {
        switch (a, b) {
        case (.dns(let x), .dns(let y)): return x < y
        case (.ip(let x), .ip(let y)): return x.count != y.count ? x.count < y.count : x.lexicographicallyPrecedes(y)
        case (.dns, .ip): return true
        case (.ip, .dns): return false
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public init(from decoder: Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(String.self))
    }
}
