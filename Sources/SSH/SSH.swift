import CLibSSH2
import Hosts

/// libssh2-backed `HostConnector`.
public enum SSH {
    /// The libssh2 version the process runs with (not the one it was built against).
    public static var libraryVersion: String {
        guard let v = libssh2_version(0) else { return "unknown" }
        return String(cString: v)
    }
}
