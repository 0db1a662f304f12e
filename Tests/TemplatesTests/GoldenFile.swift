import Foundation
import Testing

/// Compares `rendered` (from `template`) with `Golden/<golden>`. With `CAPSTAN_UPDATE_GOLDEN=1` the golden
/// file in the source tree is rewritten first (then copy-bundled on the next build).
func expectGolden(_ rendered: String, golden: String, template: String, sourceFile: String = #filePath) throws {
    if ProcessInfo.processInfo.environment["CAPSTAN_UPDATE_GOLDEN"] == "1" {
        let dir = URL(fileURLWithPath: sourceFile).deletingLastPathComponent().appendingPathComponent("Golden")
        try rendered.write(to: dir.appendingPathComponent(golden), atomically: true, encoding: .utf8)
    }
    let url = try #require(Bundle.module.url(forResource: "Golden/" + golden, withExtension: nil))
    let expected = try String(contentsOf: url, encoding: .utf8)
    #expect(rendered == expected, "\(template) differs from Golden/\(golden)")
}
