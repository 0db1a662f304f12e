import Foundation

public struct CommandResult: Sendable, Equatable {
    public var exitStatus: Int32
    public var stdout: Data
    public var stderr: Data

    public init(exitStatus: Int32, stdout: Data = Data(), stderr: Data = Data()) {
        self.exitStatus = exitStatus
        self.stdout = stdout
        self.stderr = stderr
    }

    public var succeeded: Bool { exitStatus == 0 }
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

public struct RunOptions: Sendable, Equatable {
    /// Kill the command and fail with `HostError.timeout` after this many seconds (nil: no limit).
    public var timeoutSeconds: Double?
    /// Environment variables for the command (sent as `env K=V …` so it works whatever sshd's AcceptEnv says).
    public var environment: [String: String]
    /// Run through sudo when the endpoint asks for `become`. Default true: host work is privileged.
    public var privileged: Bool
    /// Bytes written to the command's stdin, then EOF.
    public var stdin: Data?

    public init(timeoutSeconds: Double? = nil, environment: [String: String] = [:], privileged: Bool = true, stdin: Data? = nil) {
        self.timeoutSeconds = timeoutSeconds
        self.environment = environment
        self.privileged = privileged
        self.stdin = stdin
    }

    public static let `default` = RunOptions()
}

/// Runs shell commands on one host. Implementations: SSH (libssh2), OpenSSH client, local process.
public protocol CommandRunner: Sendable {
    /// The host's name, for messages.
    var hostName: String { get }

    /// Runs `command`, collecting stdout and stderr. A non-zero exit is a result, not an error;
    /// errors are for transport failures, timeouts and cancellation.
    func run(_ command: ShellCommand, options: RunOptions) async throws -> CommandResult

    /// Runs `command`, handing stdout to `onStdout` chunk by chunk as it arrives (for large or long output,
    /// e.g. a snapshot stream). stderr is collected and returned with the exit status.
    func stream(
        _ command: ShellCommand, options: RunOptions,
        onStdout: @Sendable (Data) async throws -> Void
    ) async throws -> CommandResult
}

public struct FileAttributes: Sendable, Equatable {
    /// POSIX permission bits, e.g. 0o600.
    public var mode: UInt32
    /// `user` or `user:group`; nil keeps the connecting user's ownership.
    public var owner: String?

    public init(mode: UInt32 = 0o644, owner: String? = nil) {
        self.mode = mode
        self.owner = owner
    }
}

/// File transfer on one host. Every write is atomic (temporary file in the same directory, then rename),
/// creates missing parent directories, and applies mode and owner before the rename.
public protocol RemoteFileSystem: Sendable {
    func write(_ data: Data, to path: String, attributes: FileAttributes) async throws
    /// Writes a stream of chunks atomically without holding the whole content in memory (large files:
    /// backups, binaries). Transports that can stream override the collecting default.
    func write(chunks: AsyncThrowingStream<Data, any Error>, to path: String, attributes: FileAttributes) async throws
    func upload(localFile: String, to path: String, attributes: FileAttributes) async throws
    /// nil when the file does not exist.
    func read(_ path: String) async throws -> Data?
    func download(_ path: String, toLocalFile localPath: String) async throws
}

/// An open connection to one host, reused for all its commands and file transfers.
public protocol HostConnection: CommandRunner, RemoteFileSystem {
    func close() async
}

/// Opens connections. One implementation per transport; the composition root picks one per host.
public protocol HostConnector: Sendable {
    func connect(_ endpoint: HostEndpoint) async throws -> any HostConnection
}

extension RemoteFileSystem {
    /// Collects the chunks and writes them at once; correct for any transport, streaming for none.
    public func write(chunks: AsyncThrowingStream<Data, any Error>, to path: String, attributes: FileAttributes) async throws {
        var all = Data()
        for try await chunk in chunks { all.append(chunk) }
        try await write(all, to: path, attributes: attributes)
    }
}

extension CommandRunner {
    /// Every transport streams; `run` is `stream` with stdout collected.
    public func run(_ command: ShellCommand, options: RunOptions) async throws -> CommandResult {
        let collected = CollectedData()
        var result = try await stream(command, options: options) { collected.append($0) }
        result.stdout = collected.data
        return result
    }

    public func run(_ command: ShellCommand) async throws -> CommandResult {
        try await run(command, options: .default)
    }

    /// Runs `command` and throws `HostError.commandFailed` (with stderr) on a non-zero exit.
    @discardableResult
    public func check(_ command: ShellCommand, options: RunOptions = .default) async throws -> CommandResult {
        let result = try await run(command, options: options)
        guard result.succeeded else {
            throw HostError.commandFailed(host: hostName, command: command.description, exitStatus: result.exitStatus, stderr: result.stderrText)
        }
        return result
    }
}

/// Bytes appended from a transport's reader (another thread or task) and read once it is done.
public final class CollectedData: @unchecked Sendable {
    private let lock = NSLock()
    private var storage = Data()

    public init() {}
    public func append(_ chunk: Data) { lock.withLock { storage.append(chunk) } }
    public var data: Data { lock.withLock { storage } }
}
