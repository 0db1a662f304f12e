import Testing
import TestSupport
@testable import Inventory

/// Flag values as pflag parses them, for the checks of `spec.extraArgs`.
@Suite("Kubernetes flag values", .tags(.unit))
struct KubernetesFlagTableTests {
    @Test("accepted as the binary accepts them", arguments: [
        ("true", "bool"), ("F", "bool"), ("1000", "int"), ("0x10", "int"), ("0o17", "int32"), ("017", "int"), ("1_000", "int"),
        ("-5", "int32"), ("2147483647", "int32"), ("-2147483648", "int32"), ("18446744073709551615", "uint"), ("4294967295", "uint32"),
        ("1.5", "float"), ("1h30m", "duration"), ("0", "duration"), ("10.0.0.1", "ip"), ("fd00::1", "ip"), ("anything", "string"),
    ])
    func accepted(_ value: String, _ type: String) {
        #expect(KubernetesFlagTable.valueProblem(value, type: type) == nil, "\(type) \(value)")
    }

    @Test("refused as the binary refuses them", arguments: [
        ("maybe", "bool"), ("yes", "bool"), ("1.5", "int"), ("0x", "int"), ("1__0", "int"), ("2147483648", "int32"), ("-2147483649", "int32"),
        ("-1", "uint"), ("4294967296", "uint32"), ("ten", "float"), ("4d", "duration"), ("90", "duration"), ("1:2", "ip"), ("10.0.0.256", "ip"),
    ])
    func refused(_ value: String, _ type: String) {
        #expect(KubernetesFlagTable.valueProblem(value, type: type) != nil, "\(type) \(value)")
    }
}
