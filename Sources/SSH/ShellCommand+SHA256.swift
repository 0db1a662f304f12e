import Crypto
import Foundation
import Hosts

extension ShellCommand {
    /// One command that installs a file whose content arrives on stdin: a 0600 staging file beside the
    /// target (`umask 077` before `cat`, so a key is never readable by others on its way), its SHA-256
    /// checked against `sha256` (a send cut short ends `cat` with part of the file, which must never
    /// replace the target), mode and owner, `mv -f` (rename(2) in one directory: the checked bytes are
    /// the target's). With `printTarget` it ends by printing that SHA-256 and the target's path. The staging
    /// file is removed when a step fails.
    /// `size`: the content's length; above `smallFile` the host hashes with `openssl` when it has it, else
    /// with `sha256sum` (`installScript`).
    static func installFromStdin(path: String, directory: String, staging: String, sha256: String,
                                 attributes: FileAttributes, printTarget: Bool, size: Int) -> ShellCommand {
        install(path: path, directory: directory, staging: staging, sha256: sha256, attributes: attributes,
                printTarget: printTarget, size: size, source: "")
    }

    /// The same install for content already written to a file on the host (`uploaded`, e.g. through SFTP):
    /// when `uploaded` is the staging file itself it is checked and renamed in place; otherwise (an upload
    /// the SSH user wrote for a `sudo` install) its bytes are copied into the staging file first. Either way
    /// the SHA-256 is compared before anything replaces the target.
    static func installUploaded(_ uploaded: String, path: String, directory: String, staging: String, sha256: String,
                                attributes: FileAttributes, printTarget: Bool, size: Int) -> ShellCommand {
        install(path: path, directory: directory, staging: staging, sha256: sha256, attributes: attributes,
                printTarget: printTarget, size: size, source: uploaded)
    }

    private static func install(path: String, directory: String, staging: String, sha256: String, attributes: FileAttributes,
                                printTarget: Bool, size: Int, source: String) -> ShellCommand {
        ShellCommand(["sh", "-c", installScript, "sh", staging, directory, sha256, String(attributes.mode, radix: 8),
                      attributes.owner ?? "", path, printTarget ? "print" : "", size > smallFile ? "large" : "", source])
    }

    /// Files up to this size (configurations, certificates, units: nearly everything `apply` writes) are small:
    /// libssh2 writes them in one command, and the host hashes them with `sha256sum`, which starts faster.
    static let smallFile = 256 * 1024

    /// One `sh` for the whole install: its built-ins test the directory, set the umask, compare the digest and
    /// clean up, so a small file (most of what `apply` writes, tens per host) costs `cat`, one hash, `chmod`
    /// and `mv`. The digest printed at the end is the staging file's, checked above: `mv` renamed that file
    /// to the target. A large file is hashed with `openssl dgst` when the host has it: OpenSSL's SHA-256 uses
    /// the CPU's SHA extensions and took 0.09 s CPU for 100 MiB here against coreutils `sha256sum`'s 0.64 s.
    /// A small file is hashed with `sha256sum`: it starts in a third of `openssl`'s time.
    private static let installScript = #"""
        s=$1
        fail() { status=$?; rm -f -- "$s"; exit $status; }
        [ -d "$2" ] || mkdir -p -- "$2" || exit
        umask 077
        if [ -z "$9" ]; then cat > "$s" || fail
        elif [ "$9" != "$s" ]; then cat -- "$9" > "$s" || fail; fi
        if [ -n "$8" ] && command -v openssl >/dev/null 2>&1; then digest=$(openssl dgst -sha256 -r "$s") || fail
        else digest=$(sha256sum -- "$s") || fail; fi
        digest=${digest%% *}
        if [ "$digest" != "$3" ]; then echo "$s: incomplete or changed on the way (sha256 $digest, expected $3)" >&2; rm -f -- "$s"; exit 1; fi
        chmod "$4" -- "$s" || fail
        if [ -n "$5" ]; then chown -- "$5" "$s" || fail; fi
        mv -f -- "$s" "$6" || fail
        if [ -n "$7" ]; then echo "$digest $6"; fi
        """#
}

/// What an install command (`installFromStdin`, `installUploaded`) answered.
enum InstallResult {
    /// Throws when the command failed, or, when `expected` is given, when the SHA-256 it printed for the
    /// target (`printTarget`) is not that one.
    static func check(_ result: CommandResult, host: String, path: String, expected: String?) throws {
        guard result.succeeded else {
            throw HostError.transferFailed(host: host, path: path, reason: "cannot put the file in place: \(result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        guard let expected else { return }
        let remote = result.stdoutText.split(separator: " ").first.map(String.init) ?? ""
        guard remote == expected else {
            throw HostError.transferFailed(host: host, path: path, reason: "checksum mismatch after writing: sent sha256 \(expected), the host has \(remote.isEmpty ? "nothing" : remote)")
        }
    }
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
