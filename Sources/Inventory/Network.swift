/// An IPv4 address (Capstan's lab and validation work on IPv4; IPv6 addresses are accepted as strings elsewhere).
public struct IPv4Address: Sendable, Equatable, Hashable, Comparable, CustomStringConvertible {
    public var value: UInt32

    public init(value: UInt32) { self.value = value }
    public init(octets: (UInt8, UInt8, UInt8, UInt8)) {
        value = UInt32(octets.0) << 24 | UInt32(octets.1) << 16 | UInt32(octets.2) << 8 | UInt32(octets.3)
    }

    public init?(parsing text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt32(p), n <= 255 else { return nil }
            v = v << 8 | n
        }
        value = v
    }

    public var description: String {
        "\(value >> 24 & 255).\(value >> 16 & 255).\(value >> 8 & 255).\(value & 255)"
    }

    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }
}

/// An IPv4 network in CIDR form, e.g. `10.96.0.0/12`.
public struct CIDR: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var address: IPv4Address
    public var prefix: Int

    public init(address: IPv4Address, prefix: Int) {
        self.address = address
        self.prefix = prefix
    }

    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPv4Address(parsing: String(parts[0])),
              parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let p = Int(parts[1]), (0...32).contains(p) else { return nil }
        address = a
        prefix = p
    }

    public var mask: UInt32 { prefix == 0 ? 0 : UInt32.max << UInt32(32 - prefix) }
    public var network: IPv4Address { IPv4Address(value: address.value & mask) }
    /// True when the address has no host bits set (`10.96.0.1/12` is not canonical).
    public var isCanonical: Bool { address.value & ~mask == 0 }
    public func contains(_ ip: IPv4Address) -> Bool { ip.value & mask == network.value }
    public func overlaps(_ other: CIDR) -> Bool { contains(other.network) || other.contains(network) }
    /// The n-th address of the network (n = 1 is the first usable; Kubernetes' first service IP).
    public func address(at n: UInt32) -> IPv4Address { IPv4Address(value: network.value &+ n) }
    public var description: String { "\(address)/\(prefix)" }
}
