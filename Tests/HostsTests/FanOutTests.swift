import Testing
import TestSupport
import Synchronization
@testable import Hosts

struct Boom: Error {}

@Suite("FanOut", .tags(.unit))
struct FanOutTests {
    @Test("returns every host's outcome in order and never stops at the first failure")
    func collectsAll() async {
        let items = Array(0..<50)
        let outcomes = await FanOut.run(items, limit: 7, name: { "h\($0)" }) { i in
            if i % 10 == 3 { throw Boom() }
            return i * 2
        }
        #expect(outcomes.count == 50)
        #expect(outcomes.map(\.host) == items.map { "h\($0)" })
        #expect(outcomes.filter { $0.error != nil }.count == 5)
        #expect(outcomes[4].value == 8)
    }

    @Test("never runs more than the limit at once")
    func bounded() async {
        let running = Mutex(0)
        let peak = Mutex(0)
        _ = await FanOut.run(Array(0..<40), limit: 5, name: { "\($0)" }) { _ in
            let now = running.withLock { $0 += 1; return $0 }
            peak.withLock { $0 = max($0, now) }
            try await Task.sleep(for: .milliseconds(5))
            running.withLock { $0 -= 1 }
        }
        #expect(peak.withLock { $0 } == 5)
    }
}
