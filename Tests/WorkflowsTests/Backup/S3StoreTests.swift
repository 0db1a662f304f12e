import Crypto
import Foundation
import Inventory
import TestSupport
import Testing
@testable import Workflows

/// AWS's Signature Version 4 test suite (service `service`, us-east-1, 2015-08-30T12:36:00Z, AKIDEXAMPLE) and
/// the GET Object example of the S3 SigV4 documentation.
@Suite("SigV4 against AWS's published test vectors", .tags(.unit))
struct SigV4Tests {
    static let suiteCredentials = SigV4.Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160) // 20150830T123600Z

    struct Vector: Sendable, CustomTestStringConvertible {
        var name: String
        var method = "GET"
        var path = "/"
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var body = ""
        var signedHeaders = "host;x-amz-date"
        var signature: String
        var testDescription: String { name }
    }

    static let vectors: [Vector] = [
        Vector(name: "get-vanilla", signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        Vector(name: "post-vanilla", method: "POST", signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        Vector(name: "get-vanilla-query-order-key-case", query: [("Param2", "value2"), ("Param1", "value1")],
               signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        Vector(name: "get-vanilla-query-unreserved",
               query: [("-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")],
               signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
        Vector(name: "get-vanilla-utf8-query", query: [("ሴ", "bar")], signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
        Vector(name: "post-vanilla-query-nonunreserved", method: "POST", query: [("@#$%^", ""), ("+", "/,?><`\";:\\|][{}")],
               signature: "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"),
        Vector(name: "get-unreserved", path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
               signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
        Vector(name: "get-utf8", path: "/ሴ", signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
        Vector(name: "get-header-key-duplicate", headers: [("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")],
               signedHeaders: "host;my-header1;x-amz-date", signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
        Vector(name: "get-header-value-order", headers: [("My-Header1", "value4"), ("My-Header1", "value1"), ("My-Header1", "value3"), ("My-Header1", "value2")],
               signedHeaders: "host;my-header1;x-amz-date", signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"),
        Vector(name: "get-header-value-trim", headers: [("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")],
               signedHeaders: "host;my-header1;my-header2;x-amz-date", signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
        Vector(name: "post-header-key-sort", method: "POST", headers: [("My-Header1", "value1")],
               signedHeaders: "host;my-header1;x-amz-date", signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
        Vector(name: "post-header-value-case", method: "POST", headers: [("My-Header1", "VALUE1")],
               signedHeaders: "host;my-header1;x-amz-date", signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
        Vector(name: "post-x-www-form-urlencoded", method: "POST", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: "Param1=value1",
               signedHeaders: "content-type;host;x-amz-date", signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
    ]

    @Test("each suite request signs to AWS's signature", arguments: vectors)
    func suite(_ v: Vector) {
        let headers = [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")] + v.headers
        let signed = SigV4.sign(method: v.method, path: v.path, query: v.query, headers: headers,
                                payloadHash: SigV4.hex(SHA256.hash(data: Data(v.body.utf8))), date: SigV4Tests.suiteDate,
                                region: "us-east-1", service: "service", credentials: SigV4Tests.suiteCredentials)
        #expect(signed.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(v.signedHeaders), Signature=\(v.signature)")
    }

    @Test("the S3 documentation's GET Object example (Range header, x-amz-content-sha256)")
    func s3GetObject() {
        let signed = SigV4.sign(
            method: "GET", path: "/test.txt", query: [],
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"), ("x-amz-content-sha256", SigV4.emptyPayloadHash),
                      ("x-amz-date", "20130524T000000Z")],
            payloadHash: SigV4.emptyPayloadHash, date: Date(timeIntervalSince1970: 1_369_353_600), region: "us-east-1", service: "s3",
            credentials: SigV4.Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
        #expect(signed.stringToSign.hasSuffix("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"))
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test("credentials files: the default profile, or the only one; incomplete ones are refused")
    func credentialsFile() throws {
        let dir = try makeTempDir("s3-creds")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "[other]\naws_access_key_id = A\naws_secret_access_key = B\n[default]\naws_access_key_id = C\naws_secret_access_key = D\n"
            .write(toFile: dir + "/c", atomically: true, encoding: .utf8)
        #expect(try SigV4.loadCredentials(path: dir + "/c") == SigV4.Credentials(accessKeyID: "C", secretAccessKey: "D"))
        try "aws_access_key_id=K\n".write(toFile: dir + "/bad", atomically: true, encoding: .utf8)
        #expect(throws: BackupError.self) { try SigV4.loadCredentials(path: dir + "/bad") }
    }
}

extension S3TestServer {
    func destination(prefix: String = "etcd/", credentials: String? = nil) -> S3Destination {
        S3Destination(endpoint: endpoint, bucket: bucket, prefix: prefix, region: "us-east-1", pathStyle: true,
                      credentialsFile: credentials ?? writerCredentials, operatorCredentialsFile: operatorCredentials)
    }

}

private func stream(_ parts: [Data], failAfter: Int? = nil) -> AsyncThrowingStream<Data, any Error> {
    AsyncThrowingStream { c in
        for (i, p) in parts.enumerated() {
            if let failAfter, i == failAfter { c.finish(throwing: LocalEtcdError(message: "source failed")); return }
            c.yield(p)
        }
        c.finish()
    }
}

private func randomBytes(_ n: Int) -> Data {
    var g = SystemRandomNumberGenerator()
    var out = Data(count: n)
    out.withUnsafeMutableBytes { raw in
        for i in stride(from: 0, to: n - n % 8, by: 8) { raw.storeBytes(of: g.next(), toByteOffset: i, as: UInt64.self) }
    }
    return out
}

@Suite("S3 store against moto's S3 server with signature checking", .serialized, .tags(.s3))
struct S3StoreTests {
    @Test("put, list, get, delete; boto3 reads what Capstan wrote and Capstan reads what boto3 wrote")
    func basics() async throws {
        let server = try S3TestServer()
        defer { server.stop() }
        let store = try S3Store.forOperator(server.destination())
        let body = randomBytes(300_000)
        try await store.put("c1-x.snapshot.db.age", chunks: stream([body.prefix(100_000), body.suffix(200_000)]))
        try await store.put("c1-x.manifest.json", data: Data("{}".utf8))
        #expect(try await store.list() == [BackupObject(name: "c1-x.manifest.json", size: 2), BackupObject(name: "c1-x.snapshot.db.age", size: 300_000)])
        var small = store
        small.readSize = 65_536 // several ranged GETs
        #expect(try await small.getData("c1-x.snapshot.db.age") == body)
        let sha = SigV4.hex(SHA256.hash(data: body))
        let read = try server.boto3("print(hashlib.sha256(s3.get_object(Bucket=B, Key='etcd/c1-x.snapshot.db.age')['Body'].read()).hexdigest())")
        #expect(read.status == 0 && read.output.contains(sha), "\(read.output)")

        let wrote = try server.boto3("s3.put_object(Bucket=B, Key='etcd/from-boto3.bin', Body=b'x' * 70000); s3.put_object(Bucket=B, Key='etcd/empty.bin', Body=b'')")
        #expect(wrote.status == 0, "\(wrote.output)")
        #expect(try await store.getData("from-boto3.bin") == Data(repeating: UInt8(ascii: "x"), count: 70_000))
        #expect(try await store.getData("empty.bin").isEmpty)

        try await store.delete("c1-x.manifest.json")
        try await store.delete("c1-x.manifest.json")
        #expect(try await store.list().map(\.name) == ["c1-x.snapshot.db.age", "empty.bin", "from-boto3.bin"])
        await #expect(throws: BackupError.objectNotFound(store: store.location, name: "nope")) { _ = try await store.getData("nope") }
    }

    @Test("a multipart upload of a 65 MiB object (5 MiB parts) round-trips; boto3 sees the same bytes")
    func multipart() async throws {
        let server = try S3TestServer()
        defer { server.stop() }
        var store = try S3Store.forOperator(server.destination())
        store.partSize = 5 << 20
        let body = randomBytes(65 << 20)
        let pieces = stride(from: 0, to: body.count, by: 1 << 20).map { body.subdata(in: $0..<min($0 + (1 << 20), body.count)) }
        try await store.put("big.snapshot.db.age", chunks: stream(pieces))
        let sha = SigV4.hex(SHA256.hash(data: body))
        let read = try server.boto3("""
            o = s3.get_object(Bucket=B, Key='etcd/big.snapshot.db.age')
            print(hashlib.sha256(o['Body'].read()).hexdigest(), o['ETag'])
            """)
        #expect(read.status == 0 && read.output.contains(sha), "\(read.output)")
        #expect(read.output.contains("-13"), "the ETag of a 13-part multipart upload: \(read.output)")
        let got = ByteBox()
        try await store.get("big.snapshot.db.age") { got.append($0) }
        #expect(SigV4.hex(SHA256.hash(data: got.data)) == sha)
    }

    @Test("an interrupted upload leaves no object and no open multipart upload; the old object stays")
    func interrupted() async throws {
        let server = try S3TestServer()
        defer { server.stop() }
        var store = try S3Store.forOperator(server.destination())
        store.partSize = 5 << 20
        try await store.put("x.snapshot.db.age", data: Data("old".utf8))
        let part = randomBytes(3 << 20)
        await #expect(throws: (any Error).self) { try await store.put("x.snapshot.db.age", chunks: stream([part, part, part, part], failAfter: 3)) }
        await #expect(throws: (any Error).self) { try await store.put("y.snapshot.db.age", chunks: stream([part, part, part], failAfter: 2)) }
        #expect(try await store.getData("x.snapshot.db.age") == Data("old".utf8))
        #expect(try await store.list().map(\.name) == ["x.snapshot.db.age"])
        let open = try server.boto3("print(len(s3.list_multipart_uploads(Bucket=B).get('Uploads', [])))")
        #expect(open.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(open.output)")
    }

    @Test("the writer's credentials put but cannot list, read or delete; a wrong secret is refused")
    func rights() async throws {
        let server = try S3TestServer()
        defer { server.stop() }
        var writer = S3Store(destination: server.destination(), credentials: try SigV4.loadCredentials(path: server.writerCredentials))
        writer.partSize = 5 << 20
        try await writer.put("w.snapshot.db.age", data: Data("w".utf8))
        try await writer.put("w2.snapshot.db.age", chunks: stream([randomBytes(6 << 20), randomBytes(1000)])) // multipart too
        let w = writer
        for what in ["list", "get", "delete"] {
            do {
                switch what {
                case "list": _ = try await w.list()
                case "get": _ = try await w.getData("w.snapshot.db.age")
                default: try await w.delete("w.snapshot.db.age")
                }
                Issue.record("the writer could \(what)")
            } catch {
                #expect("\(error)".contains("AccessDenied"), "\(what): \(error)")
            }
        }
        let op = try S3Store.forOperator(server.destination())
        #expect(try await op.list().map(\.name) == ["w.snapshot.db.age", "w2.snapshot.db.age"])

        var wrong = try SigV4.loadCredentials(path: server.operatorCredentials)
        wrong.secretAccessKey = String(wrong.secretAccessKey.reversed())
        let forged = S3Store(destination: server.destination(), credentials: wrong)
        do {
            _ = try await forged.list()
            Issue.record("a wrong secret was accepted")
        } catch {
            #expect("\(error)".contains("SignatureDoesNotMatch"), "\(error)")
        }
        await #expect(throws: BackupError.self) { try await forged.put("f.snapshot.db.age", data: Data("f".utf8)) }
        #expect(try await op.list().count == 2)
    }
}
