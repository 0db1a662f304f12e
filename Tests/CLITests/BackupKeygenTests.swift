import Foundation
import Testing
import TestSupport

@Suite("capstan backup keygen", .tags(.unit))
struct BackupKeygenTests {
    @Test("writes an age identity 0600 that age-keygen reads, prints its recipient, never overwrites")
    func keygen() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-keygen-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try capstan(["backup", "keygen", "--output", dir + "/id.txt"])
        #expect(r.status == 0, "\(r.stderr)")
        let recipient = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(recipient.hasPrefix("age1") && recipient.count == 62)
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/id.txt")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let derived = try runProgram(["/usr/bin/age-keygen", "-y", dir + "/id.txt"])
        #expect(derived.status == 0 && derived.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == recipient)
        let before = try String(contentsOfFile: dir + "/id.txt", encoding: .utf8)
        let again = try capstan(["backup", "keygen", "--output", dir + "/id.txt"])
        #expect(again.status != 0 && again.stderr.contains("already exists"))
        #expect(try String(contentsOfFile: dir + "/id.txt", encoding: .utf8) == before)
    }
}
