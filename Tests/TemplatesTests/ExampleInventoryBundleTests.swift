import Foundation
import Templates
import Testing
import TestSupport

@Suite("The examples capstan init writes", .tags(.unit))
struct ExampleInventoryBundleTests {
    static let inventories = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("inventories")

    @Test("every file in inventories/ is an example with a summary, shipped byte for byte in the bundle")
    func shippedExamples() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.inventories.path).filter { $0.hasSuffix(".yaml") }
        #expect(Set(ExampleInventory.all.map { $0.name + ".yaml" }) == Set(files))
        for example in ExampleInventory.all {
            #expect(!example.summary.isEmpty)
            let file = try String(contentsOf: Self.inventories.appendingPathComponent(example.name + ".yaml"), encoding: .utf8)
            #expect(try example.text() == file, "\(example.name)")
        }
    }
}
