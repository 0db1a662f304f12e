import Foundation
import Hosts

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
    /// Spawned as every local program is (`ChildProcess`): the lab runs many programs from several threads at
    /// once and starts long-lived daemons, and no child inherits another call's pipe or any other descriptor.
    public static func run(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:],
                           currentDirectory: String? = nil) throws -> Output {
        guard let program = arguments.first else { throw LabError("empty command") }
        guard let executable = which(program) else {
            throw LabError("\(program) is not installed (needed for: \(ShellQuote.line(arguments)))")
        }
        var argv = [executable] + arguments.dropFirst()
        if let currentDirectory, let env = which("env") {
            argv = [env, "-C", currentDirectory] + argv
        }
        let output: ChildProcess.Output
        do {
            output = try ChildProcess.runBlocking(argv, environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new }, input: stdin)
        } catch {
            throw LabError("cannot start \(executable): \(error)")
        }
        return Output(status: output.status, stdout: String(decoding: output.stdout, as: UTF8.self), stderr: String(decoding: output.stderr, as: UTF8.self))
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
