import CGLib

/// The loop as a Swift executor: an actor whose `unownedExecutor` is the loop's, or a task with
/// the loop as its executor preference, runs its jobs on the loop's thread, one at a time,
/// interleaved in FIFO order with bottom halves.
extension EventLoop: SerialExecutor, TaskExecutor {
    /// Queues `job` as a one-shot bottom half. Callable from any thread.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        submit { job.runSynchronously(on: executor) }
    }

    /// Traps unless the calling thread is iterating this loop: Swift's runtime calls this to
    /// verify actor isolation (`assumeIsolated`), and a wrong answer would break data-race safety.
    public func checkIsolated() {
        precondition(g_main_context_is_owner(context) != 0,
                     "not on the thread of event loop \(name)")
    }
}
