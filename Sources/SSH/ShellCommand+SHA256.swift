import Crypto
import Foundation
import Hosts

extension ShellCommand {
    /// Prints the file's SHA-256 in hex as the first word. `openssl dgst` when the host has it: OpenSSL's
    /// SHA-256 uses the CPU's SHA extensions and took 0.09 s CPU for 100 MiB here against coreutils
    /// `sha256sum`'s 0.64 s, which after every upload to many hosts added up to more than the transfer.
    /// `sha256sum` otherwise. The path is absolute, so it cannot be read as an option.
    static func sha256(of path: String) -> ShellCommand {
        ShellCommand(["sh", "-c", "if command -v openssl >/dev/null 2>&1; then exec openssl dgst -sha256 -r \"$1\"; else exec sha256sum -- \"$1\"; fi", "sh", path])
    }
}

extension ShellCommand {
    /// One command that installs a file whose content arrives on stdin: a 0600 staging file beside the
    /// target (`umask 077` before `cat`, so a key is never readable by others on its way), its SHA-256
    /// checked against `sha256` (a send cut short ends `cat` with part of the file, which must never
    /// replace the target), mode and owner, `mv -f` (rename(2) in one directory: the checked bytes are
    /// the target's). With `printTarget` it ends by printing that SHA-256 and the target's path. The staging
    /// file is removed when a step fails.
    /// `size`: the content's length; above `smallFile` the host hashes with `openssl` when it has it (see
    /// `sha256(of:)`), else with `sha256sum`.
    static func installFromStdin(path: String, directory: String, staging: String, sha256: String,
                                 attributes: FileAttributes, printTarget: Bool, size: Int) -> ShellCommand {
        ShellCommand(["sh", "-c", installScript, "sh", staging, directory, sha256, String(attributes.mode, radix: 8),
                      attributes.owner ?? "", path, printTarget ? "print" : "", size > smallFile ? "large" : ""])
    }

    /// Files up to this size (configurations, certificates, units: nearly everything `apply` writes) are small:
    /// libssh2 writes them in one command, and the host hashes them with `sha256sum`, which starts faster.
    static let smallFile = 256 * 1024

    /// One `sh` for the whole install: its built-ins test the directory, set the umask, compare the digest and
    /// clean up, so a small file (most of what `apply` writes, tens per host) costs `cat`, one hash, `chmod`
    /// and `mv`. The digest printed at the end is the staging file's, checked above: `mv` renamed that file
    /// to the target. A small file is hashed with `sha256sum`: it starts in a third of `openssl`'s time.
    private static let installScript = #"""
        s=$1
        fail() { status=$?; rm -f -- "$s"; exit $status; }
        [ -d "$2" ] || mkdir -p -- "$2" || exit
        umask 077
        cat > "$s" || fail
        if [ -n "$8" ] && command -v openssl >/dev/null 2>&1; then digest=$(openssl dgst -sha256 -r "$s") || fail
        else digest=$(sha256sum -- "$s") || fail; fi
        digest=${digest%% *}
        if [ "$digest" != "$3" ]; then echo "$s: incomplete (sha256 $digest, expected $3)" >&2; rm -f -- "$s"; exit 1; fi
        chmod "$4" -- "$s" || fail
        if [ -n "$5" ]; then chown -- "$5" "$s" || fail; fi
        mv -f -- "$s" "$6" || fail
        if [ -n "$7" ]; then echo "$digest $6"; fi
        """#
}

/// Where an upload is written before its rename: a hidden file beside the target, so the rename stays on
/// one file system and replaces the target atomically.
enum StagingPath {
    /// The target's directory and a staging name beside it; refuses a path that is not an absolute file path.
    static func beside(_ path: String, host: String) throws -> (directory: String, staging: String) {
        guard path.hasPrefix("/"), !path.hasSuffix("/") else {
            throw HostError.transferFailed(host: host, path: path, reason: "the remote path must be absolute and name a file")
        }
        let directory = (path as NSString).deletingLastPathComponent
        return (directory, "\(directory)/.\((path as NSString).lastPathComponent).capstan-\(UUID().uuidString.prefix(8))")
    }
}
