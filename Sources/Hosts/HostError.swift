/// Errors of the host layer. Each names the host and says what to do next where there is something to do.
public enum HostError: Error, Sendable, Equatable, CustomStringConvertible {
    case connectFailed(host: String, address: String, reason: String)
    case authenticationFailed(host: String, user: String, tried: [String], reason: String)
    case hostKeyUnknown(host: String, keyType: String, fingerprint: String, knownHostsFile: String)
    case hostKeyChanged(host: String, keyType: String, expected: String, presented: String, knownHostsFile: String, line: Int)
    case commandFailed(host: String, command: String, exitStatus: Int32, stderr: String)
    case timeout(host: String, what: String, seconds: Double)
    case transferFailed(host: String, path: String, reason: String)
    case sudoNeedsPassword(host: String, user: String)
    case disconnected(host: String, reason: String)
    case unsupported(host: String, reason: String)

    public var description: String {
        switch self {
        case let .connectFailed(host, address, reason):
            return "cannot connect to \(host) (\(address)): \(reason) — check the address, port and that sshd is running"
        case let .authenticationFailed(host, user, tried, reason):
            return "authentication as \(user) on \(host) failed (tried: \(tried.joined(separator: ", "))): \(reason) — check spec.ssh.user and spec.ssh.identityFile in the inventory (or the host's own ssh: settings) and that the key is in ~\(user)/.ssh/authorized_keys on \(host)"
        case let .hostKeyUnknown(host, keyType, fingerprint, file):
            return "host key of \(host) is not known: \(keyType) \(fingerprint) is not in \(file). Verify the fingerprint, then add it (ssh-keyscan) or set ssh.knownHosts.policy: accept-new"
        case let .hostKeyChanged(host, keyType, expected, presented, file, line):
            return "HOST KEY CHANGED for \(host): \(file):\(line) has \(keyType) \(expected), the host presented \(presented). This may be an attack or a reinstalled host; if the change is expected, remove that entry from the inventory's known_hosts file (sed -i '\(line)d' \(file), or ssh-keygen -R ADDRESS -f \(file)), add the new key after checking it, and connect again"
        case let .commandFailed(host, command, status, stderr):
            let tail = stderr.split(separator: "\n").suffix(5).joined(separator: "\n")
            return "command failed on \(host) (exit \(status)): \(command)" + (tail.isEmpty ? "" : "\n\(tail)")
        case let .timeout(host, what, seconds):
            return "\(what) on \(host) timed out after \(Int(seconds))s"
        case let .transferFailed(host, path, reason):
            return "file transfer \(path) on \(host) failed: \(reason)"
        case let .sudoNeedsPassword(host, user):
            return "sudo on \(host) needs a password for \(user): allow passwordless sudo (NOPASSWD) for this user or connect as root"
        case let .disconnected(host, reason):
            return "connection to \(host) lost: \(reason)"
        case let .unsupported(host, reason):
            return "\(host): \(reason)"
        }
    }
}
