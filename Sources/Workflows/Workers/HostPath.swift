import Hosts

/// A connection whose file transfers act under a root prefix while its commands run on this machine
/// (`LocalConnection` with a root, used for fake hosts in tests): paths handed to commands must be mapped
/// the same way so one fake host's `sha256sum` or `cat /proc/…` reads that host's tree.
public protocol CommandPathMapping {
    func commandPath(_ path: String) -> String
}

extension LocalConnection: CommandPathMapping {
    public func commandPath(_ path: String) -> String { localPath(path) }
}

enum HostPath {
    static func forCommand(_ path: String, on runner: any CommandRunner) -> String {
        (runner as? any CommandPathMapping)?.commandPath(path) ?? path
    }
}
