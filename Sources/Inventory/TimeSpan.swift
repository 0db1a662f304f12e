/// A duration as written in inventories: `90s`, `15m`, `24h`, `30d`, `1y`, or combinations like `1h30m`.
public struct TimeSpan: Sendable, Equatable, Hashable, Comparable, CustomStringConvertible {
    public var seconds: Int64

    public init(seconds: Int64) { self.seconds = seconds }
    public static func days(_ d: Int64) -> TimeSpan { TimeSpan(seconds: d * 86_400) }
    public static func hours(_ h: Int64) -> TimeSpan { TimeSpan(seconds: h * 3_600) }

    private static let units: [(Character, Int64)] = [("y", 365 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)]

    /// Parses `30d`, `8760h`, `1h30m`, `45s`. Returns nil for anything else (no bare numbers: the unit is required).
    public init?(parsing text: String) {
        var total: Int64 = 0
        var digits = ""
        var sawUnit = false
        for ch in text {
            if ch.isASCII, ch.isNumber {
                digits.append(ch)
            } else if let unit = Self.units.first(where: { $0.0 == ch }) {
                guard let n = Int64(digits) else { return nil }
                let (product, overflow) = n.multipliedReportingOverflow(by: unit.1)
                guard !overflow else { return nil }
                let (sum, overflow2) = total.addingReportingOverflow(product)
                guard !overflow2 else { return nil }
                total = sum
                digits = ""
                sawUnit = true
            } else {
                return nil
            }
        }
        guard sawUnit, digits.isEmpty else { return nil }
        self.seconds = total
    }

    public static func < (a: TimeSpan, b: TimeSpan) -> Bool { a.seconds < b.seconds }

    /// Shortest exact rendering: `365d`, `90m`, `1h30m`.
    public var description: String {
        if seconds == 0 { return "0s" }
        var rest = seconds
        var out = ""
        for (unit, size) in Self.units where unit != "y" && rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out
    }
}
