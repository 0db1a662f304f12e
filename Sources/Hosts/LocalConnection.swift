import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `HostConnection` to this machine: commands run under `/bin/sh -c`, files are written locally.
/// `RunOptions.privileged` is ignored: commands run as the current user.
public struct LocalConnection: HostConnection {
    public let hostName: String

    public init(hostName: String = "localhost") {
        self.hostName = hostName
    }

    public func close() async {}

    // MARK: Commands

    public func stream(
        _ command: ShellCommand, options: RunOptions,
        onStdout: @Sendable (Data) async throws -> Void
    ) async throws -> CommandResult {
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in options.environment { environment[key] = value }
        // Its own process group: a timeout kills what the shell started too.
        let process: ChildProcess
        do {
            process = try ChildProcess(["/bin/sh", "-c", command.line], environment: environment, stdin: options.stdin != nil, newProcessGroup: true)
        } catch {
            throw HostError.unsupported(host: hostName, reason: "cannot start /bin/sh for `\(command)`: \(error)")
        }
        let chunks = AsyncStream<Data>.makeStream(bufferingPolicy: .unbounded)
        let stderrBox = CollectedData()
        let stderrDone = AsyncStream<Void>.makeStream()
        // stdout is handed over as it comes and ends at its EOF; stderr is collected until the process's
        // output ends (a background grandchild may hold it open: waited for at most 5 s after the exit).
        let forwarder = Task {
            for await event in process.events {
                switch event {
                case .stdout(let data): chunks.continuation.yield(data)
                case .stderr(let data): stderrBox.append(data)
                case .stdoutClosed: chunks.continuation.finish()
                }
            }
            chunks.continuation.finish()
            stderrDone.continuation.finish()
        }
        let writer = options.stdin.map { input in
            Task {
                try? await process.writeStdin(input)
                await process.closeStdin()
            }
        }

        let pid = process.pid
        let timedOut = Flag()
        let watchdog: Task<Void, Never>? = options.timeoutSeconds.map { seconds in
            Task {
                try? await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1_000_000_000))
                guard !Task.isCancelled else { return }
                timedOut.set()
                LocalConnection.terminate(pid)
                // A grandchild may hold the pipes open; stop waiting for them.
                chunks.continuation.finish()
            }
        }

        do {
            for await chunk in chunks.stream {
                try await onStdout(chunk)
            }
        } catch {
            LocalConnection.terminate(pid)
            watchdog?.cancel()
            writer?.cancel()
            throw error
        }
        let status = ChildProcess.exitCode(await process.waitStatus())
        watchdog?.cancel()
        await writer?.value
        if timedOut.isSet {
            throw HostError.timeout(host: hostName, what: "`\(command)`", seconds: options.timeoutSeconds ?? 0)
        }
        // stderr is complete when its pipe closes; a grandchild holding it open is not waited for beyond 5 s.
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in stderrDone.stream {} }
            group.addTask { try? await Task.sleep(nanoseconds: 5_000_000_000) }
            await group.next()
            group.cancelAll()
        }
        _ = forwarder
        return CommandResult(exitStatus: status, stdout: Data(), stderr: stderrBox.data)
    }

    /// Kills the shell and, where it leads a process group, the whole group.
    private static func terminate(_ pid: Int32) {
        guard pid > 0 else { return }
        _ = kill(-pid, SIGKILL)
        _ = kill(pid, SIGKILL)
    }

    // MARK: Files

    public func write(_ data: Data, to path: String, attributes: FileAttributes) async throws {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = directory + "/." + name + ".capstan-" + UUID().uuidString.prefix(8)
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
            guard fm.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw HostError.transferFailed(host: hostName, path: path, reason: "cannot create \(temporary)")
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            try applyAttributes(attributes, to: temporary, path: path)
            guard rename(temporary, path) == 0 else {
                throw HostError.transferFailed(host: hostName, path: path, reason: "rename: \(String(cString: strerror(errno)))")
            }
        } catch let error as HostError {
            try? fm.removeItem(atPath: temporary)
            throw error
        } catch {
            try? fm.removeItem(atPath: temporary)
            throw HostError.transferFailed(host: hostName, path: path, reason: "\(error)")
        }
    }

    public func upload(localFile: String, to path: String, attributes: FileAttributes) async throws {
        guard let data = FileManager.default.contents(atPath: localFile) else {
            throw HostError.transferFailed(host: hostName, path: path, reason: "cannot read local file \(localFile)")
        }
        try await write(data, to: path, attributes: attributes)
    }

    public func read(_ path: String) async throws -> Data? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
        guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else {
            throw HostError.transferFailed(host: hostName, path: path, reason: "not a readable file")
        }
        return data
    }

    public func download(_ path: String, toLocalFile localPath: String) async throws {
        guard let data = try await read(path) else {
            throw HostError.transferFailed(host: hostName, path: path, reason: "no such file")
        }
        try await LocalConnection(hostName: "localhost").write(data, to: localPath, attributes: FileAttributes(mode: 0o600))
    }

    private func applyAttributes(_ attributes: FileAttributes, to file: String, path: String) throws {
        guard chmod(file, mode_t(attributes.mode)) == 0 else {
            throw HostError.transferFailed(host: hostName, path: path, reason: "chmod: \(String(cString: strerror(errno)))")
        }
        guard let owner = attributes.owner else { return }
        let parts = owner.split(separator: ":", maxSplits: 1).map(String.init)
        var uid: uid_t = UInt32.max
        var gid: gid_t = UInt32.max
        if let user = parts.first, !user.isEmpty {
            guard let entry = getpwnam(user) else {
                throw HostError.transferFailed(host: hostName, path: path, reason: "unknown user \(user)")
            }
            uid = entry.pointee.pw_uid
        }
        if parts.count == 2 {
            guard let entry = getgrnam(parts[1]) else {
                throw HostError.transferFailed(host: hostName, path: path, reason: "unknown group \(parts[1])")
            }
            gid = entry.pointee.gr_gid
        }
        guard chown(file, uid, gid) == 0 else {
            throw HostError.transferFailed(host: hostName, path: path, reason: "chown \(owner): \(String(cString: strerror(errno)))")
        }
    }
}

/// Thread-safe byte accumulator for pipe readers.
private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
