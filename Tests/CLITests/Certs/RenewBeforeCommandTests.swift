import Foundation
import Testing

/// `apply --renew-before` refuses what it cannot do before touching any host.
@Suite("apply --renew-before: input checks")
struct RenewBeforeCommandTests {
    @Test("a span that does not parse is a usage error naming the option")
    func badSpan() throws {
        let r = try capstan(["apply", "-i", "unused.yaml", "--renew-before", "30x"])
        #expect(r.status == 64, "\(r.err)")
        #expect(r.err.contains("--renew-before: 30x is not a time span"), "\(r.err)")
    }

    @Test("a managed cluster is refused with the provider named: its control-plane certificates are not Capstan's")
    func managedRefused() throws {
        let dir = NSTemporaryDirectory() + "capstan-renew-before-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let inventory = dir + "/managed.yaml"
        let written = try capstan(["init", "--example", "managed-workers", "--output", inventory])
        #expect(written.status == 0, "\(written.err)")
        // The example names files beside it and an SSH key in the home directory; give it local ones.
        for file in ["eks-ca.crt", "bootstrap-token", "id"] { FileManager.default.createFile(atPath: dir + "/" + file, contents: Data("x".utf8)) }
        let text = try String(contentsOfFile: inventory, encoding: .utf8).replacingOccurrences(of: "~/.ssh/shop-eks.pem", with: dir + "/id")
        try text.write(toFile: inventory, atomically: true, encoding: .utf8)
        let r = try capstan(["apply", "-i", inventory, "--renew-before", "30d"])
        #expect(r.status == 1, "\(r.out)\(r.err)")
        #expect(r.err.contains("is a managed cluster") && r.err.contains("Amazon EKS"), "\(r.err)")
    }
}
