import Foundation

/// The flags one Kubernetes binary accepts at one minor version, read from upstream sources at their release
/// tags by `Tests/Standins/regen-flags.py` (each flag names the repository, tag and file it was read from).
/// The inventory's `spec.extraArgs` are checked against it, and the strict stand-ins refuse what is not in it,
/// so the two cannot disagree.
///
/// The tables cover the option files listed in their `sources`; they are marked incomplete because a few
/// option files of the main repository are not read (controller-specific options of the controller manager,
/// the scheduler's deprecated flags). So a flag that is in no table is refused only when it is a likely typo of
/// a known flag; otherwise it is a warning naming what was checked.
public struct KubernetesFlagTable: Sendable {
    public struct Flag: Sendable, Decodable {
        /// pflag's value type: `bool`, `int`, `duration`, `ip`, `string`, `stringSlice`, …
        public var type: String
        /// The deprecation message the binary prints, when the flag is deprecated.
        public var deprecated: String?
    }

    public var binary: String
    public var minor: Int
    public var complete: Bool
    public var flags: [String: Flag]

    private struct File: Decodable {
        var binary: String
        var complete: Bool
        var flags: [String: Flag]
    }

    /// The table of `binary` at Kubernetes 1.`minor`, or nil when Capstan carries none.
    public static func load(binary: String, minor: Int) -> KubernetesFlagTable? {
        guard let url = Bundle.module.url(forResource: "KubernetesFlags/\(binary)-1.\(minor)", withExtension: "json"),
              let data = try? Data(contentsOf: url),
              let file = try? JSONDecoder().decode(File.self, from: data) else { return nil }
        return KubernetesFlagTable(binary: file.binary, minor: minor, complete: file.complete, flags: file.flags)
    }

    /// Why `value` is not a valid value for a flag of `type`, in the words pflag uses; nil when it is. Types whose
    /// syntax Capstan does not model (maps, cert-key pairs) accept any text; the binary checks them. Feature gates
    /// are checked by `FeatureGateTable`.
    public static func valueProblem(_ value: String, type: String) -> String? {
        switch type {
        case "bool":
            return goBool(value) != nil ? nil : "strconv.ParseBool: parsing \"\(value)\": invalid syntax (write true or false)"
        case "int", "int32", "uint", "uint32":
            let unsigned = type.hasPrefix("u")
            let function = "strconv.Parse\(unsigned ? "Uint" : "Int")"
            guard let (negative, magnitude) = goInteger(value), !(unsigned && negative) else {
                return "\(function): parsing \"\(value)\": invalid syntax (write a whole number)"
            }
            let bits: UInt64 = type.hasSuffix("32") ? 32 : 64
            let limit: UInt64 = unsigned ? (bits == 64 ? .max : (1 << bits) - 1) : (negative ? 1 << (bits - 1) : (1 << (bits - 1)) - 1)
            return magnitude <= limit ? nil : "\(function): parsing \"\(value)\": value out of range"
        case "float":
            return Double(value) == nil ? "strconv.ParseFloat: parsing \"\(value)\": invalid syntax" : nil
        case "duration":
            return value.range(of: goDuration, options: .regularExpression) != nil
                ? nil : "time: invalid duration \"\(value)\" (write e.g. 90s, 5m or 1h30m)"
        case "ip":
            return Syntax.isIPAddress(value) ? nil : "invalid IP address \"\(value)\""
        default:
            return nil
        }
    }

    /// A boolean as Go's `strconv.ParseBool` reads it; nil for anything else.
    static func goBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: return nil
        }
    }

    /// Go's `time.ParseDuration` syntax.
    static let goDuration = #"^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$"#

    /// Sign and magnitude of an integer as Go's `strconv.ParseInt(text, 0, …)` reads it (pflag's integer flags):
    /// an optional sign, then 0x, 0o or 0b, or a leading 0 for octal, and underscores between digits.
    static func goInteger(_ text: String) -> (negative: Bool, magnitude: UInt64)? {
        var body = Substring(text)
        let negative = body.first == "-"
        if body.first == "-" || body.first == "+" { body = body.dropFirst() }
        var radix = 10
        for (prefix, base) in [("0x", 16), ("0o", 8), ("0b", 2)] where body.lowercased().hasPrefix(prefix) {
            radix = base
            body = body.dropFirst(2)
        }
        if radix == 10, body.count > 1, body.first == "0" {
            radix = 8
            body = body.dropFirst()
        }
        guard !body.hasSuffix("_"), !body.contains("__"), radix != 10 || !body.hasPrefix("_"),
              let magnitude = UInt64(body.replacingOccurrences(of: "_", with: ""), radix: radix) else { return nil }
        return (negative, magnitude)
    }
}
