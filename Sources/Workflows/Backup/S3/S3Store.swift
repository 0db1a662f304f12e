import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Inventory

/// Backups in an S3-compatible bucket, spoken with SigV4-signed requests over URLSession. Objects up to
/// `partSize` go up in one PUT, larger ones as a multipart upload; either way S3 makes an object visible only
/// once it is complete, so a failed or interrupted upload never replaces or shows up as an object (a failed
/// multipart upload is aborted). Every PUT carries Content-MD5 and x-amz-content-sha256, which the store checks.
public struct S3Store: BackupStore {
    public let destination: S3Destination
    public let credentials: SigV4.Credentials
    /// Part size for multipart uploads (S3's minimum is 5 MiB for every part but the last).
    public var partSize: Int
    /// Range size for downloads: objects stream in pieces of this size, never whole in memory.
    public var readSize = 8 << 20
    private let session: URLSession
    public var location: String { "s3 \(destination.endpoint)/\(destination.bucket)/\(destination.prefix)" }

    public static let defaultPartSize = 64 << 20

    public init(destination: S3Destination, credentials: SigV4.Credentials, partSize: Int = S3Store.defaultPartSize) {
        self.destination = destination
        self.credentials = credentials
        self.partSize = max(partSize, 1)
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = 120
        session = URLSession(configuration: config)
    }

    /// The store for the operator's side: `operatorCredentialsFile` when set, else `credentialsFile`.
    public static func forOperator(_ destination: S3Destination) throws(BackupError) -> S3Store {
        S3Store(destination: destination, credentials: try SigV4.loadCredentials(path: destination.operatorCredentialsFile ?? destination.credentialsFile))
    }

    private func fail(_ name: String, _ operation: String, _ reason: String) -> BackupError {
        .storeFailed(store: location, name: name, operation: operation, reason: reason)
    }

    /// Scheme, host (with the bucket for virtual-host style) and the raw path of an object key.
    func target(key: String?) throws(BackupError) -> (base: URLComponents, path: String) {
        guard var base = URLComponents(string: destination.endpoint), let host = base.host else {
            throw fail(key ?? "", "connect", "endpoint \(destination.endpoint) is not a URL")
        }
        var path = ""
        if destination.pathStyle {
            path = "/" + destination.bucket + "/" + (key ?? "")
        } else {
            base.host = destination.bucket + "." + host
            path = "/" + (key ?? "")
        }
        base.path = ""
        return (base, path)
    }

    /// One signed request; `body` is hashed for x-amz-content-sha256 and, for PUT/POST, sent with Content-MD5.
    func request(_ method: String, key: String?, query: [(String, String)] = [], headers extra: [(String, String)] = [],
                 body: Data = Data(), name: String, operation: String) async throws -> (Data, HTTPURLResponse) {
        let (base, path) = try target(key: key)
        var components = base
        components.percentEncodedPath = SigV4.encode(path, keepSlash: true)
        components.percentEncodedQuery = query.isEmpty ? nil : SigV4.canonicalQuery(query)
        guard let url = components.url, let hostHeader = components.host else { throw fail(name, operation, "cannot build a URL from \(destination.endpoint)") }
        let hostValue = components.port.map { "\(hostHeader):\($0)" } ?? hostHeader
        let payloadHash = SigV4.hex(SHA256.hash(data: body))
        // One clock reading for the header and the signature, or a second boundary between them breaks the signature.
        let now = Date()
        var headers: [(String, String)] = [("host", hostValue), ("x-amz-date", SigV4.amzDate(now)), ("x-amz-content-sha256", payloadHash)] + extra
        if method == "PUT" || method == "POST" {
            headers.append(("content-md5", Data(Insecure.MD5.hash(data: body)).base64EncodedString()))
        }
        if let token = credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
        let signed = SigV4.sign(method: method, path: path, query: query, headers: headers, payloadHash: payloadHash, date: now,
                                region: destination.region, service: "s3", credentials: credentials)
        var request = URLRequest(url: url)
        request.httpMethod = method
        for (name, value) in headers where name != "host" { request.setValue(value, forHTTPHeaderField: name) }
        request.setValue(signed.authorization, forHTTPHeaderField: "Authorization")
        if !body.isEmpty || method == "PUT" || method == "POST" {
            request.httpBody = body
            request.setValue(String(body.count), forHTTPHeaderField: "Content-Length")
            // URLSession labels a POST body as a form otherwise, and servers then parse it away as form fields.
            request.setValue(method == "POST" ? "application/xml" : "application/octet-stream", forHTTPHeaderField: "Content-Type")
        }
        let data: Data, response: URLResponse
        do {
            (data, response) = try await session.data(for: request)
        } catch {
            throw fail(name, operation, "\(destination.endpoint) unreachable: \(error.localizedDescription)")
        }
        guard let http = response as? HTTPURLResponse else { throw fail(name, operation, "no HTTP response") }
        return (data, http)
    }

