import Foundation
import Hosts

/// What a workflow may do on a host outside `WorkflowContext.change`: run commands that read (facts,
/// health, listings) and read files. It has no file writes; changes go through `change`, which records
/// them and makes them only in apply mode.
public struct HostReader: CommandRunner {
    let connection: any HostConnection

    public var hostName: String { connection.hostName }

    public func stream(_ command: ShellCommand, options: RunOptions,
                       onStdout: @Sendable (Data) async throws -> Void) async throws -> CommandResult {
        try await connection.stream(command, options: options, onStdout: onStdout)
    }

    public func run(_ command: ShellCommand, options: RunOptions) async throws -> CommandResult {
        try await connection.run(command, options: options)
    }

    /// nil when the file does not exist.
    public func read(_ path: String) async throws -> Data? {
        try await connection.read(path)
    }
}

extension WorkflowContext {
    /// A read-only view of `host`'s connection (opened on first use and shared with `change`).
    public func reader(_ host: String) async throws -> HostReader {
        HostReader(connection: try await openConnection(host))
    }
}
