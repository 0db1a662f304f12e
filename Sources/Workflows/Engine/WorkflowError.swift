/// Errors of the workflow layer: what failed, where (phase, host), why, and what to do next.
public enum WorkflowError: Error, Sendable, CustomStringConvertible {
    /// A phase failed on one or more hosts; every host's error is kept.
    case phaseFailed(phase: String, failures: [HostFailure], next: String)
    /// Capstan refuses to act (e.g. quorum would be lost); `found` says what it saw.
    case refused(what: String, found: String, next: String)
    /// A host named by a phase is not part of the run.
    case unknownHost(String)
    /// `--skip-phase`/`--phase` named phases the run does not have.
    case unknownPhase(names: [String], known: [String])
    /// What is wrong, by kind, with the message an operator reads and the error underneath (see `Failure`).
    case failed(Failure)
    /// Work on one host (or a few, comma-separated) failed; `reason` carries the evidence (e.g. the unit's journal).
    case hostFailed(host: String, what: String, reason: String, next: String)
    /// The hosts belong to another cluster than the state directory (`ClusterIdentityGuard`); the text
    /// names the hosts, what they carry and the ways out.
    case identityMismatch(String)
    /// A file the PKI phase creates is not in the state directory yet (`path`), needed on `host` as `remotePath`.
    case missingStateFile(path: String, host: String, remotePath: String)
    /// A phase needs data that `phase` prepares earlier in the same run (`RunData`), and that phase did not run.
    case runDataMissing(phase: String)
    /// `neededBy` read what `phase` prepares in the same run, and `phase` is skipped (or not before them).
    case neededPhaseMissing(phase: String, neededBy: [String], skipped: Bool)

    /// `kubectl drain` did not finish on `node` (PodDisruptionBudgets, the timeout) and `--force-drain` was
    /// not given; the node stays cordoned.
    case drainIncomplete(node: String, controlHost: String, reason: String, next: String)

    public struct HostFailure: Sendable, CustomStringConvertible {
        public var host: String
        /// The error as it was thrown on the host, type kept.
        public var cause: any Error
        public var message: String { "\(cause)" }
        public init(host: String, cause: any Error) {
            self.host = host
            self.cause = cause
        }
        public var description: String { "\(host): \(message)" }
    }

    /// This error and every error it carries (the hosts' causes of a failed phase), depth first.
    public var chain: [WorkflowError] {
        guard case let .phaseFailed(_, failures, _) = self else { return [self] }
        return [self] + failures.flatMap { ($0.cause as? WorkflowError)?.chain ?? [] }
    }

    /// The error underneath, when this one was made from another (an unreadable file's I/O error, a
    /// failed decode, a program that could not be started).
    public var cause: (any Error)? {
        guard case let .failed(failure) = self else { return nil }
        return failure.cause
    }

    /// The host the error names first: a failed host, a node whose drain did not finish, or a failed
    /// phase's first host.
    public var firstHost: String? {
        switch self {
        case let .hostFailed(host, _, _, _): host
        case let .drainIncomplete(node, _, _, _): node
        case let .phaseFailed(_, failures, _): failures.first?.host
        default: nil
        }
    }

    /// The node whose drain did not finish, anywhere in `chain`.
    public var incompleteDrain: String? {
        for error in chain { if case let .drainIncomplete(node, _, _, _) = error { return node } }
        return nil
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
        case let .failed(failure):
            return failure.message
        case let .hostFailed(host, what, reason, next):
            return "failed to \(what) on \(host): \(reason)\n\(next)"
        case let .drainIncomplete(node, controlHost, reason, next):
            return "failed to drain \(node) (kubectl on \(controlHost)): \(reason)\n\(next)"
        case let .identityMismatch(text):
            return "refusing to act: " + text
        case let .missingStateFile(path, host, remotePath):
            return "\(path) is missing, needed on \(host) as \(remotePath): run `capstan apply` (or `capstan certs renew`) so the PKI phase creates it"
        case let .neededPhaseMissing(phase, neededBy, skipped):
            let why = skipped ? "cannot be skipped" : "must run before them"
            return "\(phase) \(why): \(neededBy.joined(separator: ", ")) read what it prepares in the same run; nothing was changed"
        case let .runDataMissing(phase):
            return "this phase needs what the phase \(phase) prepares in the same run: do not skip \(phase)"
        }
    }
}

extension WorkflowError {
    /// A failure that is not a phase's, a host's or a refusal: its kind, the message (what is wrong and the
    /// way out, as the operator reads it) and the error it was made from, if any. Callers switch on `kind`,
    /// never on the message.
    public struct Failure: Sendable, CustomStringConvertible {
        public enum Kind: String, Sendable {
            /// The inventory (or a flag) asks for what this cluster cannot be built with; found after parsing,
            /// where no FILE:LINE:COL is left (e.g. a Kubernetes minor without default runtime versions).
            case inventory
            /// A file or directory the inventory or a flag names (a CA, a token, credentials, manifests, an
            /// output directory) is missing, unreadable or malformed.
            case namedFile
            /// A file of the state directory (a record, the PKI) is missing, unreadable or not what Capstan
            /// wrote; the message names the file and how to restore it.
            case stateFile
            /// A program on a host or here (containerd, kubectl, an API server) failed or answered what
            /// Capstan cannot use.
            case unexpectedAnswer
            /// Capstan's own invariant broke (a phase built without what it needs): a defect to report, not
            /// the operator's input.
            case internalInvariant
        }

        public let kind: Kind
        public let message: String
        public let cause: (any Error)?

        public init(_ kind: Kind, _ message: String, cause: (any Error)? = nil) {
            self.kind = kind
            self.message = message
            self.cause = cause
        }

        public var description: String { message }
    }

    public static func inventory(_ message: String, cause: (any Error)? = nil) -> WorkflowError { .failed(Failure(.inventory, message, cause: cause)) }
    public static func namedFile(_ message: String, cause: (any Error)? = nil) -> WorkflowError { .failed(Failure(.namedFile, message, cause: cause)) }
    public static func stateFile(_ message: String, cause: (any Error)? = nil) -> WorkflowError { .failed(Failure(.stateFile, message, cause: cause)) }
    public static func unexpectedAnswer(_ message: String, cause: (any Error)? = nil) -> WorkflowError { .failed(Failure(.unexpectedAnswer, message, cause: cause)) }
    public static func internalInvariant(_ message: String) -> WorkflowError { .failed(Failure(.internalInvariant, message)) }

    /// The failure's kind, nil for the other cases.
    public var failureKind: Failure.Kind? {
        guard case let .failed(failure) = self else { return nil }
        return failure.kind
    }
}
