import Foundation
import Testing
import TestSupport

/// `apply --renew-before` refuses what it cannot do before touching any host.
@Suite("apply --renew-before: input checks", .tags(.unit))
struct RenewBeforeCommandTests {
    @Test("a span that does not parse is a usage error naming the option")
    func badSpan() throws {
        let r = try capstan(["apply", "-i", "unused.yaml", "--renew-before", "30x"])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("--renew-before: 30x is not a time span"), "\(r.stderr)")
    }

    @Test("a managed cluster is refused with the provider named: its control-plane certificates are not Capstan's")
    func managedRefused() throws {
        let dir = NSTemporaryDirectory() + "capstan-renew-before-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let inventory = dir + "/managed.yaml"
        let written = try capstan(["init", "--example", "managed-workers", "--output", inventory])
        #expect(written.status == 0, "\(written.stderr)")
        // The example names files beside it and an SSH key in the home directory; give it local ones.
        for file in ["eks-ca.crt", "bootstrap-token", "id"] { _ = FileManager.default.createFile(atPath: dir + "/" + file, contents: Data("x".utf8)) }
        let text = try String(contentsOfFile: inventory, encoding: .utf8).replacingOccurrences(of: "~/.ssh/shop-eks.pem", with: dir + "/id")
        try text.write(toFile: inventory, atomically: true, encoding: .utf8)
        let r = try capstan(["apply", "-i", inventory, "--renew-before", "30d"])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("is a managed cluster") && r.stderr.contains("Amazon EKS"), "\(r.stderr)")
    }
}

/// Errors found while a command runs are rendered once, at the top, without the usage block.
@Suite("runtime usage errors", .tags(.unit))
struct RuntimeUsageErrorTests {
    @Test("a flag value found wrong after the inventory is read: exit 64, the message, no usage block")
    func noUsageBlock() throws {
        let dir = NSTemporaryDirectory() + "capstan-runtime-usage-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/secrets", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let inventory = dir + "/cluster.yaml"
        #expect(try capstan(["init", "--example", "bare-metal-ha", "--output", inventory]).status == 0)
        _ = FileManager.default.createFile(atPath: dir + "/secrets/backup.key", contents: Data(repeating: 7, count: 32))
        _ = FileManager.default.createFile(atPath: dir + "/known_hosts", contents: Data())
        let r = try capstan(["certs", "rotate", "-i", inventory, "--expiring-within", "banana"])
        #expect(r.status == 64, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("Error: --expiring-within: banana is not a time span"), "\(r.stderr)")
        #expect(!r.stderr.contains("Usage:"), "\(r.stderr)")
    }
}
