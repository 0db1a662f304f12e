import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which the Swift module does not
/// export: looked up once; nil where the C library has none.
private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

/// A local program started with posix_spawn: Capstan's one way to run a program on this machine (the OpenSSH
/// client, `sh -c` for `LocalConnection`, tar, the lab's ip, mount and systemd-nspawn).
///
/// Foundation's Process misses child exits when other children come and go, so children are
/// spawned directly: pipes are close-on-exec (a concurrently spawned sibling never inherits an end
/// and holds a pipe open), the child gets stdin, stdout and stderr only, and a dedicated thread reads
/// stdout/stderr and then `waitpid`s, so no wait ever blocks the Swift cooperative pool. `runBlocking`
/// is the same spawn for synchronous callers, which read on their own thread.
public final class ChildProcess: @unchecked Sendable {
    private static let addCloseFrom: AddCloseFrom? = {
        #if os(Linux)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
        #else
        return nil
        #endif
    }()

    public enum Event: Sendable {
        case stdout(Data)
        case stderr(Data)
        /// stdout reached EOF (stderr may stay open longer, held by a background grandchild).
        case stdoutClosed
    }

    public let pid: pid_t
    /// Output as it arrives; finishes when both streams reached EOF.
    public let events: AsyncStream<Event>
    private let stdinFD: Int32
    private let stdinQueue: DispatchQueue
    private let exit = ExitBox()

    /// A program that exits before reading all of its stdin must not kill Capstan with SIGPIPE.
    private static let ignoreSIGPIPE: Void = { _ = Glibc.signal(SIGPIPE, SIG_IGN) }()

    /// Pipes are made close-on-exec and children spawned under this one lock, so no spawn from this
    /// type inherits another's pipe between `pipe` and `fcntl`.
    private static let spawnLock = NSLock()

    private static func cloexecPipe(_ fds: inout [Int32]) -> Bool {
        guard pipe(&fds) == 0 else { return false }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return true
    }

    /// A spawned child's pid and the parent's ends of its pipes (-1 where there is none).
    struct Spawned {
        var pid: pid_t
        var stdout: Int32
        var stderr: Int32
        var stdin: Int32
    }

