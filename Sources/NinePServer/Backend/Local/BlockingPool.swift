import Dispatch

/// Runs blocking host calls on dedicated threads, off the Swift cooperative pool.
///
/// The pool is also a `TaskExecutor` (``executor``): the engine runs each request's task on
/// it (see ``FileSystemBackend/preferredTaskExecutor``), so a request goes from its first
/// line to its reply on one of these threads, and `run` then calls its body right there
/// instead of hopping to another thread and back.
///
/// `run` checks for cancellation before the work starts (a Tflush then gets no reply,
/// as the back-end contract allows); once started, the work always completes.
struct BlockingPool: Sendable {
    let executor: BlockingExecutor

    init(label: String) {
        executor = BlockingExecutor(label: label)
    }

    /// Runs `body` on the pool and returns its result or error: inline if the calling thread
    /// is already one of the pool's; otherwise the task moves to the pool to run it. A task
    /// that prefers the pool's executor (a request started on the loop's thread) then stays
    /// there: one thread hand-off, not one to run `body` and another to resume the task.
    @discardableResult
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        if Task.isCancelled { throw CancellationError() }
        if executor.isCurrent { return try body() }
        return try await withTaskExecutorPreference(executor) { () async throws -> T in
            try await onPool(body)
        }
    }

    /// Runs `body` inline if on the pool, else (a task executor preference that could not be
    /// honoured) dispatches it there and waits.
    private func onPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        if executor.isCurrent { return try body() }
        return try await withCheckedThrowingContinuation { continuation in
            executor.queue.async {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}

extension BlockingPool {
    /// Runs `body` on the pool even if the task is cancelled (for Tclunk, which must happen).
    func perform(_ body: @escaping @Sendable () -> Void) async {
        if executor.isCurrent { return body() }
        await withTaskExecutorPreference(executor) { () async -> Void in
            if executor.isCurrent { return body() }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                executor.queue.async {
                    body()
                    continuation.resume()
                }
            }
        }
    }
}

/// A task executor over a concurrent dispatch queue whose threads may block (the queue is
/// not the cooperative pool: dispatch adds threads while others are blocked).
final class BlockingExecutor: TaskExecutor {
    let queue: DispatchQueue
    /// Marks the queue's threads, so code can tell it already runs on one.
    private static let key = DispatchSpecificKey<ObjectIdentifier>()

    init(label: String) {
        queue = DispatchQueue(label: label, attributes: .concurrent)
        queue.setSpecific(key: Self.key, value: ObjectIdentifier(self))
    }

    /// Whether the calling thread is running a block or a job of this executor.
    var isCurrent: Bool { DispatchQueue.getSpecific(key: Self.key) == ObjectIdentifier(self) }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { [self] in job.runSynchronously(on: asUnownedTaskExecutor()) }
    }
}
