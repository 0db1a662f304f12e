import CLibSSH2
import Hosts

/// Facts about the libssh2 library Capstan runs with.
public enum SSH {
    /// libssh2 must be initialised once per process before any session exists; `libssh2_init` is not
    /// thread-safe, so it runs from this lazily initialised (and therefore once-only) global.
    static let initialised: Int32 = libssh2_init(0)

    /// The libssh2 version the process runs with (not the one it was built against).
    public static var libraryVersion: String {
        guard let v = libssh2_version(0) else { return "unknown" }
        return String(cString: v)
    }

    /// libssh2 1.11 added rsa-sha2-256/512 user authentication; older versions sign RSA keys only with
    /// SHA-1 `ssh-rsa`, which OpenSSH 8.8+ servers refuse.
    public static var supportsRSASHA2: Bool {
        libssh2_version(0x010b00) != nil
    }
}
