import CLibSSH2
import Crypto
import Foundation
import Hosts

/// Owns the SFTP subsystem of one session.
final class SFTPSession: @unchecked Sendable {
    let raw: OpaquePointer
    let session: LibSSH2Session

    init(session: LibSSH2Session, until deadline: Date) throws {
        guard let raw = try session.retryPointer(until: deadline, what: "starting SFTP", { libssh2_sftp_init(session.raw) }) else {
            throw session.failure { .transferFailed(host: session.host, path: "", reason: "cannot start SFTP (is the sftp subsystem enabled in sshd?): \($0)") }
        }
        self.raw = raw
        self.session = session
    }

    deinit {
        let raw = self.raw
        session.release { libssh2_sftp_shutdown(raw) }
    }

    /// The error text for the last failed SFTP call, with the SFTP status when there is one.
    func errorText() -> (status: UInt, text: String) {
        let (code, text) = session.lastError()
        if code == LIBSSH2_ERROR_SFTP_PROTOCOL {
            let status = libssh2_sftp_last_error(raw)
            return (status, "\(text) (SFTP status \(status)\(status == LIBSSH2_FX_NO_SUCH_FILE ? ": no such file" : status == LIBSSH2_FX_PERMISSION_DENIED ? ": permission denied" : ""))")
        }
        return (0, text)
    }
}

/// Owns one open remote file.
final class SFTPFile: @unchecked Sendable {
    let raw: OpaquePointer
    let sftp: SFTPSession

    init(raw: OpaquePointer, sftp: SFTPSession) {
        self.raw = raw
        self.sftp = sftp
    }

    deinit {
        let raw = self.raw
        sftp.session.release(maxTries: 100) { libssh2_sftp_close_handle(raw) }
    }
}

extension LibSSH2Connection {
    static let chunkSize = 1 << 20

    /// The SFTP session, started on first use. Runs on the session queue.
    private func sftpSession() throws -> SFTPSession {
        if let sftp { return sftp }
        let opened = try SFTPSession(session: session, until: Date().addingTimeInterval(30))
        sftp = opened
        return opened
    }

    /// Opens `path`; nil when it does not exist and `missingIsNil`.
    private func openFile(_ path: String, flags: Int32, mode: UInt32, missingIsNil: Bool = false) async throws -> SFTPFile? {
        let host = hostName
        return try await session.executor.perform { [self] in
            let sftp = try sftpSession()
            let raw = try session.retryPointer(until: Date().addingTimeInterval(30), what: "opening \(path)") {
                libssh2_sftp_open_ex(sftp.raw, path, UInt32(path.utf8.count), UInt(flags), Int(mode), LIBSSH2_SFTP_OPENFILE)
            }
            guard let raw else {
                let (status, text) = sftp.errorText()
                if missingIsNil && status == LIBSSH2_FX_NO_SUCH_FILE { return nil }
                throw session.failure { _ in .transferFailed(host: host, path: path, reason: "cannot open: \(text)") }
            }
            return SFTPFile(raw: raw, sftp: sftp)
        }
    }

    /// Sends `chunk` completely (one job per chunk, so other channels get their turn between chunks). Given the
    /// whole chunk, `libssh2_sftp_write` already keeps about 35 WRITE requests of 30 kB in flight; keeping
    /// unacknowledged writes in flight across chunks as well was measured in bench/transfer: not faster on
    /// loopback beyond the noise, and about 10% more client CPU.
    private func send(_ chunk: Data, to file: SFTPFile, path: String) async throws {
        let host = hostName
        try await session.executor.perform { [session] in
            var offset = 0
            let deadline = Date().addingTimeInterval(60)
            while offset < chunk.count {
                let n = chunk.withUnsafeBytes { buffer in
                    libssh2_sftp_write(file.raw, buffer.baseAddress?.advanced(by: offset).assumingMemoryBound(to: CChar.self), buffer.count - offset)
                }
                if n == Int(LIBSSH2_ERROR_EAGAIN) {
                    if deadline.timeIntervalSinceNow <= 0 { throw HostError.timeout(host: host, what: "writing \(path)", seconds: 60) }
                    session.waitSocket()
                    continue
                }
                if n < 0 {
                    let text = file.sftp.errorText().text
                    throw session.failure(Int32(n)) { _ in .transferFailed(host: host, path: path, reason: "write failed: \(text)") }
                }
                offset += n
            }
        }
    }

    /// Reads up to one chunk; empty at end of file.
    private func receive(from file: SFTPFile, path: String) async throws -> Data {
        let host = hostName
        return try await session.executor.perform { [session] in
            var buffer = [UInt8](repeating: 0, count: LibSSH2Connection.chunkSize)
            var filled = 0
            let deadline = Date().addingTimeInterval(60)
            while filled < buffer.count {
                let n = buffer.withUnsafeMutableBytes { raw in
                    libssh2_sftp_read(file.raw, raw.baseAddress?.advanced(by: filled).assumingMemoryBound(to: CChar.self), raw.count - filled)
                }
                if n == Int(LIBSSH2_ERROR_EAGAIN) {
                    if filled > 0 { break }
                    if deadline.timeIntervalSinceNow <= 0 { throw HostError.timeout(host: host, what: "reading \(path)", seconds: 60) }
                    session.waitSocket()
                    continue
                }
                if n < 0 {
                    let text = file.sftp.errorText().text
                    throw session.failure(Int32(n)) { _ in .transferFailed(host: host, path: path, reason: "read failed: \(text)") }
                }
                if n == 0 { break }
                filled += n
            }
            return Data(buffer[0..<filled])
        }
    }

    /// A non-root user with `become` cannot write system paths over SFTP: it writes a file it owns,
    /// then `sudo -n` moves it into place.
    private var writesThroughSudo: Bool { endpoint.become && endpoint.user != "root" }

