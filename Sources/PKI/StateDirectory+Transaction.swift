import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension StateDirectory {
    /// A batch of file writes made durable with a constant number of disk syncs instead of one sync per
    /// file plus one per directory: a full PKI is hundreds of small files, and syncing each one costs
    /// far more than generating it.
    ///
    /// `write` only stages; nothing touches the disk until `commit`, which
    /// 1. creates the missing directories (0700) and writes every staged file to a temporary file
    ///    (`.tmp-XXXXXX`, created with the final mode) in its target directory,
    /// 2. makes all of them durable at once with `syncfs` on the state directory's file system,
    /// 3. renames each temporary file over its target, in staging order,
    /// 4. makes the renames durable with a second `syncfs`.
    /// A batch of at most `perFileSyncLimit` files, or a platform without `syncfs`, instead syncs each
    /// temporary file as it is written, then once each directory that received a rename or a new
    /// directory: `syncfs` also flushes other programs' data on that file system, which only pays off
    /// for many files.
    ///
    /// Guarantee: every single file is replaced atomically, so after a failure or a crash each target
    /// holds either its previous content or its complete new content, never a torn or empty one. A
    /// failure removes its temporary files (a crash can leave `.tmp-` files, which nothing reads). A
    /// failure before step 3 (no space, a path that is not a directory, permissions) leaves every
    /// previous file untouched. The batch as a whole is not atomic: a crash during step 3 can leave
    /// some files new and the rest old. Callers keep such a mix recoverable (the PKI re-issues any leaf
    /// that no longer matches its key or CA on the next run).
    public struct Transaction: Sendable {
        public let state: StateDirectory
        /// Batches up to this many files sync file by file (see above).
        public static let perFileSyncLimit = 8
        private var order: [String] = []
        private var staged: [String: Change] = [:]

        enum Change: Sendable {
            case content(Data, mode_t)
            /// Same bytes on disk, different permission bits: changed in place.
            case mode(mode_t)
        }

        public init(_ state: StateDirectory) {
            self.state = state
        }

        /// Relative paths staged so far, in staging order.
        public var paths: [String] { order }

        /// Stages `data` for `relative` with `mode`, unless the file (staged, else on disk) already holds
        /// exactly these bytes and mode. Returns whether this is a change.
        @discardableResult
        public mutating func write(_ data: Data, to relative: String, mode: mode_t) throws(StateError) -> Bool {
            if let change = staged[relative] {
                if case .content(let have, let haveMode) = change, have == data, haveMode == mode { return false }
                staged[relative] = .content(data, mode)
                return true
            }
            if let existing = try state.read(relative), existing == data {
                if state.mode(relative) == mode { return false }
                stage(relative, .mode(mode))
                return true
            }
            stage(relative, .content(data, mode))
            return true
        }

        private mutating func stage(_ relative: String, _ change: Change) {
            order.append(relative)
            staged[relative] = change
        }

        /// The staged bytes of `relative`, else the file on disk, else nil.
        public func read(_ relative: String) throws(StateError) -> Data? {
            if case .content(let data, _)? = staged[relative] { return data }
            return try state.read(relative)
        }

        /// Writes every staged file as described on the type; an empty transaction does nothing.
        public func commit() throws(StateError) {
            guard !order.isEmpty else { return }
            try state.ensureDirectory()
            var ensured: Set<String> = [""]
            /// Parents of directories this commit creates: their new entries must be synced too.
            var createdIn: [String] = []
            /// mkdir (0700) and chmod each directory once per commit, parents first: a PKI has hundreds.
            func ensure(_ relative: String) throws(StateError) {
                guard !ensured.contains(relative) else { return }
                try ensure(parentPath(relative))
                let full = state.path(relative)
                if mkdir(full, 0o700) == 0 {
                    createdIn.append(parentPath(full))
                } else if errno != EEXIST {
                    throw StateError.posix(full, "create directory")
                }
                if chmod(full, 0o700) != 0 { throw StateError.posix(full, "chmod") }
                ensured.insert(relative)
            }
            var pending: [(temp: String, target: String)] = []
            var committed = 0
            defer {
                for item in pending.dropFirst(committed) { unlink(item.temp) }
            }

            // 1. Directories and temporary files; nothing visible changes yet.
            let contentCount = staged.values.filter { if case .content = $0 { return true } else { return false } }.count
            let wholeFileSystem = DiskSync.hasSyncFS && contentCount > Self.perFileSyncLimit
            var modeChanges: [(String, mode_t)] = []
            for relative in order {
                guard let change = staged[relative] else { continue }
                let target = state.path(relative)
                switch change {
                case .mode(let mode):
                    modeChanges.append((target, mode))
                case .content(let data, let mode):
                    try ensure(parentPath(relative))
                    var st = stat()
                    if lstat(target, &st) == 0, st.st_mode & S_IFMT == S_IFDIR {
                        throw StateError(path: target, operation: "replace", reason: "it is a directory",
                                         hint: "move the directory out of the state directory")
                    }
                    pending.append((try Self.writeTemporary(data, mode: mode, directory: parentPath(target), sync: !wholeFileSystem), target))
                }
            }
            for (target, mode) in modeChanges where chmod(target, mode) != 0 { throw StateError.posix(target, "chmod") }

            // 2. One sync for every temporary file, the new directories and the modes.
            if wholeFileSystem {
                try DiskSync.syncFileSystem(of: state.root)
            } else {
                for (target, _) in modeChanges { try DiskSync.syncPath(target, directory: false) }
            }

            // 3. Renames, in staging order.
            var touched: [String] = []
            var seen = Set<String>()
            for dir in createdIn where seen.insert(dir).inserted { touched.append(dir) }
            for item in pending {
                guard rename(item.temp, item.target) == 0 else {
                    var error = StateError.posix(item.target, "rename into place")
                    if committed > 0 {
                        error.reason += " after \(committed) of \(pending.count) files of this batch were replaced (each file is complete)"
                        error.hint += "; run the command again to finish"
                    }
                    throw error
                }
                committed += 1
                let dir = parentPath(item.target)
                if seen.insert(dir).inserted { touched.append(dir) }
            }

            // 4. The renames are durable once each directory entry is on disk.
            if wholeFileSystem {
                try DiskSync.syncFileSystem(of: state.root)
            } else {
                for dir in touched { try DiskSync.syncPath(dir, directory: true) }
            }
        }

        /// Creates `.tmp-XXXXXX` in `directory` with `mode` and `data`, closed, synced when `sync`.
        static func writeTemporary(_ data: Data, mode: mode_t, directory: String, sync: Bool) throws(StateError) -> String {
            var template = Array((directory + "/.tmp-XXXXXX").utf8CString)
            let fd = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
                guard let base = buffer.baseAddress else { return -1 }
                return mkstemp(base)
            }
            guard fd >= 0 else { throw StateError.posix(directory, "create temporary file in") }
            let tempPath = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            func fail(_ operation: String) -> StateError {
                let error = StateError.posix(tempPath, operation)
                close(fd)
                unlink(tempPath)
                return error
            }
            // mkstemp creates 0600 files: keys and kubeconfigs need no chmod.
            if mode != 0o600, fchmod(fd, mode) != 0 { throw fail("chmod") }
            let written = data.withUnsafeBytes { buffer -> Bool in
                guard let base = buffer.baseAddress else { return true }
                var offset = 0
                while offset < buffer.count {
                    let n = posixWrite(fd, base + offset, buffer.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return false
                    }
                    offset += n
                }
                return true
            }
            if !written { throw fail("write") }
            if sync, fsync(fd) != 0 { throw fail("sync") }
            if close(fd) != 0 {
                let error = StateError.posix(tempPath, "close")
                unlink(tempPath)
                throw error
            }
            return tempPath
        }
    }
}

