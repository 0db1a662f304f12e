import Foundation
import Testing
import TestSupport
@testable import Inventory

/// Source-tree locations used by the tests.
enum TestPaths {
    static let inventoryTests = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let broken = inventoryTests.appendingPathComponent("Fixtures/broken")
    static let repository = inventoryTests.deletingLastPathComponent().deletingLastPathComponent()
    static let inventories = repository.appendingPathComponent("inventories")

    static func yamlFiles(in dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
            .filter { $0.hasSuffix(".yaml") }.sorted()
    }
}

@Suite("Broken inventories: exact diagnostics", .tags(.unit))
struct BrokenCorpusTests {
    @Test("the corpus holds at least 40 broken inventories, each with an .expected file")
    func corpusSize() {
        let names = TestPaths.yamlFiles(in: TestPaths.broken)
        #expect(names.count >= 40)
        for name in names {
            let expected = TestPaths.broken.appendingPathComponent(name.replacingOccurrences(of: ".yaml", with: ".expected"))
            #expect(FileManager.default.fileExists(atPath: expected.path), "no .expected for \(name)")
        }
    }

    @Test("each broken inventory yields exactly its expected diagnostics", arguments: TestPaths.yamlFiles(in: TestPaths.broken))
    func exactDiagnostics(name: String) throws {
        let yaml = TestPaths.broken.appendingPathComponent(name)
        let expectedURL = TestPaths.broken.appendingPathComponent(name.replacingOccurrences(of: ".yaml", with: ".expected"))
        let expected = try String(contentsOf: expectedURL, encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        let result = InventoryLoader.load(path: yaml.path, checkFiles: true)
        let actual = result.diagnostics.map { d -> String in
            var d = d
            d.file = name
            return d.description
        }
        #expect(actual == expected)
        #expect(!expected.isEmpty, "a corpus entry must expect at least one diagnostic")
        if expected.contains(where: { $0.contains(": error: ") }) {
            #expect(result.inventory == nil, "an inventory with errors must not be returned")
        } else {
            #expect(result.inventory != nil, "warnings alone must still return the inventory")
        }
    }
}
