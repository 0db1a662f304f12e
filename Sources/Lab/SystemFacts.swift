import Foundation

/// Reads of the local machine's kernel state that the lab needs: mounts, cgroup roots, processes.
enum SystemFacts {
    /// Reads a whole file with read(2) until EOF. /proc files report size 0, and reading them by
    /// their reported size returns only the first page (mountinfo is longer once a lab is up).
    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 { data += buffer[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Mount points currently mounted (from /proc/self/mountinfo), octal escapes decoded.
    static func mountPoints() -> [String] {
        guard let text = readFile("/proc/self/mountinfo") else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            return decodeOctal(String(fields[4]))
        }
    }

    static func isMountPoint(_ path: String) -> Bool { mountPoints().contains(path) }

    /// Mount points at or below `directory`, deepest first (the order to unmount them in).
    static func mounts(under directory: String) -> [String] {
        mountPoints().filter { $0 == directory || $0.hasPrefix(directory + "/") }
            .sorted { $0.count > $1.count }
    }

    private static func decodeOctal(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = [UInt8]()
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
               let v = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// cgroup hierarchies a host needs its own subtree in: the unified root on a pure cgroup v2
    /// machine; on the systemd "hybrid" layout both name=systemd (v1) and the unified (v2) tree.
    /// Empty when neither layout is present (nspawn cannot boot systemd there).
    static func cgroupRoots() -> [String] {
        let fm = FileManager.default
        if fm.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") { return ["/sys/fs/cgroup"] }
        return ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"].filter { fm.fileExists(atPath: $0 + "/cgroup.procs") }
    }

    static func isAlive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

    static func commandLine(_ pid: Int32) -> String {
        (readFile("/proc/\(pid)/cmdline") ?? "").replacingOccurrences(of: "\0", with: " ")
    }

    /// Children of `parent` whose command name is `comm`, found by scanning /proc.
    static func children(of parent: Int32, named comm: String) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var found: [Int32] = []
        for entry in entries {
            guard let pid = Int32(entry),
                  let stat = readFile("/proc/\(entry)/stat"),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
            let name = stat[stat.index(after: open)..<close]
            let rest = stat[stat.index(after: close)...].split(separator: " ")
            if name == comm, rest.count > 1, Int32(rest[1]) == parent { found.append(pid) }
        }
        return found
    }

    /// Every process in a cgroup directory and its subdirectories.
    static func processes(inCgroup directory: String) -> [Int32] {
        let fm = FileManager.default
        var pids: [Int32] = []
        var dirs = [directory]
        while let dir = dirs.popLast() {
            if let text = readFile(dir + "/cgroup.procs") {
                pids += text.split(separator: "\n").compactMap { Int32($0) }
            }
            for sub in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: dir + "/" + sub, isDirectory: &isDir), isDir.boolValue { dirs.append(dir + "/" + sub) }
            }
        }
        return pids
    }

    /// Removes a cgroup directory tree, deepest first (cgroup directories are removed with rmdir only).
    static func removeCgroupTree(_ directory: String) {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else { return }
        for sub in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] {
            var subIsDir: ObjCBool = false
            if fm.fileExists(atPath: directory + "/" + sub, isDirectory: &subIsDir), subIsDir.boolValue {
                removeCgroupTree(directory + "/" + sub)
            }
        }
        rmdir(directory)
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
}

/// Runs blocking work for many items on their own threads (the lab's work is waiting on processes,
/// which must not occupy the few threads of Swift's cooperative pool) and returns every failure.
func inParallel<Item: Sendable>(_ items: [Item], _ body: @escaping @Sendable (Item) throws -> Void) -> [(Item, any Error)] {
    let results = ParallelFailures<Item>()
    let group = DispatchGroup()
    for item in items {
        group.enter()
        let thread = Thread {
            do { try body(item) } catch { results.append(item, error) }
            group.leave()
        }
        thread.start()
    }
    group.wait()
    return results.all
}

private final class ParallelFailures<Item>: @unchecked Sendable {
    private let lock = NSLock()
    private var failures: [(Item, any Error)] = []

    func append(_ item: Item, _ error: any Error) {
        lock.lock()
        failures.append((item, error))
        lock.unlock()
    }

    var all: [(Item, any Error)] {
        lock.lock()
        defer { lock.unlock() }
        return failures
    }
}

/// Holds an exclusive flock(2) on `path` for the duration of `body` (serialises concurrent `lab up`s).
func withFileLock<T>(_ path: String, _ body: () throws -> T) throws -> T {
    let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw LabError("cannot open lock file \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    guard flock(fd, LOCK_EX) == 0 else { throw LabError("cannot lock \(path): \(String(cString: strerror(errno)))") }
    defer { flock(fd, LOCK_UN) }
    return try body()
}
