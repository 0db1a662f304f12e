import Foundation
import Hosts

/// How a command line is sent to a host, shared by both transports.
///
/// Each command runs as `sh -c LINE capstan-run-TOKEN`: the token in its argv names the run, and
/// because sshd starts every exec in a session of its own, killing that session's processes stops the
/// command and everything it started. Closing an SSH channel alone leaves a command without a terminal
/// running (`sleep 600` never notices), so timeouts and cancellation end the run with `killLine`.
struct RemoteCommand: Sendable {
    let line: ShellCommand
    let token: String

    /// Environment as `env K=V` (whatever sshd's AcceptEnv says), `sudo -n` when the endpoint asks
    /// for `become` and the command is privileged.
    init(_ command: ShellCommand, options: RunOptions, become: Bool) {
        token = "capstan-run-" + UUID().uuidString.lowercased().filter { $0 != "-" }.prefix(16)
        var argv = ["sh", "-c", command.line, token]
        if !options.environment.isEmpty {
            argv = ["env"] + options.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + argv
        }
        var line = ShellCommand(argv)
        if options.privileged && become { line = line.withSudo }
        self.line = line
    }

    /// Kills every process of the session that runs this command. The pattern's bracket keeps the
    /// kill command's own argv from matching.
    var killLine: ShellCommand {
        let pattern = String(token.dropLast()) + "[" + String(token.suffix(1)) + "]"
        return ShellCommand(["sh", "-c", "for p in $(pgrep -f \"$1\"); do s=$(ps -o sid= -p \"$p\" | tr -d ' '); [ -n \"$s\" ] && [ \"$s\" != 0 ] && pkill -KILL -s \"$s\"; done; true", "sh", pattern])
    }

    /// Ends this run on the host with `killLine` through `run`, from a detached task so a cancelled
    /// caller still gets the kill through. A kill that does not come back (a loaded host, a slow new
    /// channel) is tried once more; each try is bounded so a dead connection does not hold the caller.
    func stop(privileged: Bool, through run: @escaping @Sendable (ShellCommand, RunOptions) async throws -> Void) async {
        let kill = killLine
        await Task.detached {
            for _ in 0..<2 {
                do { try await run(kill, RunOptions(timeoutSeconds: 20, privileged: privileged)); return } catch {}
            }
        }.value
    }

    /// A timeout or a cancellation: the command may still run on the host.
    static func isAbort(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        if case .timeout? = error as? HostError { return true }
        return false
    }

    static func sudoWantsPassword(_ stderr: Data) -> Bool {
        let text = String(decoding: stderr, as: UTF8.self)
        return text.contains("sudo: a password is required") || text.contains("sudo: a terminal is required")
    }
}
