import Foundation
import Hosts

/// One host reached through the system OpenSSH client: every command is an `ssh` client multiplexed
/// on the host's ControlMaster (no new handshake), started with posix_spawn and read on its own thread.
public final class OpenSSHConnection: HostConnection, StreamingFileSource, @unchecked Sendable {
    public let hostName: String
    public let endpoint: HostEndpoint
    let options: OpenSSHOptions
    let isBastion: Bool
    private let directory: PrivateDirectory
    private let onClose: @Sendable () -> Void
    private let closing = Once<Void>()

    init(endpoint: HostEndpoint, options: OpenSSHOptions, directory: PrivateDirectory, isBastion: Bool, onClose: @escaping @Sendable () -> Void) {
        hostName = endpoint.name
        self.endpoint = endpoint
        self.options = options
        self.directory = directory
        self.isBastion = isBastion
        self.onClose = onClose
    }

    /// Ends the master (`ssh -O exit`); later commands on this object would connect without it.
    /// Closing twice (a command's own close, then the connector's `closeAll`) asks the master once, and the
    /// second caller waits for that answer.
    public func close() async {
        let (program, arguments, environment, onClose) = (options.program, ["-S", options.controlPath, "-O", "exit"] + options.arguments + ["--", endpoint.address], options.environment, onClose)
        try? await closing.value {
            onClose()
            _ = try? await ChildProcess.run([program] + arguments, environment: environment)
        }
    }

    /// True while the master answers `ssh -O check`.
    func masterAlive() async -> Bool {
        let result = try? await ChildProcess.run([options.program, "-S", options.controlPath, "-O", "check"] + options.arguments + ["--", endpoint.address], environment: options.environment)
        return result?.status == 0
    }

    public func stream(
        _ command: ShellCommand, options: RunOptions,
        onStdout: @Sendable (Data) async throws -> Void
    ) async throws -> CommandResult {
        var feed: (@Sendable (ChildProcess) async throws -> Void)?
        if let input = options.stdin {
            feed = { process in try await process.writeStdin(input) }
        }
        return try await execute(command, options: options, feed: feed, onStdout: onStdout)
    }

    /// Runs `command` through a mux client. `feed` writes the command's stdin (closed after it returns);
    /// without it stdin is `stdinFile` (read by ssh itself), else /dev/null. Timeouts and cancellation kill
    /// the client and the remote run (SIGKILL: a mux client ignores SIGTERM while its session runs).
    func execute(
        _ command: ShellCommand, options runOptions: RunOptions, stopsOnAbort: Bool = true,
        feed: (@Sendable (ChildProcess) async throws -> Void)?, stdinFile: String? = nil,
        onStdout: @Sendable (Data) async throws -> Void
    ) async throws -> CommandResult {
        let remote = RemoteCommand(command, options: runOptions, become: endpoint.become)
        let argv = [options.program, "-S", options.controlPath, "-o", "ControlMaster=no", "-o", "LogLevel=ERROR", "-T"]
            + options.arguments + ["--", endpoint.address, remote.line.line]
        let process = try ChildProcess(argv, environment: options.environment, stdin: feed != nil, stdinFile: stdinFile)
        let host = hostName
        // The loop below reads `events`, which the abort path can end early: after the client is killed
        // the master still holds its stdio until the remote session is gone.
        let (events, sink) = AsyncStream<ChildProcess.Event>.makeStream(bufferingPolicy: .unbounded)
        let forwarder = Task {
            for await event in process.events { sink.yield(event) }
            sink.finish()
        }
        let abort = Abort { [self] in
            process.signal(SIGKILL)
            sink.finish()
            forwarder.cancel()
            guard stopsOnAbort else { return nil }
            return Task.detached { await self.stop(remote, options: runOptions) }
        }
        let feedError = ErrorBox()
        let feeder = feed.map { feed in
            Task {
                do { try await feed(process) } catch {
                    feedError.set(error)
                    abort.fire()
                }
                await process.closeStdin()
            }
        }
        let timedOut = Flag()
        let timer = runOptions.timeoutSeconds.map { limit in
            Task {
                try await Task.sleep(for: .seconds(limit))
                timedOut.set()
                abort.fire()
            }
        }
        var stderr = Data()
        var failure: (any Error)?
        await withTaskCancellationHandler {
            for await event in events {
                switch event {
                case .stdout(let data):
                    guard failure == nil else { continue }
                    do { try await onStdout(data) } catch {
                        failure = error
                        abort.fire()
                    }
                case .stderr(let data):
                    stderr.append(data)
                case .stdoutClosed:
                    break
                }
            }
        } onCancel: {
            abort.fire()
        }
        let status = ChildProcess.exitCode(await process.waitStatus())
        timer?.cancel()
        await feeder?.value
        await abort.stopped()

        let aborted: (any Error)? =
            Task.isCancelled ? CancellationError()
            : timedOut.isSet ? HostError.timeout(host: host, what: "command `\(command.line)`", seconds: runOptions.timeoutSeconds ?? 0)
            : nil
        if let error = aborted ?? failure ?? feedError.error { throw error }
        if status == 255, !(await masterAlive()) {
            let text = String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw HostError.disconnected(host: host, reason: text.isEmpty ? "the ssh connection ended while the command ran" : text)
        }
        if runOptions.privileged && endpoint.become && status == 1 && RemoteCommand.sudoWantsPassword(stderr) {
            throw HostError.sudoNeedsPassword(host: host, user: endpoint.user)
        }
        return CommandResult(exitStatus: status, stdout: Data(), stderr: stderr)
    }

    /// Ends a timed-out or cancelled command's processes on the host.
    func stop(_ remote: RemoteCommand, options runOptions: RunOptions) async {
        await remote.stop(privileged: runOptions.privileged) { [self] kill, killOptions in
            _ = try await execute(kill, options: killOptions, stopsOnAbort: false, feed: nil) { _ in }
        }
    }
}

/// Fires once: kills the local client and starts ending the remote run; `stopped` waits for that.
final class Abort: @unchecked Sendable {
    private let lock = NSLock()
    private var fired = false
    private var task: Task<Void, Never>?
    private let action: @Sendable () -> Task<Void, Never>?

    init(_ action: @escaping @Sendable () -> Task<Void, Never>?) { self.action = action }

    /// Runs the action under the lock, so `stopped` never misses the task it starts.
    func fire() {
        lock.withLock {
            guard !fired else { return }
            fired = true
            task = action()
        }
    }

    func stopped() async {
        await lock.withLock { task }?.value
    }
}

final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (any Error)?
    func set(_ error: any Error) { lock.withLock { if stored == nil { stored = error } } }
    var error: (any Error)? { lock.withLock { stored } }
}
