import Foundation
import Hosts

/// What a program a test ran to its end left: exit status (128+signal when killed), stdout and stderr.
public struct ProgramRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// Wall time from the start to the end of the run.
    public var seconds: Double
    public var succeeded: Bool { status == 0 }
    /// stdout, then stderr.
    public var output: String { stdout + stderr }
}

/// Runs `argv` (argv[0] looked up on PATH) to its end, as Capstan runs local programs (`ChildProcess`):
/// stdout, stderr and `input` are read and written on their own threads, so no full pipe blocks the child,
/// and the wait is for this child's pid, so no other child coming and going is taken for its exit.
/// `directory`: the program starts there (through `env -C`).
public func runProgram(_ argv: [String], input: Data? = nil, environment: [String: String] = [:], in directory: String? = nil) throws -> ProgramRun {
    let start = Date()
    let command = directory.map { ["env", "-C", $0] + argv } ?? argv
    let out = try ChildProcess.runBlocking(command, environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new }, input: input)
    return ProgramRun(status: out.status, stdout: String(decoding: out.stdout, as: UTF8.self), stderr: String(decoding: out.stderr, as: UTF8.self),
                      seconds: Date().timeIntervalSince(start))
}