    public func write(_ data: Data, to path: String, attributes: FileAttributes) async throws {
        if data.count <= ShellCommand.smallFile { return try await writeInOneCommand(data, to: path, attributes: attributes) }
        try await put(to: path, attributes: attributes) { send in
            var offset = 0
            while offset < data.count {
                let end = min(offset + Self.chunkSize, data.count)
                try await send(data.subdata(in: offset..<end))
                offset = end
            }
            if data.isEmpty { try await send(Data()) }
        }
    }

    /// The host checks what arrived against the file's SHA-256, computed once per file and run
    /// (`LocalFileDigest`), not once per host while sending. A file changed after that fails the check on the
    /// host and leaves the target as it was.
    public func upload(localFile: String, to path: String, attributes: FileAttributes) async throws {
        guard let sha256 = LocalFileDigest.sha256(of: localFile), let handle = FileHandle(forReadingAtPath: localFile) else {
            throw HostError.transferFailed(host: hostName, path: path, reason: "cannot read the local file \(localFile)")
        }
        defer { try? handle.close() }
        try await put(to: path, attributes: attributes, sha256: sha256) { send in
            while true {
                let chunk = try handle.read(upToCount: Self.chunkSize) ?? Data()
                if chunk.isEmpty { break }
                try await send(chunk)
            }
        }
    }

    /// The same steps as `put` in one command: a 0600 staging file beside the target (`umask 077` before
    /// `cat`, so a key is never readable by others on its way), its SHA-256 checked against what is sent
    /// (a send cut short — Capstan killed — ends `cat` with part of the file, which must never replace the
    /// target), mode and owner, `mv -f`, the target's SHA-256 compared with what was sent; the staging file
    /// is removed when a step fails.
    private func writeInOneCommand(_ data: Data, to path: String, attributes: FileAttributes) async throws {
        let (directory, staging) = try stagingPath(for: path)
        let expected = SHA256.hash(data: data).hex
        let line = ShellCommand.installFromStdin(path: path, directory: directory, staging: staging, sha256: expected,
                                                 attributes: attributes, printTarget: true, size: data.count)
        let result = try await run(line, options: RunOptions(privileged: writesThroughSudo || attributes.owner != nil, stdin: data))
        try InstallResult.check(result, host: hostName, path: path, expected: expected)
    }

    private func stagingPath(for path: String) throws -> (directory: String, staging: String) {
        try StagingPath.beside(path, host: hostName)
    }


    /// The shared write path: the bytes go through SFTP into a 0600 staging file in the target's directory
    /// (or, through sudo, a file the user owns in /tmp), then one command (`installUploaded`) compares its
    /// SHA-256 with `sha256` (or, without it, with the SHA-256 of the bytes sent), sets mode and owner and
    /// renames it over the target (rename(2), atomic on one filesystem). A mismatch leaves the target as it was.
    ///
    /// The rename runs as a command because OpenSSH's sftp-server speaks SFTP v3, whose rename refuses an
    /// existing target, and libssh2 1.10 has no posix-rename@openssh.com.
    private func put(to path: String, attributes: FileAttributes, sha256 known: String? = nil,
                     produce: (_ send: (Data) async throws -> Void) async throws -> Void) async throws {
        let (directory, staging) = try stagingPath(for: path)
        let upload = writesThroughSudo ? "/tmp/.capstan-upload-\(UUID().uuidString)" : staging

        if !writesThroughSudo {
            try await check(ShellCommand("mkdir", "-p", "--", directory), options: RunOptions(privileged: false))
        }
        // The bytes are hashed while they are sent only when no SHA-256 was given.
        var hasher = SHA256()
        var size = 0
        do {
            guard let file = try await openFile(upload, flags: LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_TRUNC, mode: 0o600) else {
                throw HostError.transferFailed(host: hostName, path: path, reason: "cannot create \(upload)")
            }
            try await produce { chunk in
                if known == nil { hasher.update(data: chunk) }
                size += chunk.count
                if !chunk.isEmpty { try await send(chunk, to: file, path: path) }
            }
        } catch {
            _ = try? await run(ShellCommand("rm", "-f", "--", upload), options: RunOptions(privileged: false))
            throw error
        }
        let expected = known ?? hasher.finalize().hex
        let install = ShellCommand.installUploaded(upload, path: path, directory: directory, staging: staging, sha256: expected,
                                                   attributes: attributes, printTarget: true, size: size)
        let result = try await run(install, options: RunOptions(privileged: writesThroughSudo || attributes.owner != nil))
        if writesThroughSudo {
            _ = try? await run(ShellCommand("rm", "-f", "--", upload), options: RunOptions(privileged: false))
        }
        try InstallResult.check(result, host: hostName, path: path, expected: expected)
    }

    public func read(_ path: String) async throws -> Data? { try await readStreamed(path) }

    public func download(_ path: String, toLocalFile localPath: String) async throws {
        try await downloadStreamed(path, toLocalFile: localPath)
    }

    /// Streams the file's bytes to `sink`; false when it does not exist. Through sudo for `become` users.
    func streamFile(_ path: String, into sink: @escaping @Sendable (Data) throws -> Void) async throws -> Bool {
        if writesThroughSudo {
            let result = try await stream(ShellCommand("cat", "--", path), options: .default) { try sink($0) }
            if result.succeeded { return true }
            if result.stderrText.contains("No such file or directory") { return false }
            throw HostError.transferFailed(host: hostName, path: path, reason: result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard let file = try await openFile(path, flags: LIBSSH2_FXF_READ, mode: 0, missingIsNil: true) else { return false }
        while true {
            let chunk = try await receive(from: file, path: path)
            if chunk.isEmpty { return true }
            try sink(chunk)
        }
    }
}
