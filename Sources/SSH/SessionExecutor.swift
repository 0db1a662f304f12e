import Dispatch
import Foundation

/// The one place a libssh2 session and its channels are touched from.
///
/// libssh2 allows one thread at a time per session. Each connection gets its own serial dispatch
/// queue: work on it runs on a GCD thread, never on the Swift cooperative pool, so a slow host
/// cannot starve other tasks. The session is non-blocking and every wait is a `poll` of at most
/// `SessionExecutor.slice`, so long operations (a command's output, a transfer) are split into
/// short jobs; between jobs the async caller checks cancellation and deadlines, and other
/// channels of the same session get their turn.
final class SessionExecutor: @unchecked Sendable {
    /// Longest single wait on the socket inside one job.
    static let slice: Int32 = 100

    private let queue: DispatchQueue
    private let key = DispatchSpecificKey<ObjectIdentifier>()

    init(label: String) {
        queue = DispatchQueue(label: "capstan.ssh.\(label)")
        queue.setSpecific(key: key, value: ObjectIdentifier(self))
    }

    var isCurrent: Bool { DispatchQueue.getSpecific(key: key) == ObjectIdentifier(self) }

    /// Runs `body` on the session's queue and returns its result to the async caller.
    func perform<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body() })
            }
        }
    }

    /// Runs `body` on the queue from a plain thread (a tunnel pump, a deinit); inline when already there.
    func sync<T>(_ body: () throws -> T) rethrows -> T {
        if isCurrent { return try body() }
        return try queue.sync(execute: body)
    }
}
