import Foundation
import PKI
import Testing
import TestSupport

/// Every path under `root` whose name starts with `.tmp-`.
private func temporaryFiles(under root: String) -> [String] {
    guard let e = FileManager.default.enumerator(atPath: root) else { return [] }
    return e.compactMap { $0 as? String }.filter { ($0 as NSString).lastPathComponent.hasPrefix(".tmp-") }
}

private func text(_ state: StateDirectory, _ relative: String) throws -> String {
    try String(contentsOfFile: state.path(relative), encoding: .utf8)
}

/// Runs `body` with a state directory under a fresh temporary directory, removed afterwards.
private func withState(_ body: (StateDirectory) throws -> Void) throws {
    let dir = try Fixture.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    try body(StateDirectory(root: dir.path + "/state"))
}

@Suite("StateDirectory transactions", .tags(.unit))
struct StateDirectoryTransactionTests {
    @Test("a batch writes every file with its mode, private directories, no temporary file; the same batch again changes nothing")
    func batch() throws {
        try withState { state in
            var tx = StateDirectory.Transaction(state)
            for i in 0..<40 {
                #expect(try tx.write(Data("key \(i)\n".utf8), to: "pki/hosts/h\(i % 7)/k\(i).key", mode: 0o600))
                #expect(try tx.write(Data("cert \(i)\n".utf8), to: "pki/c\(i).crt", mode: 0o644))
            }
            #expect(tx.paths.count == 80)
            #expect(!FileManager.default.fileExists(atPath: state.root), "nothing touches the disk before commit")
            #expect(try tx.read("pki/c3.crt") == Data("cert 3\n".utf8), "staged bytes are readable before commit")
            try tx.commit()

            for i in 0..<40 {
                #expect(try text(state, "pki/hosts/h\(i % 7)/k\(i).key") == "key \(i)\n")
                #expect(state.mode("pki/hosts/h\(i % 7)/k\(i).key") == 0o600)
                #expect(try text(state, "pki/c\(i).crt") == "cert \(i)\n")
                #expect(state.mode("pki/c\(i).crt") == 0o644)
            }
            #expect(state.mode("") == 0o700 && state.mode("pki/hosts") == 0o700 && state.mode("pki/hosts/h3") == 0o700)
            #expect(temporaryFiles(under: state.root).isEmpty)

            let before = try snapshot(state.root)
            var again = StateDirectory.Transaction(state)
            for i in 0..<40 {
                #expect(try !again.write(Data("key \(i)\n".utf8), to: "pki/hosts/h\(i % 7)/k\(i).key", mode: 0o600))
                #expect(try !again.write(Data("cert \(i)\n".utf8), to: "pki/c\(i).crt", mode: 0o644))
            }
            #expect(again.paths.isEmpty)
            try again.commit()
            let after = try snapshot(state.root)
            for (path, (data, mtime)) in before {
                #expect(after[path]?.0 == data && after[path]?.1 == mtime, "\(path)")
            }
        }
    }

    @Test("same bytes with another mode is a change applied in place; restaging a path keeps the last bytes")
    func modeAndRestage() throws {
        try withState { state in
            try state.write(Data("secret".utf8), to: "a.key", mode: 0o644)
            var tx = StateDirectory.Transaction(state)
            #expect(try tx.write(Data("secret".utf8), to: "a.key", mode: 0o600))
            #expect(try tx.write(Data("one".utf8), to: "b", mode: 0o644))
            #expect(try tx.write(Data("two".utf8), to: "b", mode: 0o644))
            #expect(try !tx.write(Data("two".utf8), to: "b", mode: 0o644))
            try tx.commit()
            #expect(state.mode("a.key") == 0o600)
            #expect(try text(state, "a.key") == "secret")
            #expect(try text(state, "b") == "two")
        }
    }

    @Test("a failure mid-batch (a parent that is not a directory) leaves every previous file intact and no temporary file")
    func failureKeepsPreviousFiles() throws {
        try withState { state in
            var first = StateDirectory.Transaction(state)
            try first.write(Data("a1".utf8), to: "a.crt", mode: 0o644)
            try first.write(Data("b1".utf8), to: "sub/b.key", mode: 0o600)
            try first.write(Data("z1".utf8), to: "z.crt", mode: 0o644)
            try first.write(Data("not a directory".utf8), to: "blocker", mode: 0o644)
            try first.commit()

            var second = StateDirectory.Transaction(state)
            try second.write(Data("a2".utf8), to: "a.crt", mode: 0o644)
            try second.write(Data("b2".utf8), to: "sub/b.key", mode: 0o600)
            try second.write(Data("c2".utf8), to: "blocker/c.crt", mode: 0o644)
            try second.write(Data("z2".utf8), to: "z.crt", mode: 0o644)
            let error = try #require(throws: StateError.self) { try second.commit() }
            #expect(error.path.hasSuffix("/state/blocker"))
            #expect(try text(state, "a.crt") == "a1")
            #expect(try text(state, "sub/b.key") == "b1")
            #expect(try text(state, "z.crt") == "z1")
            #expect(temporaryFiles(under: state.root).isEmpty)
        }
    }

    @Test("a target that is a directory fails the batch before any file is replaced")
    func directoryTarget() throws {
        try withState { state in
            try state.write(Data("a1".utf8), to: "a.crt", mode: 0o644)
            try state.ensureDirectory("pki/apiserver.crt")
            let error = try #require(throws: StateError.self) {
                var tx = StateDirectory.Transaction(state)
                try tx.write(Data("a2".utf8), to: "a.crt", mode: 0o644)
                try tx.write(Data("cert".utf8), to: "pki/apiserver.crt", mode: 0o644)
                try tx.commit()
            }
            #expect(error.path.hasSuffix("/state/pki/apiserver.crt"))
            #expect(try text(state, "a.crt") == "a1")
            #expect(temporaryFiles(under: state.root).isEmpty)
        }
    }
}