    /// The S3 error code and message of a failed response, with what to do for the common ones.
    func explain(_ data: Data, _ status: Int) -> String {
        let text = String(decoding: data, as: UTF8.self)
        let code = S3XML.values("Code", in: text).first ?? "HTTP \(status)"
        let message = S3XML.values("Message", in: text).first ?? ""
        let hint: String
        switch code {
        case "SignatureDoesNotMatch", "InvalidAccessKeyId": hint = " — check the credentials file the inventory names"
        case "AccessDenied": hint = " — the credentials lack the right for this operation"
        case "NoSuchBucket": hint = " — create the bucket \(destination.bucket) first"
        case "BadDigest", "XAmzContentSHA256Mismatch": hint = " — the bytes changed on the way; try again"
        default: hint = ""
        }
        return "\(code)\(message.isEmpty ? "" : ": " + message) (HTTP \(status))\(hint)"
    }

    private func check(_ result: (Data, HTTPURLResponse), _ name: String, _ operation: String) throws -> Data {
        guard (200..<300).contains(result.1.statusCode) else { throw fail(name, operation, explain(result.0, result.1.statusCode)) }
        return result.0
    }

    public func put(_ name: String, chunks: AsyncThrowingStream<Data, any Error>) async throws {
        try BackupObjectName.validate(name)
        let key = destination.prefix + name
        var buffer = Data()
        var uploadID: String?
        var parts: [(Int, String)] = []
        do {
            for try await chunk in chunks {
                buffer.append(chunk)
                while buffer.count >= partSize, buffer.count > 0 {
                    // More may follow: this becomes a multipart upload.
                    if uploadID == nil { uploadID = try await createMultipart(key: key, name: name) }
                    let part = Data(buffer.prefix(partSize))
                    buffer = Data(buffer.dropFirst(partSize))
                    parts.append(try await uploadPart(part, number: parts.count + 1, key: key, uploadID: uploadID ?? "", name: name))
                }
            }
            guard let id = uploadID else {
                _ = try check(try await request("PUT", key: key, body: buffer, name: name, operation: "put"), name, "put")
                return
            }
            if !buffer.isEmpty || parts.isEmpty {
                parts.append(try await uploadPart(buffer, number: parts.count + 1, key: key, uploadID: id, name: name))
            }
            let xml = "<CompleteMultipartUpload>" + parts.map { "<Part><PartNumber>\($0.0)</PartNumber><ETag>\($0.1)</ETag></Part>" }.joined()
                + "</CompleteMultipartUpload>"
            let done = try check(try await request("POST", key: key, query: [("uploadId", id)], body: Data(xml.utf8), name: name, operation: "complete multipart upload"),
                                 name, "complete multipart upload")
            // S3 may answer 200 with an error document for CompleteMultipartUpload.
            let text = String(decoding: done, as: UTF8.self)
            if text.contains("<Error>") { throw fail(name, "complete multipart upload", explain(done, 200)) }
        } catch {
            if let id = uploadID {
                _ = try? await request("DELETE", key: key, query: [("uploadId", id)], name: name, operation: "abort multipart upload")
            }
            throw error
        }
    }

