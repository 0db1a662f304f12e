import Foundation
import Testing
import TestSupport

/// `scripts/manpages.py` writes one man page per command from the argument parser's dump; each must render
/// without a groff warning and carry its command's examples.
@Suite("man pages", .tags(.unit))
struct ManPagesTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("one page per command, each rendering cleanly with groff -ww, leaf pages with their examples")
    func pages() throws {
        let out = NSTemporaryDirectory() + "capstan-man-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let script = Self.repository.appendingPathComponent("scripts/manpages.py").path
        let made = try runProgram(["python3", script, productsDirectory.appendingPathComponent("capstan").path, out])
        try #require(made.status == 0, "\(made.stderr)")
        let pages = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".1") }.sorted()
        #expect(pages.count > 40, "\(pages)")
        for expected in ["capstan.1", "capstan-apply.1", "capstan-backup-restore.1", "capstan-lab-up.1", "capstan-certs-rotate.1"] {
            #expect(pages.contains(expected), "no \(expected)")
        }
        for page in pages {
            let path = out + "/" + page
            let rendered = try runProgram(["groff", "-man", "-Tutf8", "-ww", "-z", path])
            #expect(rendered.status == 0 && rendered.stderr.isEmpty, "\(page): \(rendered.stderr)")
            let text = try String(contentsOfFile: path, encoding: .utf8)
            if !text.contains(".SH COMMANDS") {
                #expect(text.contains(".SH EXAMPLES"), "\(page) has no examples")
            }
        }
        let apply = try String(contentsOfFile: out + "/capstan-apply.1", encoding: .utf8)
        #expect(apply.contains("\\-\\-dry\\-run"), "options are written with roff minus signs")
    }
}
