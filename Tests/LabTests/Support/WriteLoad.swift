import Foundation

/// Writes `PREFIX/<n>` in a loop from this machine until stopped; keeps the keys the store acknowledged,
/// the failed attempts and the longest time between two acknowledgements.
final class WriteLoad: @unchecked Sendable {
    private let lock = NSLock()
    private var stop = false
    private var acked: [String] = []
    private var failed = 0
    private var gap: Double = 0
    private var thread: Thread?

    var acknowledged: [String] { lock.withLock { acked } }
    var failures: Int { lock.withLock { failed } }

    /// Starts writing `prefix/1`, `prefix/2` … with `put`, which says whether the write was acknowledged.
    func start(prefix: String = "load", _ put: @escaping @Sendable (String) -> Bool) {
        let t = Thread { [self] in
            var n = 0
            var last = Date()
            while !lock.withLock({ stop }) {
                n += 1
                let key = "\(prefix)/\(n)"
                if put(key) {
                    let now = Date()
                    lock.withLock { acked.append(key); gap = max(gap, now.timeIntervalSince(last)) }
                    last = now
                } else {
                    lock.withLock { failed += 1 }
                    usleep(100_000)
                }
            }
        }
        thread = t
        t.start()
    }

    /// Waits until `count` writes were acknowledged (false after `seconds` without them): a load that is
    /// running before the work it watches starts, and still running after it ends.
    func waitForAcknowledged(_ count: Int, seconds: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while lock.withLock({ acked.count }) < count {
            if Date() > deadline { return false }
            usleep(20_000)
        }
        return true
    }

    /// Stops the load (idempotent) and returns what it saw.
    @discardableResult
    func finish() -> (acknowledged: [String], failed: Int, longestGap: Double) {
        lock.withLock { stop = true }
        while thread?.isFinished == false { usleep(10_000) }
        return lock.withLock { (acked, failed, gap) }
    }
}
