import Crypto
import Foundation
import Hosts

/// File transfer over the mux: the bytes go through a command's stdin/stdout (`cat`), so `become`
/// users write system paths directly through `sudo -n` and no SFTP server is needed.
extension OpenSSHConnection {
    /// One command, the content on stdin, checked on the host before the rename (`installFromStdin`).
    public func write(_ data: Data, to path: String, attributes: FileAttributes) async throws {
        let sha256 = SHA256.hash(data: data).hex
        try await install(to: path, sha256: sha256, attributes: attributes, size: data.count,
                          feed: { try await $0.writeStdin(data) }, stdinFile: nil)
    }

    public func write(chunks: AsyncThrowingStream<Data, any Error>, to path: String, attributes: FileAttributes) async throws {
        try await put(to: path, attributes: attributes) { send in
            for try await chunk in chunks { try await send(chunk) }
        }
    }

    /// One command: ssh reads the local file itself as the command's stdin (the bytes never pass through
    /// Capstan), and the host checks the staging file against the file's SHA-256 before it replaces the
    /// target. The SHA-256 is computed once per file and run (`LocalFileDigest`), not once per host.
    public func upload(localFile: String, to path: String, attributes: FileAttributes) async throws {
        guard let sha256 = LocalFileDigest.sha256(of: localFile) else {
            throw HostError.transferFailed(host: hostName, path: path, reason: "cannot read the local file \(localFile)")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: localFile)[.size] as? Int) ?? Int.max
        try await install(to: path, sha256: sha256, attributes: attributes, size: size, feed: nil, stdinFile: localFile)
    }

    /// Runs `installFromStdin` with the content from `feed` or, without it, from `stdinFile`.
    private func install(to path: String, sha256: String, attributes: FileAttributes, size: Int,
                         feed: (@Sendable (ChildProcess) async throws -> Void)?, stdinFile: String?) async throws {
        let (directory, staging) = try StagingPath.beside(path, host: hostName)
        let command = ShellCommand.installFromStdin(path: path, directory: directory, staging: staging, sha256: sha256,
                                                    attributes: attributes, printTarget: false, size: size)
        let result = try await execute(command, options: .default, feed: feed, stdinFile: stdinFile, onStdout: { _ in })
        try InstallResult.check(result, host: hostName, path: path, expected: nil)
    }

    /// `cat` into a 0600 staging file beside the target while the bytes are hashed here, then one command
    /// (`installUploaded`) compares the staging file's SHA-256 with theirs, sets mode and owner and renames it
    /// over the target (`mv -f`: rename(2), atomic on one filesystem). A mismatch leaves the target as it was.
    private func put(to path: String, attributes: FileAttributes, produce: @escaping @Sendable (_ send: @Sendable (Data) async throws -> Void) async throws -> Void) async throws {
        let (directory, staging) = try StagingPath.beside(path, host: hostName)
        let digest = HashBox()
        let receive = ShellCommand(["sh", "-c", "umask 077 && mkdir -p -- \"$1\" && cat > \"$2\"", "sh", directory, staging])
        let received: CommandResult
        do {
            received = try await execute(receive, options: .default, feed: { process in
                try await produce { chunk in
                    digest.update(chunk)
                    try await process.writeStdin(chunk)
                }
            }, onStdout: { _ in })
        } catch {
            _ = try? await run(ShellCommand("rm", "-f", "--", staging))
            throw error
        }
        guard received.succeeded else {
            _ = try? await run(ShellCommand("rm", "-f", "--", staging))
            throw HostError.transferFailed(host: hostName, path: path, reason: "cannot write \(staging): \(received.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let expected = digest.hex()
        let install = ShellCommand.installUploaded(staging, path: path, directory: directory, staging: staging, sha256: expected,
                                                   attributes: attributes, printTarget: true, size: digest.count)
        try InstallResult.check(try await run(install), host: hostName, path: path, expected: expected)
    }

    /// Exit status of the read command when the file does not exist.
    private static let missingStatus: Int32 = 44

    public func read(_ path: String) async throws -> Data? { try await readStreamed(path) }

    public func download(_ path: String, toLocalFile localPath: String) async throws {
        try await downloadStreamed(path, toLocalFile: localPath)
    }

    /// Streams the file's bytes to `sink`; false when it does not exist.
    func streamFile(_ path: String, into sink: @escaping @Sendable (Data) throws -> Void) async throws -> Bool {
        let command = ShellCommand(["sh", "-c", "if [ -e \"$1\" ]; then exec cat -- \"$1\"; else exit \(Self.missingStatus); fi", "sh", path])
        let result = try await stream(command, options: .default) { try sink($0) }
        if result.succeeded { return true }
        if result.exitStatus == Self.missingStatus { return false }
        throw HostError.transferFailed(host: hostName, path: path, reason: result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// SHA-256 and length of the chunks handed in from a feeding task.
final class HashBox: @unchecked Sendable {
    private let lock = NSLock()
    private var hasher = SHA256()
    private var total = 0
    func update(_ data: Data) { lock.withLock { hasher.update(data: data); total += data.count } }
    func hex() -> String { lock.withLock { hasher.finalize().hex } }
    var count: Int { lock.withLock { total } }
}

