/// A value computed once, by the first caller, and shared by every caller: later ones wait for that
/// computation (the per-host bodies of a parallel phase, the connections of one connector).
public actor Once<Value: Sendable> {
    private var task: Task<Value, any Error>?

    public init() {}

    public func value(_ make: @escaping @Sendable () async throws -> Value) async throws -> Value {
        if let task { return try await task.value }
        let made = Task { try await make() }
        task = made
        return try await made.value
    }
}
