import Foundation

/// Writes `load/<n>` in a loop from this machine until stopped; keeps the acknowledged keys.
final class WriteLoad: @unchecked Sendable {
    private let lock = NSLock()
    private var stop = false
    private(set) var acknowledged: [String] = []
    private(set) var failed = 0
    private(set) var longestGap: Double = 0
    private var thread: Thread?

    func start(_ put: @escaping @Sendable (String) -> Bool) {
        let t = Thread { [self] in
            var n = 0
            var last = Date()
            while !lock.withLock({ stop }) {
                n += 1
                let key = "load/\(n)"
                if put(key) {
                    let now = Date()
                    lock.withLock { acknowledged.append(key); longestGap = max(longestGap, now.timeIntervalSince(last)) }
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

    func finish() -> (acknowledged: [String], failed: Int, longestGap: Double) {
        lock.withLock { stop = true }
        while thread?.isFinished == false { usleep(10_000) }
        return lock.withLock { (acknowledged, failed, longestGap) }
    }
}
