import Foundation
import Hosts

/// Backups in a directory on a backup host reached through any `HostConnection` (SFTP over SSH in production).
/// Data goes through the connection's streaming, atomic file write and a streamed `cat`; listing and
/// deletion are shell commands whose path is passed as a positional argument, never spliced into the script.
public struct RemoteDirectoryStore: BackupStore {
    public let connection: any HostConnection
    public let directory: String
    public var location: String { "sftp \(connection.hostName):\(directory)" }
    /// Backup hosts keep backups as the connecting user; no sudo needed.
    private let options = RunOptions(timeoutSeconds: 120, privileged: false)

    public init(connection: any HostConnection, directory: String) {
        self.connection = connection
        self.directory = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
    }

    private func path(_ name: String) -> String { directory + "/" + name }

    private func fail(_ name: String, _ operation: String, _ reason: String) -> BackupError {
        .storeFailed(store: location, name: name, operation: operation, reason: reason)
    }

    public func put(_ name: String, chunks: AsyncThrowingStream<Data, any Error>) async throws {
        try BackupObjectName.validate(name)
        do {
            try await connection.write(chunks: chunks, to: path(name), attributes: FileAttributes(mode: 0o600))
        } catch let error as HostError {
            throw fail(name, "write", error.description)
        }
    }

    public func get(_ name: String, onChunk: @Sendable (Data) async throws -> Void) async throws {
        try BackupObjectName.validate(name)
        let command = ShellCommand("sh", "-c", #"f="$1"; [ -f "$f" ] || exit 44; exec cat -- "$f""#, "sh", path(name))
        let result = try await connection.stream(command, options: RunOptions(privileged: false), onStdout: onChunk)
        if result.exitStatus == 44 { throw BackupError.objectNotFound(store: location, name: name) }
        guard result.succeeded else { throw fail(name, "read", "exit \(result.exitStatus): \(result.stderrText)") }
    }

    public func list() async throws -> [BackupObject] {
        let script = #"d="$1"; [ -d "$d" ] || exit 0; cd -- "$d" || exit 1; for f in *; do [ -f "$f" ] && stat -c '%s %n' -- "$f"; done; exit 0"#
        let result = try await connection.run(ShellCommand("sh", "-c", script, "sh", directory), options: options)
        guard result.succeeded else { throw fail("*", "list", "exit \(result.exitStatus): \(result.stderrText)") }
        return result.stdoutText.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, let size = Int64(parts[0]), !parts[1].hasPrefix(".") else { return nil }
            return BackupObject(name: String(parts[1]), size: size)
        }.sorted { $0.name < $1.name }
    }

    public func delete(_ name: String) async throws {
        try BackupObjectName.validate(name)
        let result = try await connection.run(ShellCommand("sh", "-c", #"rm -f -- "$1""#, "sh", path(name)), options: options)
        guard result.succeeded else { throw fail(name, "delete", "exit \(result.exitStatus): \(result.stderrText)") }
    }
}
