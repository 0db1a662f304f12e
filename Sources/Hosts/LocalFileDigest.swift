import Crypto
import Foundation

extension SHA256.Digest {
    /// Lowercase hex, as sha256sum and `openssl dgst -r` print it.
    public var hex: String { map { String(format: "%02x", $0) }.joined() }
}

/// SHA-256 of local files, computed once per file content. Known digests are keyed by the file's identity
/// (device, inode, size, change time in ns), so uploading one release file to many hosts hashes it once,
/// and a file changed in between is hashed again: any write, rename, chmod or chown moves the change time,
/// which user space cannot set back.
///
/// With `remember`, the digest also goes into a record beside the file (`.capstan-sha256` in its
/// directory) with that identity, so the next run does not hash an unchanged file again (the artifact
/// cache: hundreds of MiB re-verified on every apply otherwise). The record is a shortcut only: a file
/// whose identity differs, or a record that cannot be read or written, means the file is hashed.
public enum LocalFileDigest {
    public static let recordName = ".capstan-sha256"
    private static let lock = NSLock()
    nonisolated(unsafe) private static var known: [String: String] = [:]

    /// Nil when the file cannot be read.
    public static func sha256(of path: String, remember: Bool = false) -> String? {
        guard let identity = identity(of: path) else { return nil }
        let key = identity + " " + path
        if let sum = lock.withLock({ known[key] }) { return sum }
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let recordPath = (directory.isEmpty ? "." : directory) + "/" + recordName
        if remember, let sum = recorded(recordPath)[name], sum.identity == identity {
            lock.withLock { known[key] = sum.sha256 }
            return sum.sha256
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var hasher = SHA256()
        do {
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        } catch { return nil }
        let sum = hasher.finalize().hex
        // Remembered with the identity from before the read: a file written meanwhile is hashed again next time.
        lock.withLock { known[key] = sum }
        if remember { record(recordPath, name: name, sha256: sum, identity: identity) }
        return sum
    }

    /// `dev:inode:size:ctime` (ns); nil when the file cannot be stat'ed or is not a regular file.
    static func identity(of path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return "\(info.st_dev):\(info.st_ino):\(info.st_size):\(info.st_ctim.tv_sec).\(info.st_ctim.tv_nsec)"
    }

    /// The record's entries by file name.
    static func recorded(_ recordPath: String) -> [String: (sha256: String, identity: String)] {
        guard let text = try? String(contentsOfFile: recordPath, encoding: .utf8) else { return [:] }
        var entries: [String: (sha256: String, identity: String)] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0].count == 64, parts[0].allSatisfy(\.isHexDigit) else { continue }
            entries[String(parts[2])] = (String(parts[0]), String(parts[1]))
        }
        return entries
    }

    /// Adds or replaces one entry, written to a temporary file and renamed into place; failures are ignored
    /// (a read-only directory only means hashing again).
    private static func record(_ recordPath: String, name: String, sha256: String, identity: String) {
        guard !name.contains("\n") else { return }
        lock.withLock {
            var entries = recorded(recordPath)
            entries[name] = (sha256, identity)
            let text = entries.keys.sorted().compactMap { key in entries[key].map { "\($0.sha256) \($0.identity) \(key)\n" } }.joined()
            let temporary = recordPath + ".\(getpid()).tmp"
            guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8)) else { return }
            if rename(temporary, recordPath) != 0 { unlink(temporary) }
        }
    }
}
