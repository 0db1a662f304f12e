import Testing
import TestSupport
@testable import Inventory

@Suite("Inventory value types", .tags(.unit))
struct ValueTypesTests {
    @Test("time spans parse with units and render back", arguments: [
        ("30d", Int64(30 * 86_400)), ("8760h", Int64(8760 * 3_600)), ("1h30m", Int64(5_400)), ("45s", Int64(45)), ("1y", Int64(365 * 86_400)),
    ])
    func timeSpans(text: String, seconds: Int64) {
        #expect(TimeSpan(parsing: text)?.seconds == seconds)
    }

    @Test("time spans without a unit or with junk are rejected", arguments: ["", "30", "d", "3x", "1h30", "-5m", "99999999999999999999d"])
    func badTimeSpans(text: String) {
        #expect(TimeSpan(parsing: text) == nil)
    }

    @Test("versions parse with and without v and order pre-releases first")
    func versions() throws {
        let v = try #require(SemanticVersion(parsing: "v1.31.4"))
        #expect(v == SemanticVersion(1, 31, 4))
        #expect(v.tag == "v1.31.4")
        #expect(SemanticVersion(parsing: "3.5.1") == SemanticVersion(3, 5, 1))
        #expect(SemanticVersion(parsing: "1.30.0-rc.1")! < SemanticVersion(1, 30, 0))
        #expect(SemanticVersion(parsing: "1.30") == nil)
        #expect(SemanticVersion(parsing: "1.x.0") == nil)
        #expect(SemanticVersion(parsing: "1.30.0-") == nil)
    }

    @Test("CIDR containment, overlap, canonical form and the first service IP")
    func cidrs() throws {
        let svc = try #require(CIDR(parsing: "10.96.0.0/12"))
        let pod = try #require(CIDR(parsing: "10.244.0.0/16"))
        #expect(svc.contains(try #require(IPv4Address(parsing: "10.100.1.1"))))
        #expect(!svc.overlaps(pod))
        #expect(svc.overlaps(try #require(CIDR(parsing: "10.0.0.0/8"))))
        #expect(svc.address(at: 1).description == "10.96.0.1")
        #expect(CIDR(parsing: "10.96.0.1/12")?.isCanonical == false)
        #expect(CIDR(parsing: "10.96.0.0/33") == nil)
        #expect(IPv4Address(parsing: "256.1.1.1") == nil)
    }
}
