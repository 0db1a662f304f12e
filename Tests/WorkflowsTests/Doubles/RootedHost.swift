import Foundation
import Hosts

/// Test double for a host with its own file tree, so one test process can act as several hosts: the
/// host's files live under `root` on this machine and everything goes through a plain `LocalConnection`.
///
/// - File transfers (write, streamed write, upload, read, download) act on `root + path`.
/// - Commands run on this machine with every absolute host path in the command line rewritten to
///   `root + path` (see `rooted(_:)`), and `root` is taken back out of what they print (stdout and
///   stderr), so the code under test sees host paths only, as it would on a real host.
/// - Errors name the host path, not the one on this machine.
struct RootedHost: HostConnection {
    let local: LocalConnection
    /// The directory holding the host's file tree (no trailing slash).
    let root: String

    var hostName: String { local.hostName }

    init(hostName: String = "localhost", root: String) {
        local = LocalConnection(hostName: hostName)
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
    }

    /// Where `path` on the host is on this machine.
    func localPath(_ path: String) -> String {
        root + (path.hasPrefix("/") ? path : "/" + path)
    }

    // MARK: Commands

    /// Directories of this machine that stay as they are in a command line: the tools commands run
    /// (`sh`, `cat`, `stat`, …), devices, and the temporary directory the fake hosts' roots live in.
    static let unmappedPrefixes: [String] = {
        var prefixes = ["/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/lib/", "/lib64/", "/usr/lib/", "/usr/libexec/", "/dev/"]
        let temporary = URL(fileURLWithPath: NSTemporaryDirectory()).standardizedFileURL.path
        if temporary != "/" { prefixes.append(temporary.hasSuffix("/") ? temporary : temporary + "/") }
        return prefixes
    }()

    /// Characters after which a `/` starts a path: the start of a word, an opening quote, an option's `=`,
    /// a subshell's `(` or a list's `:`.
    private static let pathStarts: Set<Character> = [" ", "\t", "\n", "'", "\"", "=", "(", ":"]
    /// Characters that end a path word when deciding whether it is mapped.
    private static let pathEnds: Set<Character> = [" ", "\t", "\n", "'", "\"", ";", "|", "&", ")", "<", ">", "`"]

    /// `line` with each absolute host path prefixed with `root`: a `/` at the start of the line or after
    /// one of `pathStarts`, unless the path is under `root` already, under one of `unmappedPrefixes`, or
    /// the `//` of a URL.
    func rooted(_ line: String) -> String {
        var result = ""
        result.reserveCapacity(line.count + root.count * 4)
        var previous: Character?
        var index = line.startIndex
        while index < line.endIndex {
            let ch = line[index]
            if ch == "/", previous.map({ Self.pathStarts.contains($0) }) ?? true {
                let word = String(line[index...].prefix { !Self.pathEnds.contains($0) })
                if mapsToRoot(word) { result += root }
            }
            result.append(ch)
            previous = ch
            index = line.index(after: index)
        }
        return result
    }

    private func mapsToRoot(_ word: String) -> Bool {
        if word.hasPrefix("//") || word == root || word.hasPrefix(root + "/") { return false }
        return !Self.unmappedPrefixes.contains { word.hasPrefix($0) || word + "/" == $0 }
    }

    /// `text` with `root` taken out of every path under it.
    func hostText(_ text: String) -> String {
        String(decoding: RootStripper(root: root).strip(Data(text.utf8)), as: UTF8.self)
    }

    func stream(_ command: ShellCommand, options: RunOptions,
                onStdout: @Sendable (Data) async throws -> Void) async throws -> CommandResult {
        let stripper = RootStripper(root: root)
        var result: CommandResult
        do {
            result = try await local.stream(ShellCommand("sh", "-c", rooted(command.line)), options: options) { chunk in
                let out = stripper.add(chunk)
                if !out.isEmpty { try await onStdout(out) }
            }
        } catch let error as HostError {
            throw hostError(error, command: command)
        }
        let rest = stripper.finish()
        if !rest.isEmpty { try await onStdout(rest) }
        result.stderr = RootStripper(root: root).strip(result.stderr)
        return result
    }

