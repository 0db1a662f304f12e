import Foundation
import PKI
import Templates
import Testing
import TestSupport
@testable import Workflows

@Suite("Secrets encryption at rest: keys, rotation steps, the rendered configuration", .tags(.unit))
struct SecretsEncryptionTests {
    static let t0 = Date(timeIntervalSince1970: 1_796_000_000)

    @Test("a rotation adds the new key as a reader, makes it the writer, keeps the old one until the rewrite, then drops it")
    func rotationSteps() throws {
        let initial = SecretsEncryption.initial(now: Self.t0)
        let old = initial.writer
        #expect(Data(base64Encoded: initial.keys[0].secret)?.count == 32)
        var state = initial
        var seen: [(SecretsEncryption.Step?, [String])] = []
        var now = Self.t0
        while let next = try state.advanced(now: now.addingTimeInterval(3600)) {
            now = now.addingTimeInterval(60)
            seen.append((next.rotation?.step, next.keys.map(\.name)))
            state = next
        }
        let new = try #require(seen.first?.1.last)
        #expect(new != old)
        #expect(seen.map(\.0) == [.reader, .writer, .rewritten, .dropping])
        #expect(seen.map(\.1) == [[old, new], [new, old], [new, old], [new]])
        // Two keys made in the same second still differ, and the secrets are fresh random bytes.
        let same = try #require(try SecretsEncryption.initial(now: Self.t0).advanced(now: Self.t0))
        #expect(Set(same.keys.map(\.name)).count == 2)
        #expect(Set(same.keys.map(\.secret)).count == 2)
    }

    @Test("state import rebuilds the record from an API server's file, a rotation's step included")
    func importFromHost() throws {
        let renderer = TemplateRenderer()
        let initial = SecretsEncryption.initial(now: Self.t0)
        let reader = try #require(try initial.advanced(now: Self.t0.addingTimeInterval(3600)))
        let writer = try #require(try reader.advanced(now: Self.t0.addingTimeInterval(3700)))
        for (recorded, expected) in [(initial, nil), (reader, SecretsEncryption.Step.reader), (writer, .writer)] as [(SecretsEncryption, SecretsEncryption.Step?)] {
            let text = String(decoding: try recorded.file(clusterName: "lab", renderer: renderer).content, as: UTF8.self)
            let imported = try SecretsEncryption.imported(from: text, now: Self.t0)
            #expect(imported.keys.map(\.name) == recorded.keys.map(\.name))
            #expect(imported.keys.map(\.secret) == recorded.keys.map(\.secret))
            #expect(imported.rotation?.step == expected)
            #expect(imported.rotation?.from == recorded.rotation?.from)
        }
        #expect(throws: WorkflowError.self) { try SecretsEncryption.imported(from: "apiVersion: v1\n", now: Self.t0) }
    }

    @Test("the rendered configuration is a 0600 secret file the strict stand-in accepts for every minor, with the writer first and identity last")
    func rendered() throws {
        let reader = try #require(try SecretsEncryption.initial(now: Self.t0).advanced(now: Self.t0.addingTimeInterval(3600)))
        let file = try reader.file(clusterName: "lab", renderer: TemplateRenderer())
        #expect(file.attributes.mode == 0o600 && file.secret && file.path == SecretsEncryption.hostPath)
        let text = String(decoding: file.content, as: UTF8.self)
        let names = reader.keys.map(\.name)
        let order = try names.map { try #require(text.range(of: "name: " + $0)?.lowerBound) } + [try #require(text.range(of: "- identity: {}")?.lowerBound)]
        #expect(order == order.sorted())
        for version in StrictStandin.minors {
            let result = try StrictStandinRefusalTests.checkFile("EncryptionConfiguration", text, version: version)
            #expect(result.status == 0, "\(version): \(result.stderr)")
        }
    }

    @Test("the strict stand-in refuses what the API server's validation refuses in an EncryptionConfiguration")
    func refusals() throws {
        let reader = try #require(try SecretsEncryption.initial(now: Self.t0).advanced(now: Self.t0.addingTimeInterval(3600)))
        let text = String(decoding: try reader.file(clusterName: "lab", renderer: TemplateRenderer()).content, as: UTF8.self)
        let first = reader.keys[0], second = reader.keys[1]
        let short = Data(repeating: 7, count: 16).base64EncodedString()
        let planted: [(String, String, String)] = [
            (first.secret, short, "secret is not of the expected length, got 16, expected one of [32]"),
            (first.secret, "not*base64", "secrets must be base64 encoded"),
            ("name: " + second.name, "name: " + first.name, "Duplicate value"),
            ("name: " + first.name, "name: a:b", "key name should not contain ':'"),
            ("      - identity: {}", "        identity: {}", "more than one provider specified in a single element"),
            ("      - secrets\n", "", "Resources[].Resources must contain at least one resource"),
            ("kind: EncryptionConfiguration", "kind: EncryptionConfig", "no kind \"EncryptionConfig\""),
            ("          keys:", "          key:", "unknown field"),
        ]
        try StrictStandinRefusalTests.expectRefusals("EncryptionConfiguration", text, planted)
    }
}
