import Foundation
import Hosts

/// A debugging aid: with `CAPSTAN_TRACE=FILE` in the environment, every remote command and file transfer a
/// run makes is appended to FILE as one line (start time, duration, host, the phase it ran in, what it did),
/// so an operator can see where a slow run spends its round trips. Off (no wrapper) otherwise.
final class CommandTrace: Sendable {
    private let handle: FileHandle
    private let lock = NSLock()

    static let shared: CommandTrace? = {
        guard let path = ProcessInfo.processInfo.environment["CAPSTAN_TRACE"], !path.isEmpty else { return nil }
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { return nil }
        handle.seekToEndOfFile()
        return CommandTrace(handle: handle)
    }()

    private init(handle: FileHandle) { self.handle = handle }

    func record(host: String, phase: String?, started: Date, _ what: String) {
        let seconds = Date().timeIntervalSince(started)
        let text = String(what.prefix(160)).replacingOccurrences(of: "\n", with: "⏎")
        let line = String(format: "%.3f %6.3fs ", started.timeIntervalSince1970, seconds) + "\(host) [\(phase ?? "-")] \(text)\n"
        lock.lock()
        defer { lock.unlock() }
        handle.write(Data(line.utf8))
    }
}

/// A connection that records each operation in the trace before passing it on.
struct TracedConnection: HostConnection {
    let inner: any HostConnection
    let trace: CommandTrace
    let phase: @Sendable () async -> String?

    var hostName: String { inner.hostName }

    private func traced<T: Sendable>(_ what: String, _ body: () async throws -> T) async rethrows -> T {
        let started = Date()
        let current = await phase()
        defer { trace.record(host: inner.hostName, phase: current, started: started, what) }
        return try await body()
    }

    func stream(_ command: ShellCommand, options: RunOptions, onStdout: @Sendable (Data) async throws -> Void) async throws -> CommandResult {
        try await traced("run \(command.line)") { try await inner.stream(command, options: options, onStdout: onStdout) }
    }

    func run(_ command: ShellCommand, options: RunOptions) async throws -> CommandResult {
        try await traced("run \(command.line)") { try await inner.run(command, options: options) }
    }

    func write(_ data: Data, to path: String, attributes: FileAttributes) async throws {
        try await traced("write \(path) (\(data.count) B)") { try await inner.write(data, to: path, attributes: attributes) }
    }

    func write(chunks: AsyncThrowingStream<Data, any Error>, to path: String, attributes: FileAttributes) async throws {
        try await traced("write \(path) (streamed)") { try await inner.write(chunks: chunks, to: path, attributes: attributes) }
    }

    func upload(localFile: String, to path: String, attributes: FileAttributes) async throws {
        try await traced("upload \(localFile) → \(path)") { try await inner.upload(localFile: localFile, to: path, attributes: attributes) }
    }

    func read(_ path: String) async throws -> Data? {
        try await traced("read \(path)") { try await inner.read(path) }
    }

    func download(_ path: String, toLocalFile localPath: String) async throws {
        try await traced("download \(path)") { try await inner.download(path, toLocalFile: localPath) }
    }

    func close() async { await inner.close() }
}