/// `a/b/c` → `a/b`, `c` → `` (Foundation's `deletingLastPathComponent` traps on some one-component paths).
func parentPath(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "" }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// Flushing to disk: `syncfs(2)` flushes a whole file system in one call. Swift's Glibc module does not
/// export it (it is behind `_GNU_SOURCE`), so it is looked up in the C library at run time.
enum DiskSync {
    typealias SyncFS = @convention(c) (Int32) -> Int32

    static let syncfs: SyncFS? = {
        #if os(Linux)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "syncfs") else { return nil }
        return unsafeBitCast(symbol, to: SyncFS.self)
        #else
        return nil
        #endif
    }()

    static var hasSyncFS: Bool { syncfs != nil }

    /// `syncfs` on the file system holding `path`; callers check `hasSyncFS` first.
    static func syncFileSystem(of path: String) throws(StateError) {
        guard let syncfs else { throw StateError(path: path, operation: "sync the file system of", reason: "syncfs is not available", hint: "report this as a bug") }
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw StateError.posix(path, "open for sync") }
        defer { close(fd) }
        if syncfs(fd) != 0 { throw StateError.posix(path, "sync the file system of") }
    }

    static func syncPath(_ path: String, directory: Bool) throws(StateError) {
        let fd = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
        guard fd >= 0 else { throw StateError.posix(path, "open for sync") }
        defer { close(fd) }
        if fsync(fd) != 0 { throw StateError.posix(path, "sync") }
    }
}

#if canImport(Glibc)
private let posixWrite = Glibc.write
#elseif canImport(Musl)
private let posixWrite = Musl.write
#elseif canImport(Darwin)
private let posixWrite = Darwin.write
#endif
