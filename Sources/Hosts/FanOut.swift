/// One host's outcome in a fan-out.
public struct HostOutcome<Value: Sendable>: Sendable {
    public var host: String
    public var result: Result<Value, any Error>

    public init(host: String, result: Result<Value, any Error>) {
        self.host = host
        self.result = result
    }

    public var value: Value? { try? result.get() }
    public var error: (any Error)? {
        if case .failure(let e) = result { return e }
        return nil
    }
}

/// Runs work on many hosts with at most `limit` at once and returns every host's outcome, in input
/// order. One host's failure never stops the others.
public enum FanOut {
    public static let defaultLimit = 30

    public static func run<Item: Sendable, Value: Sendable>(
        _ items: [Item],
        limit: Int = FanOut.defaultLimit,
        name: (Item) -> String,
        _ body: @escaping @Sendable (Item) async throws -> Value
    ) async -> [HostOutcome<Value>] {
        let limit = max(1, limit)
        var outcomes = [HostOutcome<Value>?](repeating: nil, count: items.count)
        await withTaskGroup(of: (Int, HostOutcome<Value>).self) { group in
            var next = 0
            func submit(_ i: Int) {
                let item = items[i]
                let label = name(item)
                group.addTask {
                    do {
                        return (i, HostOutcome(host: label, result: .success(try await body(item))))
                    } catch {
                        return (i, HostOutcome(host: label, result: .failure(error)))
                    }
                }
            }
            while next < items.count && next < limit {
                submit(next)
                next += 1
            }
            while let (i, outcome) = await group.next() {
                outcomes[i] = outcome
                if next < items.count {
                    submit(next)
                    next += 1
                }
            }
        }
        return outcomes.compactMap { $0 }
    }
}
