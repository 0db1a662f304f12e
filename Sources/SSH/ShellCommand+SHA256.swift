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
    /// Fails unless the file's SHA-256 is `expected`. A write whose content arrives on stdin checks its
    /// staging file with it before the rename: when Capstan dies mid-send, `cat` sees end of input and
    /// exits 0 with part of the file, and without this check the part would replace the target.
    static func requireSHA256(of path: String, _ expected: String) -> ShellCommand {
        ShellCommand(["sh", "-c", "digest=$(\(sha256(of: path).line)) || exit 1; [ \"${digest%% *}\" = \"$2\" ] || { echo \"$1: incomplete (sha256 ${digest%% *}, expected $2)\" >&2; exit 1; }", "sh", path, expected])
    }
}

extension ShellCommand {
    /// One command that installs a file whose content arrives on stdin: a 0600 staging file beside the
    /// target (`umask 077` before `cat`, so a key is never readable by others on its way), its SHA-256
    /// checked against `sha256` (a send cut short ends `cat` with part of the file, which must never
    /// replace the target), mode and owner, `mv -f` (rename(2) in one directory: the checked bytes are
    /// the target's). With `printTarget` it ends by printing the target's SHA-256 as well. The staging
    /// file is removed when a step fails.
    static func installFromStdin(path: String, directory: String, staging: String, sha256: String,
                                 attributes: FileAttributes, printTarget: Bool) -> ShellCommand {
        var install = ShellCommand("mkdir", "-p", "--", directory)
            .then(ShellCommand("sh", "-c", #"umask 077 && cat > "$1""#, "sh", staging))
            .then(.requireSHA256(of: staging, sha256))
            .then(ShellCommand("chmod", String(attributes.mode, radix: 8), "--", staging))
        if let owner = attributes.owner { install = install.then(ShellCommand("chown", "--", owner, staging)) }
        install = install.then(ShellCommand("mv", "-f", "--", staging, path))
        if printTarget { install = install.then(.sha256(of: path)) }
        return ShellCommand("sh", "-c", "{ \(install.line); } || { status=$?; rm -f -- \"$1\"; exit $status; }", "sh", staging)
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
