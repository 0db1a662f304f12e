/// Errors of the workflow layer: what failed, where (phase, host), why, and what to do next.
public enum WorkflowError: Error, Sendable, CustomStringConvertible {
    /// A phase failed on one or more hosts; every host's error is kept.
    case phaseFailed(phase: String, failures: [HostFailure], next: String)
    /// Capstan refuses to act (e.g. quorum would be lost); `found` says what it saw.
    case refused(what: String, found: String, next: String)
    /// A host named by a phase is not part of the run.
    case unknownHost(String)
    case unknownPhase(names: [String], known: [String])
    case invalidInput(String)
    /// Work on one host (or a few, comma-separated) failed; `reason` carries the evidence (e.g. the unit's journal).
    case hostFailed(host: String, what: String, reason: String, next: String)
    /// The hosts belong to another cluster than the state directory (`ClusterIdentityGuard`); the text
    /// names the hosts, what they carry and the ways out.
    case identityMismatch(String)

    public struct HostFailure: Sendable, CustomStringConvertible {
        public var host: String
        public var message: String
        public init(host: String, message: String) {
            self.host = host
            self.message = message
        }
        public var description: String { "\(host): \(message)" }
    }

    public var description: String {
        switch self {
        case let .phaseFailed(phase, failures, next):
            let hosts = failures.map(\.host).joined(separator: ", ")
            let lines = failures.map { "  [\($0.host)] \($0.message)" }.joined(separator: "\n")
            return "phase \(phase) failed on \(hosts):\n\(lines)\n\(next)"
        case let .refused(what, found, next):
            return "refusing to \(what): \(found). \(next)"
        case let .unknownHost(host):
            return "host \(host) is not in this run's inventory"
        case let .unknownPhase(names, known):
            return "unknown phase \(names.joined(separator: ", ")) in --skip-phases (phases: \(known.joined(separator: ", ")))"
        case let .invalidInput(message):
            return message
        case let .hostFailed(host, what, reason, next):
            return "failed to \(what) on \(host): \(reason)\n\(next)"
        case let .identityMismatch(text):
            return "refusing to act: " + text
        }
    }
}
