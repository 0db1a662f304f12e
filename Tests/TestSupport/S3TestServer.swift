import Foundation

/// moto's S3 server with authentication on (scripts/s3-test-server.py), a bucket, and an operator (s3:*) and
/// a writer (PutObject and multipart only) with their credentials files.
public final class S3TestServer: @unchecked Sendable {
    public static let python = (ProcessInfo.processInfo.environment["CAPSTAN_CACHE"] ?? "/var/cache/capstan") + "/s3-venv/bin/python"
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/s3-test-server.py").path
    }

    let process = Process()
    let input = Pipe()
    public let endpoint: String
    public let bucket: String
    public let operatorCredentials: String
    public let writerCredentials: String
    let dir: String

    public init(host: String = "127.0.0.1") throws {
        dir = NSTemporaryDirectory() + "capstan-s3-server-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        process.executableURL = URL(fileURLWithPath: S3TestServer.python)
        process.arguments = [S3TestServer.script, "--host", host, "--port", "0", "--dir", dir]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: ProcessInfo.processInfo.environment["CAPSTAN_S3_SERVER_LOG"] ?? "/dev/null")
        process.standardInput = input
        try process.run()
        var line = Data()
        while !line.contains(10) {
            let more = output.fileHandleForReading.availableData
            if more.isEmpty { break }
            line.append(more)
        }
        struct Ready: Decodable { var endpoint: String; var bucket: String; var `operator`: String; var writer: String }
        let ready = try JSONDecoder().decode(Ready.self, from: line)
        endpoint = ready.endpoint
        bucket = ready.bucket
        operatorCredentials = ready.operator
        writerCredentials = ready.writer
    }

    /// boto3 with the operator's credentials: AWS's own client as the independent reader and writer.
    public func boto3(_ code: String, _ args: [String] = []) throws -> ProgramRun {
        let prelude = """
        import boto3, configparser, hashlib, sys, json
        c = configparser.ConfigParser(); c.read('\(operatorCredentials)'); d = c['default']
        s3 = boto3.client('s3', endpoint_url='\(endpoint)', region_name='us-east-1',
                          aws_access_key_id=d['aws_access_key_id'], aws_secret_access_key=d['aws_secret_access_key'])
        B = '\(bucket)'

        """
        return try runProgram([S3TestServer.python, "-c", prelude + code] + args)
    }

    public func stop() {
        try? input.fileHandleForWriting.close()
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

