import Foundation
import Testing
import TestSupport
@testable import Inventory

@Suite("Never a crash on any input", .tags(.unit))
struct RobustnessTests {
    static let examples = TestPaths.yamlFiles(in: TestPaths.inventories)

    static func text(_ name: String) throws -> String {
        try String(contentsOf: TestPaths.inventories.appendingPathComponent(name), encoding: .utf8)
    }

    @Test("every prefix of a valid inventory loads and reports, without crashing", arguments: examples)
    func everyPrefix(name: String) throws {
        let text = try Self.text(name)
        let scalars = Array(text.unicodeScalars)
        var withErrors = 0
        for end in 0...scalars.count {
            var s = String.UnicodeScalarView()
            s.append(contentsOf: scalars[0..<end])
            let r = InventoryLoader.load(text: String(s), path: "p.yaml", checkFiles: false)
            #expect(r.inventory != nil || !r.errors.isEmpty, "no inventory and no error at prefix \(end)")
            if !r.errors.isEmpty { withErrors += 1 }
        }
        #expect(withErrors > 0)
        #expect(InventoryLoader.load(text: text, path: "p.yaml", checkFiles: false).errors.isEmpty)
    }

    @Test("deleting any one line never crashes the loader", arguments: examples)
    func everyLineDeleted(name: String) throws {
        let lines = try Self.text(name).split(separator: "\n", omittingEmptySubsequences: false)
        for i in lines.indices {
            var copy = lines
            copy.remove(at: i)
            let r = InventoryLoader.load(text: copy.joined(separator: "\n"), path: "p.yaml", checkFiles: false)
            #expect(r.inventory != nil || !r.errors.isEmpty)
        }
    }

    @Test("hostile shapes give errors, not crashes", arguments: [
        String(repeating: "[", count: 5000),
        String(repeating: "{a: ", count: 3000),
        String(repeating: "- ", count: 2000) + "x",
        "spec: " + String(repeating: "9", count: 400),
        "a: &a [*a]",
        "\u{0}",
        "\u{FEFF}apiVersion: capstan.dev/v1alpha1",
        "? [a, b]\n: c",
        "!!binary aGVsbG8=",
        "apiVersion: !custom x\nkind: Cluster",
        String(repeating: "a: b\n", count: 3) + "\t",
        "spec:\n  hosts:\n" + String(repeating: "    - *x\n", count: 3),
    ])
    func hostile(text: String) {
        let r = InventoryLoader.load(text: text, path: "h.yaml", checkFiles: false)
        #expect(!r.errors.isEmpty)
        #expect(r.inventory == nil)
    }

    @Test("a billion-laughs alias bomb is read without expanding it")
    func aliasBomb() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 { text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        let start = Date()
        let r = InventoryLoader.load(text: text, path: "bomb.yaml", checkFiles: false)
        #expect(!r.errors.isEmpty)
        #expect(Date().timeIntervalSince(start) < 5)
    }
}
