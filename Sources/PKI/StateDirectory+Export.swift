import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension StateDirectory {
    /// Writes `data` to `path` outside the state directory (a kubeconfig handed to the user) with `mode`,
    /// atomically: a synced temporary file in the same directory, then `link` when the target must not
    /// exist (so a file created meanwhile is never replaced) or `rename` to overwrite, then a sync of
    /// the directory. The directory must exist; its mode is left alone.
    public static func export(_ data: Data, to path: String, mode: mode_t, overwrite: Bool) throws(StateError) {
        let full = URL(fileURLWithPath: path).standardizedFileURL.path
        let dir = parentPath(full)
        let temp = try Transaction.writeTemporary(data, mode: mode, directory: dir, sync: true)
        defer { unlink(temp) }
        if overwrite {
            guard rename(temp, full) == 0 else { throw StateError.posix(full, "rename into place") }
        } else if link(temp, full) != 0 {
            if errno == EEXIST {
                throw StateError(path: full, operation: "write", reason: "the file already exists", hint: "use --force to overwrite it")
            }
            throw StateError.posix(full, "create")
        }
        try DiskSync.syncPath(dir, directory: true)
    }
}