    private func createMultipart(key: String, name: String) async throws -> String {
        let data = try check(try await request("POST", key: key, query: [("uploads", "")], name: name, operation: "start multipart upload"),
                             name, "start multipart upload")
        guard let id = S3XML.values("UploadId", in: String(decoding: data, as: UTF8.self)).first else {
            throw fail(name, "start multipart upload", "no UploadId in the answer")
        }
        return id
    }

    private func uploadPart(_ part: Data, number: Int, key: String, uploadID: String, name: String) async throws -> (Int, String) {
        let result = try await request("PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: part,
                                       name: name, operation: "upload part \(number)")
        _ = try check(result, name, "upload part \(number)")
        guard let etag = result.1.value(forHTTPHeaderField: "ETag") else { throw fail(name, "upload part \(number)", "no ETag in the answer") }
        return (number, etag)
    }

    public func get(_ name: String, onChunk: @Sendable (Data) async throws -> Void) async throws {
        try BackupObjectName.validate(name)
        let key = destination.prefix + name
        var offset: Int64 = 0
        var total: Int64?
        repeat {
            let end = offset + Int64(readSize) - 1
            let (data, response) = try await request("GET", key: key, headers: [("range", "bytes=\(offset)-\(end)")], name: name, operation: "get")
            switch response.statusCode {
            case 404: throw BackupError.objectNotFound(store: location, name: name)
            case 416 where offset == 0: return // an empty object has no byte range
            case 200:
                try await onChunk(data) // the server ignored the range and sent everything
                return
            case 206:
                let range = response.value(forHTTPHeaderField: "Content-Range") ?? ""
                guard let size = range.split(separator: "/").last.flatMap({ Int64($0) }) else {
                    throw fail(name, "get", "the answer has no usable Content-Range (\(range))")
                }
                total = size
                if !data.isEmpty { try await onChunk(data) }
                offset += Int64(data.count)
                if data.isEmpty { throw fail(name, "get", "the server sent an empty range before the end of the object") }
            default:
                throw fail(name, "get", explain(data, response.statusCode))
            }
        } while offset < (total ?? 0)
    }

    public func list() async throws -> [BackupObject] {
        var out: [BackupObject] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", destination.prefix)]
            if let token { query.append(("continuation-token", token)) }
            let data = try check(try await request("GET", key: nil, query: query, name: "(list)", operation: "list"), "(list)", "list")
            let text = String(decoding: data, as: UTF8.self)
            for entry in S3XML.values("Contents", in: text) {
                guard let key = S3XML.values("Key", in: entry).first, let size = S3XML.values("Size", in: entry).first.flatMap({ Int64($0) }) else { continue }
                let name = String(key.dropFirst(destination.prefix.count))
                // Only direct children of the prefix that are valid object names are backups' objects.
                if key.hasPrefix(destination.prefix), !name.contains("/"), (try? BackupObjectName.validate(name)) != nil {
                    out.append(BackupObject(name: name, size: size))
                }
            }
            token = S3XML.values("IsTruncated", in: text).first == "true" ? S3XML.values("NextContinuationToken", in: text).first : nil
        } while token != nil
        return out.sorted { $0.name < $1.name }
    }

    public func delete(_ name: String) async throws {
        try BackupObjectName.validate(name)
        let result = try await request("DELETE", key: destination.prefix + name, name: name, operation: "delete")
        guard (200..<300).contains(result.1.statusCode) || result.1.statusCode == 404 else {
            throw fail(name, "delete", explain(result.0, result.1.statusCode))
        }
    }
}

/// Just enough XML reading for S3's answers: the text of every `<tag>…</tag>`, entities decoded.
enum S3XML {
    static func values(_ tag: String, in text: String) -> [String] {
        var out: [String] = []
        var rest = Substring(text)
        while let open = rest.range(of: "<\(tag)>"), let close = rest[open.upperBound...].range(of: "</\(tag)>") {
            out.append(decode(String(rest[open.upperBound..<close.lowerBound])))
            rest = rest[close.upperBound...]
        }
        return out
    }

    static func decode(_ s: String) -> String {
        s.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
    }
}
