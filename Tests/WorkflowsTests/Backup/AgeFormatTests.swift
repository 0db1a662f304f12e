import Crypto
import Foundation
import Testing
import TestSupport
@testable import Workflows

private func randomBytes(_ n: Int) -> Data {
    var g = SystemRandomNumberGenerator()
    return Data((0..<n).map { _ in UInt8.random(in: 0...255, using: &g) })
}

/// Feeds `input` in `piece`-sized writes, as a store hands chunks over.
private func ageEncrypt(_ plain: Data, to recipients: [AgeRecipient], piece: Int = 10_000) throws -> Data {
    var e = try AgeEncryptor(recipients: recipients)
    var out = Data()
    var offset = 0
    while offset < plain.count {
        let end = min(offset + piece, plain.count)
        out.append(try e.update(plain.subdata(in: offset..<end)))
        offset = end
    }
    return out + (try e.finish())
}

/// Decrypts, returning what was released before any failure and the failure.
private func ageDecrypt(_ sealed: Data, with identities: [AgeIdentity], piece: Int = 7_777) -> (plain: Data, error: AgeError?) {
    var d = AgeDecryptor(identities: identities)
    var out = Data()
    var offset = 0
    do {
        while offset < sealed.count {
            let end = min(offset + piece, sealed.count)
            out.append(try d.update(sealed.subdata(in: offset..<end)))
            offset = end
        }
        out.append(try d.finish())
        return (out, nil)
    } catch {
        return (out, error)
    }
}

private func tempDir() throws -> String {
    let dir = NSTemporaryDirectory() + "capstan-age-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite("age format", .tags(.unit))
struct AgeFormatTests {
    @Test("round-trips across the 64 KiB chunk edges, fed in odd pieces", arguments: [0, 1, 65_535, 65_536, 65_537, 3 * 65_536, 200_001])
    func roundTrip(size: Int) throws {
        let id = AgeIdentity()
        let plain = randomBytes(size)
        let sealed = try ageEncrypt(plain, to: [id.recipient])
        let (out, error) = ageDecrypt(sealed, with: [id])
        #expect(error == nil)
        #expect(out == plain)
        #expect(sealed.starts(with: Data("age-encryption.org/v1\n-> X25519 ".utf8)))
    }

    @Test("any of several recipients decrypts; a stranger's identity gets no match")
    func recipients() throws {
        let a = AgeIdentity(), b = AgeIdentity()
        let sealed = try ageEncrypt(Data("etcd".utf8), to: [a.recipient, b.recipient])
        #expect(ageDecrypt(sealed, with: [b]).plain == Data("etcd".utf8))
        #expect(ageDecrypt(sealed, with: [AgeIdentity()]).error == .noMatch)
    }

    @Test("a flipped header byte fails the MAC, a flipped payload byte fails its chunk, a cut stream fails")
    func tamper() throws {
        let id = AgeIdentity()
        let plain = randomBytes(150_000)
        let sealed = try ageEncrypt(plain, to: [id.recipient])
        let headerEnd = try #require(sealed.range(of: Data("\n---".utf8))).lowerBound

        var header = sealed
        header[headerEnd - 1] ^= 0x01 // inside the stanza body: the wrapped key no longer opens, or the MAC fails
        #expect(ageDecrypt(header, with: [id]).error != nil)

        var payload = sealed
        payload[sealed.count - 100] ^= 0x80
        let bad = ageDecrypt(payload, with: [id])
        #expect(bad.error == .payload(chunk: 2, reason: "authentication failed on the last chunk present (truncated, or altered)"))
        #expect(bad.plain == plain.prefix(2 * 65_536))

        let cut = sealed.prefix(sealed.count - (sealed.count - headerEnd) / 2)
        #expect(ageDecrypt(cut, with: [id]).error != nil)
        // Cut exactly at a chunk boundary: the last chunk present is not flagged last.
        let boundary = ageDecrypt(sealed.prefix(sealed.count - (150_000 - 2 * 65_536) - 16), with: [id])
        if case .payload = boundary.error {} else { Issue.record("a stream cut at a chunk boundary was accepted: \(String(describing: boundary.error))") }
    }

    @Test("keys: identity and recipient strings round-trip; malformed ones are refused with the reason")
    func keys() throws {
        let id = AgeIdentity()
        #expect(id.encoded.hasPrefix("AGE-SECRET-KEY-1"))
        #expect(id.recipient.description.hasPrefix("age1"))
        #expect(try AgeRecipient(parsing: id.recipient.description) == id.recipient)
        #expect(try AgeIdentity(parsing: id.encoded, source: "t").recipient == id.recipient)
        // Change the last character (part of the Bech32 checksum) to another one.
        var text = id.recipient.description
        let last = text.removeLast()
        text.append(last == "q" ? "p" : "q")
        #expect(text != id.recipient.description)
        #expect(throws: AgeError.self) { try AgeRecipient(parsing: text) }
        #expect(throws: AgeError.self) { try AgeRecipient(parsing: id.encoded) }
        #expect(throws: AgeError.self) { try AgeIdentity(parsing: id.encoded.lowercased(), source: "t") }
    }
}

/// Interoperability with the reference implementation packaged by Debian (`age`, `age-keygen`).
@Suite("age format vs the age tool", .tags(.unit))
struct AgeInteropTests {
    @Test("age-keygen identities load and give the recipient `age-keygen -y` prints; ours give the one it derives")
    func keygen() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try runProgram(["age-keygen", "-o", dir + "/theirs.txt"]).status == 0)
        let theirs = try AgeIdentity.load(path: dir + "/theirs.txt")
        let derived = try runProgram(["age-keygen", "-y", dir + "/theirs.txt"])
        #expect(derived.output.trimmingCharacters(in: .whitespacesAndNewlines) == theirs[0].recipient.description)

        let ours = AgeIdentity()
        try ours.fileContents(created: Date()).write(toFile: dir + "/ours.txt", atomically: true, encoding: .utf8)
        let y = try runProgram(["age-keygen", "-y", dir + "/ours.txt"])
        #expect(y.status == 0)
        #expect(y.output.trimmingCharacters(in: .whitespacesAndNewlines) == ours.recipient.description)
    }

    @Test("Capstan encrypts, `age -d -i` decrypts; `age -r` encrypts, Capstan decrypts", arguments: [0, 5, 65_536, 65_537, 1_000_000])
    func bothWays(size: Int) throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try runProgram(["age-keygen", "-o", dir + "/id.txt"]).status == 0)
        let id = try AgeIdentity.load(path: dir + "/id.txt")
        let plain = randomBytes(size)
        try plain.write(to: URL(fileURLWithPath: dir + "/plain"))

        try ageEncrypt(plain, to: [id[0].recipient]).write(to: URL(fileURLWithPath: dir + "/ours.age"))
        let d = try runProgram(["age", "-d", "-i", dir + "/id.txt", "-o", dir + "/ours.out", dir + "/ours.age"])
        #expect(d.status == 0, "\(d.output)")
        // age creates the output file on its first write, so an empty plaintext leaves none.
        #expect((FileManager.default.contents(atPath: dir + "/ours.out") ?? Data()) == plain)

        let e = try runProgram(["age", "-r", id[0].recipient.description, "-o", dir + "/theirs.age", dir + "/plain"])
        #expect(e.status == 0, "\(e.output)")
        let (out, error) = ageDecrypt(try Data(contentsOf: URL(fileURLWithPath: dir + "/theirs.age")), with: id)
        #expect(error == nil)
        #expect(out == plain)
    }

    @Test("`age -d` refuses a Capstan file with a flipped payload byte")
    func ageRefusesTamper() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let id = AgeIdentity()
        try id.fileContents(created: Date()).write(toFile: dir + "/id.txt", atomically: true, encoding: .utf8)
        var sealed = try ageEncrypt(randomBytes(1000), to: [id.recipient])
        sealed[sealed.count - 20] ^= 1
        try sealed.write(to: URL(fileURLWithPath: dir + "/bad.age"))
        #expect(try runProgram(["age", "-d", "-i", dir + "/id.txt", "-o", dir + "/out", dir + "/bad.age"]).status != 0)
    }
}

