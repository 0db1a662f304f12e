import Testing
import TestSupport
@testable import SSH

@Suite("libssh2 runtime", .tags(.unit))
struct LibraryVersionTests {
    @Test("the runtime libssh2 reports a dotted version")
    func version() {
        let parts = SSH.libraryVersion.split(separator: ".")
        #expect(parts.count >= 2)
        #expect(parts.allSatisfy { Int($0) != nil })
    }
}