    // MARK: Files

    func write(_ data: Data, to path: String, attributes: FileAttributes) async throws {
        try await mappingErrors(path) { try await local.write(data, to: localPath(path), attributes: attributes) }
    }

    func write(chunks: AsyncThrowingStream<Data, any Error>, to path: String, attributes: FileAttributes) async throws {
        try await mappingErrors(path) { try await local.write(chunks: chunks, to: localPath(path), attributes: attributes) }
    }

    func upload(localFile: String, to path: String, attributes: FileAttributes) async throws {
        try await mappingErrors(path) { try await local.upload(localFile: localFile, to: localPath(path), attributes: attributes) }
    }

    func read(_ path: String) async throws -> Data? {
        try await mappingErrors(path) { try await local.read(localPath(path)) }
    }

    func download(_ path: String, toLocalFile localFile: String) async throws {
        try await mappingErrors(path) { try await local.download(localPath(path), toLocalFile: localFile) }
    }

    func close() async {}

    // MARK: Errors

    private func mappingErrors<T>(_ path: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as HostError {
            throw hostError(error, path: path)
        }
    }

    /// `error` as the host would report it: the command as sent, the host path, no `root` in reasons.
    private func hostError(_ error: HostError, command: ShellCommand? = nil, path: String? = nil) -> HostError {
        switch error {
        case let .timeout(host, what, seconds):
            return .timeout(host: host, what: command.map { "`\($0)`" } ?? hostText(what), seconds: seconds)
        case let .transferFailed(host, mapped, reason):
            return .transferFailed(host: host, path: path ?? hostText(mapped), reason: hostText(reason))
        case let .unsupported(host, reason):
            return .unsupported(host: host, reason: hostText(reason))
        case let .commandFailed(host, line, status, stderr):
            return .commandFailed(host: host, command: command?.line ?? hostText(line), exitStatus: status, stderr: hostText(stderr))
        default:
            return error
        }
    }
}

/// Takes `root` out of `root/…` paths in a stream of chunks; a chunk ending in what may be the start of
/// `root/` keeps that part until the next chunk (or `finish`).
private final class RootStripper: @unchecked Sendable {
    private let needle: [UInt8]
    private let lock = NSLock()
    private var pending: [UInt8] = []

    init(root: String) { needle = Array((root + "/").utf8) }

    func strip(_ data: Data) -> Data {
        Data(replaced(Array(data), keepingPartialTail: false).out)
    }

    func add(_ chunk: Data) -> Data {
        lock.withLock {
            let (out, tail) = replaced(pending + Array(chunk), keepingPartialTail: true)
            pending = tail
            return Data(out)
        }
    }

    func finish() -> Data {
        lock.withLock {
            defer { pending = [] }
            return Data(pending)
        }
    }

    /// `bytes` with each `root/` replaced by `/`; with `keepingPartialTail`, a tail that is the start of
    /// `root/` is returned apart instead.
    private func replaced(_ bytes: [UInt8], keepingPartialTail: Bool) -> (out: [UInt8], tail: [UInt8]) {
        guard let first = needle.first else { return (bytes, []) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            guard bytes[i] == first else {
                out.append(bytes[i])
                i += 1
                continue
            }
            let remaining = bytes.count - i
            if remaining >= needle.count {
                if bytes[i..<(i + needle.count)].elementsEqual(needle) {
                    out.append(UInt8(ascii: "/"))
                    i += needle.count
                    continue
                }
            } else if keepingPartialTail, bytes[i...].elementsEqual(needle.prefix(remaining)) {
                return (out, Array(bytes[i...]))
            }
            out.append(bytes[i])
            i += 1
        }
        return (out, [])
    }
}