    /// Spawns `argv` (argv[0] looked up in PATH). `stdin`: a pipe to write to; else the child reads
    /// `stdinFile`, or /dev/null. `outputPath`: stdout and stderr go to that file instead of pipes.
    /// `connection`: a socket that becomes the child's stdin and stdout (the caller keeps its own descriptor;
    /// stderr goes to `outputPath`, or to the pipe).
    /// `newProcessGroup`: the child leads a process group of its own, so `kill(-pid)` reaches what it starts.
    static func spawn(_ argv: [String], environment: [String: String]?, stdin: Bool, stdinFile: String? = nil,
                      outputPath: String? = nil, connection: Int32? = nil, newProcessGroup: Bool = false) throws -> Spawned {
        _ = Self.ignoreSIGPIPE
        Self.spawnLock.lock()
        defer { Self.spawnLock.unlock() }
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1], inPipe: [Int32] = [-1, -1]
        guard Self.cloexecPipe(&outPipe), Self.cloexecPipe(&errPipe), !stdin || Self.cloexecPipe(&inPipe) else {
            let text = String(cString: strerror(errno))
            for fd in outPipe + errPipe + inPipe where fd >= 0 { close(fd) }
            throw SpawnError(program: argv.first ?? "", reason: "pipe: \(text)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let connection {
            posix_spawn_file_actions_adddup2(&actions, connection, 0)
        } else if stdin {
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, stdinFile ?? "/dev/null", O_RDONLY, 0)
        }
        // stderr first: with `outputPath`, stdout shares its open file unless the connection is stdout.
        if let outputPath {
            posix_spawn_file_actions_addopen(&actions, 2, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        }
        if let connection {
            posix_spawn_file_actions_adddup2(&actions, connection, 1)
        } else if outputPath != nil {
            posix_spawn_file_actions_adddup2(&actions, 2, 1)
        } else {
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        }
        // The child gets stdin, stdout and stderr only. A descriptor another thread opened without
        // FD_CLOEXEC (Foundation's file writes) would otherwise live on in a ControlMaster for its 10
        // minutes; a script still open for writing there cannot be executed (ETXTBSY).
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        if newProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        }
        let cArgs = argv.map { strdup($0) } + [nil]
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cArgs.forEach { free($0) }; env.forEach { free($0) } }
        var spawned: pid_t = 0
        let rc = posix_spawnp(&spawned, argv[0], &actions, &attributes, cArgs, env)
        close(outPipe[1]); close(errPipe[1])
        if stdin { close(inPipe[0]) }
        guard rc == 0 else {
            close(outPipe[0]); close(errPipe[0])
            if stdin { close(inPipe[1]) }
            throw SpawnError(program: argv[0], reason: String(cString: strerror(rc)))
        }
        // With `outputPath` the pipes' read ends see EOF at once.
        return Spawned(pid: spawned, stdout: outPipe[0], stderr: errPipe[0], stdin: stdin ? inPipe[1] : -1)
    }

    /// Starts `argv` (argv[0] looked up in PATH). With `stdin: false` the child reads /dev/null, or the file
    /// at `stdinFile` (opened by the child, so the bytes never pass through Capstan).
    /// `outputPath` sends stdout and stderr to that file instead of pipes (for a program that leaves a
    /// background child behind, such as `ssh -f`, whose inherited pipe ends would never reach EOF).
    public init(_ argv: [String], environment: [String: String]? = nil, stdin: Bool, stdinFile: String? = nil, outputPath: String? = nil,
                connection: Int32? = nil, newProcessGroup: Bool = false) throws {
        let child = try Self.spawn(argv, environment: environment, stdin: stdin, stdinFile: stdinFile, outputPath: outputPath,
                                   connection: connection, newProcessGroup: newProcessGroup)
        let pid = child.pid
        self.pid = pid
        stdinFD = child.stdin
        stdinQueue = DispatchQueue(label: "capstan.process.stdin.\(pid)")
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .unbounded)
        events = stream
        let exit = self.exit
        let (outFD, errFD) = (child.stdout, child.stderr)
        // Output and exit are watched apart: an ssh mux client hands its stdio to the master, so after
        // the client dies its pipes stay open until the master ends the remote session.
        let reader = Thread { Self.pump(stdout: outFD, stderr: errFD, into: continuation) }
        reader.name = "capstan.process.\(pid).out"
        reader.start()
        let waiter = Thread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            exit.set(status)
        }
        waiter.name = "capstan.process.\(pid).wait"
        waiter.start()
    }

    deinit {
        if stdinFD >= 0 { stdinQueue.sync { closeStdinLocked() } }
    }

    private static func pump(stdout: Int32, stderr: Int32, into continuation: AsyncStream<Event>.Continuation) {
        var open: [Int32: Bool] = [stdout: true, stderr: true]
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while open.values.contains(true) {
            var fds = open.filter(\.value).map { pollfd(fd: $0.key, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 { if errno == EINTR { continue }; break }
            for pfd in fds where pfd.revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(pfd.fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    let data = Data(buffer[0..<n])
                    continuation.yield(pfd.fd == stdout ? .stdout(data) : .stderr(data))
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    open[pfd.fd] = false
                    close(pfd.fd)
                    if pfd.fd == stdout { continuation.yield(.stdoutClosed) }
                }
            }
        }
        continuation.finish()
    }

    /// Writes all of `data` to the child's stdin (blocking on the process's own queue, not the pool).
    public func writeStdin(_ data: Data) async throws {
        guard stdinFD >= 0 else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            stdinQueue.async { [self] in
                continuation.resume(with: Result { try writeAllLocked(data) })
            }
        }
    }

    public func closeStdin() async {
        guard stdinFD >= 0 else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            stdinQueue.async { [self] in
                closeStdinLocked()
                continuation.resume()
            }
        }
    }

    private var stdinClosed = false

    private func writeAllLocked(_ data: Data) throws {
        guard !stdinClosed else { throw SpawnError(program: "pid \(pid)", reason: "stdin already closed") }
        if let failure = Self.writeAll(data, to: stdinFD) {
            throw SpawnError(program: "pid \(pid)", reason: "writing stdin: \(String(cString: strerror(failure)))")
        }
    }

    /// Writes all of `data` to `fd`, retrying on EINTR; the errno that stopped it, or nil when all was written.
    static func writeAll(_ data: Data, to fd: Int32) -> Int32? {
        data.withUnsafeBytes { raw -> Int32? in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress?.advanced(by: offset), raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += n
            }
            return nil
        }
    }

    private func closeStdinLocked() {
        guard !stdinClosed else { return }
        stdinClosed = true
        close(stdinFD)
    }

    public func signal(_ number: Int32) {
        if exit.current == nil { kill(pid, number) }
    }

    /// The raw wait status once the child has exited.
    public func waitStatus() async -> Int32 {
        await exit.value()
    }

    /// The raw wait status if the child has exited, nil while it runs.
    public var exitedStatus: Int32? { exit.current }

    /// The raw wait status, blocking this thread until the child has exited: for synchronous callers
    /// outside the cooperative pool.
    public func waitStatusBlocking() -> Int32 {
        exit.valueBlocking()
    }

    /// Exit code, or 128+signal when killed, from a raw wait status.
    public static func exitCode(_ status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Runs a program to its end, collecting its output.
    public static func run(_ argv: [String], environment: [String: String]? = nil, input: Data? = nil) async throws -> Output {
        let process = try ChildProcess(argv, environment: environment, stdin: input != nil)
        if let input {
            try? await process.writeStdin(input)
            await process.closeStdin()
        }
        var out = Data(), err = Data()
        for await event in process.events {
            switch event {
            case .stdout(let d): out.append(d)
            case .stderr(let d): err.append(d)
            case .stdoutClosed: break
            }
        }
        return Output(status: exitCode(await process.waitStatus()), stdout: out, stderr: err)
    }
}

