import Foundation

/// Runs local programs (ip, mount, debootstrap, systemd-nspawn, nsenter …) and collects their output.
/// Programs are found on PATH, plus the sbin directories a root shell has.
public enum LocalProcess {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var succeeded: Bool { status == 0 }
    }

    static let searchPath: [String] = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        var dirs = path.split(separator: ":").map(String.init)
        for d in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"] where !dirs.contains(d) {
            dirs.append(d)
        }
        return dirs
    }()

    /// Full path of `program` on the search path, or nil.
    public static func which(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        for dir in searchPath {
            let candidate = dir + "/" + program
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `arguments` (program first) and returns its exit status and output; never throws for a non-zero exit.
    ///
    /// Uses posix_spawn directly rather than Foundation.Process: the lab runs many programs from
    /// several threads at once and starts long-lived daemons, and every pipe here is close-on-exec
    /// (made under one lock with the spawns), so no child ever inherits another call's pipe.
    public static func run(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:],
                           currentDirectory: String? = nil) throws -> Output {
        guard let program = arguments.first else { throw LabError("empty command") }
        guard let executable = which(program) else {
            throw LabError("\(program) is not installed (needed for: \(ShellQuote.line(arguments)))")
        }
        var argv = [executable] + arguments.dropFirst()
        var path = executable
        if let currentDirectory, let env = which("env") {
            argv = [env, "-C", currentDirectory] + argv
            path = env
        }
        let env = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }.map { "\($0.key)=\($0.value)" }

        _ = ignoreSIGPIPE
        spawnLock.lock()
        var outFDs: [Int32] = [0, 0], errFDs: [Int32] = [0, 0], inFDs: [Int32] = [0, 0]
        guard makePipe(&outFDs), makePipe(&errFDs), makePipe(&inFDs) else {
            spawnLock.unlock()
            throw LabError("cannot create pipes to run \(program): \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, inFDs[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outFDs[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errFDs[1], 2)
        var pid: pid_t = 0
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup($0) } + [nil]
        let rc = posix_spawn(&pid, path, &actions, nil, cArgv, cEnv)
        posix_spawn_file_actions_destroy(&actions)
        for p in cArgv + cEnv { free(p) }
        close(inFDs[0]); close(outFDs[1]); close(errFDs[1])
        spawnLock.unlock()
        guard rc == 0 else {
            close(inFDs[1]); close(outFDs[0]); close(errFDs[0])
            throw LabError("cannot start \(executable): \(String(cString: strerror(rc)))")
        }

        let group = DispatchGroup()
        let errBox = DataBox()
        let errFD = errFDs[0]
        let inFD = inFDs[1]
        group.enter()
        Thread.detachNewThread { errBox.data = readAll(errFD); group.leave() }
        let input = stdin ?? Data()
        group.enter()
        Thread.detachNewThread {
            input.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return }
                var offset = 0
                while offset < raw.count {
                    let n = write(inFD, base + offset, raw.count - offset)
                    if n <= 0 { if errno == EINTR { continue }; break }
                    offset += n
                }
            }
            close(inFD)
            group.leave()
        }
        let out = readAll(outFDs[0])
        group.wait()
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Output(status: exitStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: errBox.data, as: UTF8.self))
    }

    private static let spawnLock = NSLock()

    /// A program that exits before reading all of its stdin must not kill Capstan with SIGPIPE.
    private static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()

    private static func makePipe(_ fds: inout [Int32]) -> Bool {
        guard pipe(&fds) == 0 else { return false }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return true
    }

    private static func readAll(_ fd: Int32) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 { data.append(buffer, count: n) } else if n < 0 && errno == EINTR { continue } else { break }
        }
        close(fd)
        return data
    }

    /// Runs `arguments` and throws with `context` and the program's stderr on a non-zero exit.
    @discardableResult
    public static func check(_ arguments: [String], context: String, stdin: Data? = nil,
                             environment: [String: String] = [:], currentDirectory: String? = nil) throws -> String {
        let out = try run(arguments, stdin: stdin, environment: environment, currentDirectory: currentDirectory)
        guard out.succeeded else {
            throw LabError.commandFailed(arguments, status: out.status, stderr: out.stderr.isEmpty ? out.stdout : out.stderr, context: context)
        }
        return out.stdout
    }

    /// Runs a constant shell pipeline with positional arguments `$1…`, e.g. for `tar | zstd`.
    @discardableResult
    static func shell(_ script: String, _ arguments: [String], context: String) throws -> String {
        try check(["sh", "-c", script, "sh"] + arguments, context: context)
    }
}

/// Bytes read on another thread; read back only after that thread's group finished.
private final class DataBox: @unchecked Sendable {
    var data = Data()
}