/// The C2SP test vectors (github.com/C2SP/CCTV, age/testdata): every vector for the parts Capstan implements
/// (header, X25519, HMAC, STREAM). They are not vendored; point CAPSTAN_AGE_VECTORS at a checkout's
/// age/testdata directory to run them.
@Suite("age format vs the C2SP test vectors", .enabled(if: ProcessInfo.processInfo.environment["CAPSTAN_AGE_VECTORS"] != nil), .tags(.unit))
struct AgeVectorTests {
    static let skipped = ["armor", "scrypt", "hybrid"]

    @Test("each vector gives its expected result and payload hash")
    func vectors() throws {
        let dir = try #require(ProcessInfo.processInfo.environment["CAPSTAN_AGE_VECTORS"])
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
            .filter { name in !AgeVectorTests.skipped.contains { name.hasPrefix($0) } }
        var checked = 0
        for name in names {
            let file = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
            let split = try #require(file.range(of: Data("\n\n".utf8)), "\(name): no blank line after the vector header")
            var fields: [String: [String]] = [:]
            for line in String(decoding: file[..<split.lowerBound], as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2 { fields[parts[0], default: []].append(parts[1]) }
            }
            if fields["armored"] != nil || fields["passphrase"] != nil { continue }
            var body = Data(file[split.upperBound...])
            if fields["compressed"]?.first == "zlib" {
                let tmp = NSTemporaryDirectory() + "capstan-age-vector-" + UUID().uuidString
                try body.write(to: URL(fileURLWithPath: tmp))
                defer { try? FileManager.default.removeItem(atPath: tmp) }
                let inflated = tmp + ".out"
                let r = try runProgram(["python3", "-c", "import sys,zlib;open(sys.argv[2],'wb').write(zlib.decompress(open(sys.argv[1],'rb').read()))", tmp, inflated])
                #expect(r.status == 0, "\(name): \(r.output)")
                body = try Data(contentsOf: URL(fileURLWithPath: inflated))
                try? FileManager.default.removeItem(atPath: inflated)
            }
            let identities = try (fields["identity"] ?? []).map { try AgeIdentity(parsing: $0, source: name) }
            let expect = fields["expect"]?.first ?? ""
            let (plain, error) = ageDecrypt(body, with: identities, piece: 4096)
            let got: String
            switch error {
            case nil: got = "success"
            case .header?: got = "header failure"
            case .noMatch?: got = "no match"
            case .headerMAC?: got = "HMAC failure"
            case .payload?: got = "payload failure"
            case .key?: got = "key"
            }
            #expect(got == expect, "\(name): expected \(expect), got \(got) (\(String(describing: error)))")
            if let payload = fields["payload"]?.first, expect == "success" || expect == "payload failure" {
                #expect(SHA256.hash(data: plain).map { String(format: "%02x", $0) }.joined() == payload, "\(name): payload hash")
            }
            checked += 1
        }
        #expect(checked >= 60, "only \(checked) vectors found in \(dir)")
    }
}
