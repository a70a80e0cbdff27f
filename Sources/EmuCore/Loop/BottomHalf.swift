import Synchronization

/// Work queued to run once on a loop's thread, in the order it was scheduled.
///
/// Bottom halves and ``EventLoop/submit(_:)`` share one FIFO per loop, which runs in a single
/// GLib source: scheduling from any thread wakes the loop; a bottom half scheduled while the
/// queue is being run goes to the next iteration, so a bottom half that reschedules itself never
/// starves the rest of the loop. Bottom halves are internal work: drained sections don't stop them.
public final class BottomHalf: Sendable {
    /// A name for logs.
    public let name: String
    let work: @Sendable () -> Void
    private weak let queue: BottomHalfQueue?
    /// Whether the bottom half sits in the queue (scheduled, not yet run or cancelled).
    let pending = Atomic<Bool>(false)

    init(name: String, queue: BottomHalfQueue, work: @escaping @Sendable () -> Void) {
        self.name = name
        self.queue = queue
        self.work = work
    }

    /// Schedules the bottom half to run once. Scheduling it again before it ran does nothing
    /// (it still runs once, at its original place in the queue). Callable from any thread.
    public func schedule() {
        guard pending.compareExchange(expected: false, desired: true,
                                      ordering: .acquiringAndReleasing).exchanged else { return }
        queue?.enqueue(.bottomHalf(self))
    }

    /// Unschedules it: if it has not started running, it won't run for this scheduling.
    public func cancel() { pending.store(false, ordering: .releasing) }

    /// Whether it is scheduled and has not run yet.
    public var isScheduled: Bool { pending.load(ordering: .acquiring) }
}

/// The per-loop FIFO of bottom halves and one-shot work, dispatched by one GLib source.
final class BottomHalfQueue: Sendable, SourceDispatchTarget {
    enum Entry: Sendable {
        case oneShot(@Sendable () -> Void)
        case bottomHalf(BottomHalf)
    }

    let source: GLibSource
    private let queue = Mutex<[Entry]>([])
    /// The batch being run; kept between dispatches so its storage is reused (only the loop's
    /// thread dispatches, so this lock is never contended).
    private let running = Mutex<[Entry]>([])

    init(name: String) {
        source = GLibSource(name: name, priority: 0)
    }

    func attach(to context: OpaquePointer) { source.attach(to: context, target: self) }

    /// Appends and wakes the loop.
    func enqueue(_ entry: Entry) {
        queue.withLock { $0.append(entry) }
        source.setReady()
    }

    /// Entries queued and not yet run (for tests and leak checks).
    var count: Int { queue.withLock { $0.count } }

    func dispatchSource() {
        // Clear readiness before taking the batch: an enqueue after this point re-arms it.
        source.clearReady()
        var batch = running.withLock { running in
            var taken: [Entry] = []
            swap(&taken, &running)
            return taken
        }
        queue.withLock { swap(&$0, &batch) }
        defer {
            batch.removeAll(keepingCapacity: true)
            running.withLock { swap(&$0, &batch) }
        }
        for entry in batch {
            switch entry {
            case .oneShot(let work):
                work()
            case .bottomHalf(let bh):
                // Cancelled ones are skipped; clearing before running lets the work reschedule.
                if bh.pending.compareExchange(expected: true, desired: false,
                                              ordering: .acquiringAndReleasing).exchanged {
                    bh.work()
                }
            }
        }
    }
}
