import Foundation

/// Runs local programs (ip, mount, debootstrap, systemd-nspawn, nsenter …) and collects their output.
/// Programs are found on PATH, plus the sbin directories a root shell has.
public enum LocalProcess {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var succeeded: Bool { status == 0 }
    }

    static let searchPath: [String] = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        var dirs = path.split(separator: ":").map(String.init)
        for d in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"] where !dirs.contains(d) {
            dirs.append(d)
        }
        return dirs
    }()

    /// Full path of `program` on the search path, or nil.
    public static func which(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        for dir in searchPath {
            let candidate = dir + "/" + program
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `arguments` (program first) and returns its exit status and output; never throws for a non-zero exit.
    public static func run(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:],
                           currentDirectory: String? = nil) throws -> Output {
        guard let program = arguments.first else { throw LabError("empty command") }
        guard let executable = which(program) else {
            throw LabError("\(program) is not installed (needed for: \(ShellQuote.line(arguments)))")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let outPipe = Pipe()
        let errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        let inPipe = Pipe()
        if stdin == nil {
            process.standardInput = FileHandle.nullDevice
        } else {
            process.standardInput = inPipe
        }
        do {
            try process.run()
        } catch {
            throw LabError("cannot start \(executable): \(error)")
        }
        if let stdin {
            inPipe.fileHandleForWriting.write(stdin)
            try? inPipe.fileHandleForWriting.close()
        }
        // Drain stderr on another thread so a chatty program cannot block on a full pipe.
        let errBox = DataBox()
        let group = DispatchGroup()
        let errHandle = errPipe.fileHandleForReading
        DispatchQueue.global().async(group: group) { errBox.data = errHandle.readDataToEndOfFile() }
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        group.wait()
        return Output(status: process.terminationStatus,
                      stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: errBox.data, as: UTF8.self))
    }

    /// Runs `arguments` and throws with `context` and the program's stderr on a non-zero exit.
    @discardableResult
    public static func check(_ arguments: [String], context: String, stdin: Data? = nil,
                             environment: [String: String] = [:], currentDirectory: String? = nil) throws -> String {
        let out = try run(arguments, stdin: stdin, environment: environment, currentDirectory: currentDirectory)
        guard out.succeeded else {
            throw LabError.commandFailed(arguments, status: out.status, stderr: out.stderr.isEmpty ? out.stdout : out.stderr, context: context)
        }
        return out.stdout
    }

    /// Runs a constant shell pipeline with positional arguments `$1…`, e.g. for `tar | zstd`.
    @discardableResult
    static func shell(_ script: String, _ arguments: [String], context: String) throws -> String {
        try check(["sh", "-c", script, "sh"] + arguments, context: context)
    }
}

/// Bytes read on another thread; read back only after that thread's group finished.
private final class DataBox: @unchecked Sendable {
    var data = Data()
}
