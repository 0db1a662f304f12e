import Foundation

/// A bounded hand-off of chunks from one producer to one consumer, so a fast reader (the snapshot stream)
/// waits for a slow writer (the store) instead of piling the snapshot up in memory.
actor ChunkChannel {
    private var buffer: [Data] = []
    private let capacity: Int
    private var finished = false
    private var failure: (any Error)?
    private var consumerGone = false
    private var receiver: CheckedContinuation<Void, Never>?
    private var senders: [CheckedContinuation<Void, Never>] = []

    init(capacity: Int = 8) { self.capacity = max(1, capacity) }

    func send(_ data: Data) async throws {
        while buffer.count >= capacity && !consumerGone {
            await withCheckedContinuation { senders.append($0) }
        }
        if consumerGone { throw CancellationError() }
        buffer.append(data)
        wakeReceiver()
    }

    /// Ends the stream; with an error the consumer fails with it after the chunks already sent.
    func finish(throwing error: (any Error)? = nil) {
        finished = true
        failure = error
        wakeReceiver()
    }

    func next() async throws -> Data? {
        while buffer.isEmpty && !finished {
            await withCheckedContinuation { receiver = $0 }
        }
        if !buffer.isEmpty {
            let chunk = buffer.removeFirst()
            wakeSenders()
            return chunk
        }
        if let failure { throw failure }
        return nil
    }

    /// The consumer stopped (failed or done): release and fail any waiting producer.
    func consumerStopped() {
        consumerGone = true
        wakeSenders()
    }

    private func wakeReceiver() {
        receiver?.resume()
        receiver = nil
    }

    private func wakeSenders() {
        let waiting = senders
        senders = []
        for s in waiting { s.resume() }
    }

    nonisolated var stream: AsyncThrowingStream<Data, any Error> {
        AsyncThrowingStream(unfolding: { try await self.next() })
    }
}
