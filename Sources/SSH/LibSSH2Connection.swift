import CLibSSH2
import Foundation
import Hosts

/// One open libssh2 connection to a host: commands and file transfers share its session, each on its
/// own channel. All libssh2 work runs on the session's serial queue (see `SessionExecutor`).
public final class LibSSH2Connection: HostConnection, StreamingFileSource, @unchecked Sendable {
    public let hostName: String
    public let endpoint: HostEndpoint
    let session: LibSSH2Session
    /// The SFTP subsystem, opened on first use; touched only on the session queue.
    var sftp: SFTPSession?
    private let onClose: @Sendable () -> Void

    init(endpoint: HostEndpoint, session: LibSSH2Session, onClose: @escaping @Sendable () -> Void = {}) {
        hostName = endpoint.name
        self.endpoint = endpoint
        self.session = session
        self.onClose = onClose
    }

    public func close() async {
        onClose()
        _ = try? await session.executor.perform { [self] in sftp = nil }
    }

    public func stream(
        _ command: ShellCommand, options: RunOptions,
        onStdout: @Sendable (Data) async throws -> Void
    ) async throws -> CommandResult {
        try await execute(command, options: options, stopsOnAbort: true, onStdout: onStdout)
    }

    private func execute(
        _ command: ShellCommand, options: RunOptions, stopsOnAbort: Bool,
        onStdout: @Sendable (Data) async throws -> Void
    ) async throws -> CommandResult {
        let remote = RemoteCommand(command, options: options, become: endpoint.become)
        let line = remote.line
        let session = self.session
        let host = hostName
        let started = Date()
        let limit = options.timeoutSeconds
        let deadline = limit.map { started.addingTimeInterval($0) } ?? .distantFuture
        let setupDeadline = min(deadline, started.addingTimeInterval(max(endpoint.connectTimeoutSeconds, 30)))

        let channel = try await session.executor.perform {
            let channel = try LibSSH2Channel.openSession(on: session, until: setupDeadline)
            let rc = try session.retry(until: setupDeadline, what: "starting a command") {
                libssh2_channel_process_startup(channel.raw, "exec", 4, line.line, UInt32(line.line.utf8.count))
            }
            guard rc == 0 else {
                throw session.failure(rc) { .disconnected(host: host, reason: "cannot start the command: \($0)") }
            }
            return channel
        }
        let feed = StdinFeed(options.stdin ?? Data())
        var stderr = Data()
        do {
            while true {
                if Date() >= deadline {
                    throw HostError.timeout(host: host, what: "command `\(command.line)`", seconds: limit ?? 0)
                }
                try Task.checkCancellation()
                let step = try await session.executor.perform { try channel.step(stdin: feed) }
                stderr.append(step.stderr)
                if !step.stdout.isEmpty { try await onStdout(step.stdout) }
                if step.finished { break }
            }
            let end = try await session.executor.perform { try channel.finish(until: Date().addingTimeInterval(30)) }
            if let signal = end.signal {
                stderr.append(contentsOf: Array("\ncommand killed by signal \(signal)\n".utf8))
            }
            if options.privileged && endpoint.become && end.status == 1 && RemoteCommand.sudoWantsPassword(stderr) {
                throw HostError.sudoNeedsPassword(host: host, user: endpoint.user)
            }
            return CommandResult(exitStatus: end.status, stdout: Data(), stderr: stderr)
        } catch {
            _ = try? await session.executor.perform { channel.abandon() }
            if stopsOnAbort && RemoteCommand.isAbort(error) { await stop(remote, options: options) }
            throw error
        }
    }

    /// Ends a timed-out or cancelled command on the host.
    func stop(_ remote: RemoteCommand, options: RunOptions) async {
        await remote.stop(privileged: options.privileged) { [self] kill, killOptions in
            _ = try await execute(kill, options: killOptions, stopsOnAbort: false) { _ in }
        }
    }
}