extension ChildProcess {
    /// What a program run to its end left: exit code (128+signal when killed), stdout and stderr.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: Data
        public var succeeded: Bool { status == 0 }
    }

    /// Runs `argv` to its end for a synchronous caller, which reads stdout on its own thread (stderr and
    /// `input` on two more): the same spawn as `init`, for code outside the cooperative pool (the lab, tar).
    public static func runBlocking(_ argv: [String], environment: [String: String]? = nil, input: Data? = nil) throws -> Output {
        let child = try spawn(argv, environment: environment, stdin: input != nil)
        let group = DispatchGroup()
        let errors = ReadBuffer()
        group.enter()
        Thread.detachNewThread { errors.data = readAll(child.stderr); group.leave() }
        if let input {
            group.enter()
            Thread.detachNewThread {
                // A child that exits without reading all of it ends the write (EPIPE); its status says the rest.
                _ = writeAll(input, to: child.stdin)
                close(child.stdin)
                group.leave()
            }
        }
        let out = readAll(child.stdout)
        group.wait()
        var status: Int32 = 0
        while waitpid(child.pid, &status, 0) < 0 && errno == EINTR {}
        // Output cut short by a failed read is an error, never a shorter answer.
        for (stream, failure) in [("stdout", out.failure), ("stderr", errors.data.failure)] {
            if let failure { throw SpawnError(program: argv[0], reason: "reading its \(stream): \(String(cString: strerror(failure)))") }
        }
        return Output(status: exitCode(status), stdout: out.bytes, stderr: errors.data.bytes)
    }

    /// Everything read from `fd` until EOF, and the errno of a read that failed before it (nil at EOF).
    private static func readAll(_ fd: Int32) -> (bytes: Data, failure: Int32?) {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var failure: Int32?
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 { data.append(buffer, count: n) } else if n < 0 && errno == EINTR { continue } else {
                if n < 0 { failure = errno }
                break
            }
        }
        close(fd)
        return (data, failure)
    }
}

/// Bytes read on another thread; read back only after that thread's group finished.
private final class ReadBuffer: @unchecked Sendable {
    var data: (bytes: Data, failure: Int32?) = (Data(), nil)
}

public struct SpawnError: Error, CustomStringConvertible {
    public var program: String
    public var reason: String
    public var description: String { "cannot run \(program): \(reason)" }
}

/// The child's wait status, delivered once to any number of waiters.
private final class ExitBox: @unchecked Sendable {
    private let lock = NSLock()
    private var status: Int32?
    private var waiters: [CheckedContinuation<Int32, Never>] = []
    private var blockedWaiters: [DispatchSemaphore] = []

    var current: Int32? { lock.withLock { status } }

    func set(_ value: Int32) {
        let (toResume, toSignal) = lock.withLock { () -> ([CheckedContinuation<Int32, Never>], [DispatchSemaphore]) in
            status = value
            defer { waiters = []; blockedWaiters = [] }
            return (waiters, blockedWaiters)
        }
        for waiter in toResume { waiter.resume(returning: value) }
        for waiter in toSignal { waiter.signal() }
    }

    func valueBlocking() -> Int32 {
        let arrived = DispatchSemaphore(value: 0)
        let ready = lock.withLock { () -> Int32? in
            if let status { return status }
            blockedWaiters.append(arrived)
            return nil
        }
        if let ready { return ready }
        arrived.wait()
        return lock.withLock { status ?? 0 }
    }

    func value() async -> Int32 {
        await withCheckedContinuation { continuation in
            let ready = lock.withLock { () -> Int32? in
                if let status { return status }
                waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
