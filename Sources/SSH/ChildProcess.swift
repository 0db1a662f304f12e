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

/// A local program started with posix_spawn (the OpenSSH client, ssh-keygen).
///
/// Foundation's Process misses child exits when other children come and go, so children are
/// spawned directly: pipes are close-on-exec (a concurrently spawned sibling never inherits an end
/// and holds a pipe open), and a dedicated thread reads stdout/stderr and then `waitpid`s, so no wait
/// ever blocks the Swift cooperative pool.
final class ChildProcess: @unchecked Sendable {
    private static let addCloseFrom: AddCloseFrom? = {
        #if os(Linux)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
        #else
        return nil
        #endif
    }()

    enum Event: Sendable {
        case stdout(Data)
        case stderr(Data)
    }

    let pid: pid_t
    /// Output as it arrives; finishes when both streams reached EOF.
    let events: AsyncStream<Event>
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

    /// Starts `argv` (argv[0] looked up in PATH). With `stdin: false` the child reads /dev/null, or the file
    /// at `stdinFile` (opened by the child, so the bytes never pass through Capstan).
    /// `outputPath` sends stdout and stderr to that file instead of pipes (for a program that leaves a
    /// background child behind, such as `ssh -f`, whose inherited pipe ends would never reach EOF).
    init(_ argv: [String], environment: [String: String]? = nil, stdin: Bool, stdinFile: String? = nil, outputPath: String? = nil) throws {
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
        if stdin {
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, stdinFile ?? "/dev/null", O_RDONLY, 0)
        }
        if let outputPath {
            posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
            posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        }
        // The child gets stdin, stdout and stderr only. A descriptor another thread opened without
        // FD_CLOEXEC (Foundation's file writes) would otherwise live on in a ControlMaster for its 10
        // minutes; a script still open for writing there cannot be executed (ETXTBSY).
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        let cArgs = argv.map { strdup($0) } + [nil]
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cArgs.forEach { free($0) }; env.forEach { free($0) } }
        var spawned: pid_t = 0
        let rc = posix_spawnp(&spawned, argv[0], &actions, nil, cArgs, env)
        let pid = spawned
        close(outPipe[1]); close(errPipe[1])
        if stdin { close(inPipe[0]) }
        guard rc == 0 else {
            close(outPipe[0]); close(errPipe[0])
            if stdin { close(inPipe[1]) }
            throw SpawnError(program: argv[0], reason: String(cString: strerror(rc)))
        }
        self.pid = pid
        stdinFD = stdin ? inPipe[1] : -1
        stdinQueue = DispatchQueue(label: "capstan.process.stdin.\(pid)")
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .unbounded)
        events = stream
        let exit = self.exit
        let (outFD, errFD) = (outPipe[0], errPipe[0])
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
                }
            }
        }
        continuation.finish()
    }

    /// Writes all of `data` to the child's stdin (blocking on the process's own queue, not the pool).
    func writeStdin(_ data: Data) async throws {
        guard stdinFD >= 0 else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            stdinQueue.async { [self] in
                continuation.resume(with: Result { try writeAllLocked(data) })
            }
        }
    }

    func closeStdin() async {
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
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(stdinFD, raw.baseAddress?.advanced(by: offset), raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SpawnError(program: "pid \(pid)", reason: "writing stdin: \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
    }

    private func closeStdinLocked() {
        guard !stdinClosed else { return }
        stdinClosed = true
        close(stdinFD)
    }

    func signal(_ number: Int32) {
        if !exit.isSet { kill(pid, number) }
    }

    /// The raw wait status once the child has exited.
    func waitStatus() async -> Int32 {
        await exit.value()
    }

    /// Exit code, or 128+signal when killed, from a raw wait status.
    static func exitCode(_ status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Runs a program to its end, collecting its output.
    static func run(_ argv: [String], environment: [String: String]? = nil, input: Data? = nil) async throws -> (status: Int32, stdout: Data, stderr: Data) {
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
            }
        }
        return (exitCode(await process.waitStatus()), out, err)
    }
}

struct SpawnError: Error, CustomStringConvertible {
    var program: String
    var reason: String
    var description: String { "cannot run \(program): \(reason)" }
}

/// The child's wait status, delivered once to any number of waiters.
private final class ExitBox: @unchecked Sendable {
    private let lock = NSLock()
    private var status: Int32?
    private var waiters: [CheckedContinuation<Int32, Never>] = []

    var isSet: Bool { lock.withLock { status != nil } }

    func set(_ value: Int32) {
        let toResume = lock.withLock { () -> [CheckedContinuation<Int32, Never>] in
            status = value
            defer { waiters = [] }
            return waiters
        }
        for waiter in toResume { waiter.resume(returning: value) }
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
