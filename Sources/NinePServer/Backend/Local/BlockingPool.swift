import Dispatch

/// Runs blocking host calls on dedicated threads, off the Swift cooperative pool.
///
/// `run` checks for cancellation before the work starts (a Tflush then gets no reply,
/// as the back-end contract allows); once started, the work always completes.
struct BlockingPool: Sendable {
    fileprivate let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label, attributes: .concurrent)
    }

    /// Runs `body` on the pool and returns its result or error.
    @discardableResult
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        if Task.isCancelled { throw CancellationError() }
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}

extension BlockingPool {
    /// Runs `body` on the pool even if the task is cancelled (for Tclunk, which must happen).
    func perform(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                body()
                continuation.resume()
            }
        }
    }
}
