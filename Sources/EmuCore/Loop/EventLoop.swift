import CGLib
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An event loop over a GLib `GMainContext`: fd handlers, event notifiers, bottom halves, timers
/// on any ``EmuClock``, and drained sections that hold back guest-originated (external) work.
///
/// Threads: everything registered on a loop is dispatched on the one thread that iterates it
/// (``run()`` or ``iterate(blocking:)``), one dispatch at a time. Registration, scheduling,
/// ``stop()`` and drained sections may be called from any thread. The loop is also a
/// `SerialExecutor`, so an actor or a task can be pinned to it (see `EventLoop+Executor.swift`).
///
/// The loop owns its context; when the last reference goes, every source still attached is
/// destroyed. Handlers should capture the loop weakly or unowned to avoid a cycle.
public final class EventLoop: Sendable {
    /// A name for logs and thread names.
    public let name: String
    /// The GMainContext. GLib's context API is thread-safe.
    nonisolated(unsafe) let context: OpaquePointer
    /// The pending stop: raised by ``stop()``, taken by ``run()``; never lost to another thread's
    /// iteration (see `LoopStopRequest.swift` for why and how).
    private let stopRequest: LoopStopRequest
    /// Open drained sections; changed only while the context is owned, read anywhere.
    private let drainDepth = Atomic<Int>(0)
    private let registry = Mutex<Registry>(Registry())
    let bottomHalves: BottomHalfQueue

    struct Registry {
        var fdHandlers: [ObjectIdentifier: FDHandler] = [:]
        var timerLists: [ObjectIdentifier: TimerList] = [:]
    }

    /// Creates a loop with its own GMainContext. Nothing runs until a thread iterates it.
    public init(name: String = "loop") {
        self.name = name
        // g_main_context_new aborts only on allocation failure, like every GLib allocation.
        self.context = g_main_context_new()!
        self.bottomHalves = BottomHalfQueue(name: "\(name)/bh")
        bottomHalves.attach(to: context)
        self.stopRequest = LoopStopRequest(context: context)
    }

    deinit {
        let handlers = registry.withLock { state in
            defer { state = Registry() }
            return (Array(state.fdHandlers.values), Array(state.timerLists.values))
        }
        handlers.0.forEach { $0.source.destroy() }
        handlers.1.forEach { $0.source.destroy() }
        bottomHalves.source.destroy()
        stopRequest.destroy()
        g_main_context_unref(context)
    }

    // MARK: Running

    /// Iterates the loop on the calling thread until ``stop()`` is called.
    ///
    /// A `stop()` that came before `run()` makes it return at once. Only one thread iterates the
    /// context at a time; a second thread calling `run()` waits its turn, and one `stop()` makes
    /// one `run()` return.
    public func run() {
        stopRequest.runStarted()
        defer { stopRequest.runEnded() }
        while !stopRequest.take() {
            iterateOwning(blocking: true)
        }
    }

    /// Makes ``run()`` return after the iteration in progress. Callable from any thread.
    ///
    /// Guarantee: whatever other threads do with the loop meanwhile (iterate it, run it with a
    /// timeout, own it for a drained section, submit work), the request reaches `run()`: it stays
    /// pending until a `run()` takes it, and while one is active no iteration of the loop blocks.
    /// (A pending stop therefore also makes other threads' blocking iterations return at once
    /// until `run()` has taken it.) A stop with no `run()` active waits for the next `run()`.
    public func stop() {
        stopRequest.raise()
        g_main_context_wakeup(context)
    }

    /// Runs one iteration: polls, then dispatches whatever is ready.
    ///
    /// - Parameter blocking: wait for something to become ready (a timer, an fd, a bottom half,
    ///   a wake-up) before returning.
    /// - Returns: whether anything was dispatched.
    /// While another thread iterates or owns the loop, a blocking call waits a moment and returns
    /// `false` rather than queueing for the context.
    @discardableResult
    public func iterate(blocking: Bool = false) -> Bool {
        iterateOwning(blocking: blocking)
    }

    /// One iteration by the calling thread, which takes the context's ownership itself instead of
    /// letting `g_main_context_iteration` wait for it. GLib's wait for ownership (2.74) unlists
    /// the first waiter and signals a condition variable that every waiting thread shares: with
    /// two threads waiting, the other one may wake, and the unlisted one then sleeps until some
    /// later release happens to wake it, for a loop's only runner possibly forever (a `stop()`
    /// cannot reach a thread that is not polling). Here a thread that finds the context owned
    /// elsewhere never enters that wait: blocking, it pauses 100 µs and reports nothing dispatched.
    @discardableResult
    private func iterateOwning(blocking: Bool) -> Bool {
        guard g_main_context_acquire(context) != 0 else {
            if blocking { usleep(100) }
            return false
        }
        defer { g_main_context_release(context) }
        return g_main_context_iteration(context, blocking ? 1 : 0) != 0
    }

    /// Iterates until `condition` holds or `timeout` nanoseconds of host time have passed.
    ///
    /// - Returns: whether `condition` held.
    @discardableResult
    public func run(timeout: UInt64, until condition: () -> Bool) -> Bool {
        let clock = HostClock.shared
        let deadline = clock.now &+ timeout
        let waker = makeTimer(on: clock) {}
        waker.arm(at: deadline)
        defer { waker.cancel() }
        while !condition() {
            if clock.now >= deadline { return false }
            guard g_main_context_acquire(context) != 0 else {
                usleep(100)  // another thread iterates or owns the loop (see `iterateOwning`)
                continue
            }
            defer { g_main_context_release(context) }
            // Looked at again while owning the context: another thread's iteration may have
            // dispatched (and so disarmed) the waker since the look above, and a poll without it
            // could block forever. Only an owner dispatches, so from here until the poll the
            // waker is either still armed or its deadline has passed.
            if clock.now >= deadline { return false }
            g_main_context_iteration(context, 1)
        }
        return true
    }

    /// Whether the calling thread is the one iterating this loop right now (or owns it).
    public var isCurrentThreadOwner: Bool { g_main_context_is_owner(context) != 0 }

    /// Runs `body` with the loop's context owned by the calling thread: inline if this thread
    /// already owns it or can take it, otherwise as a bottom half on the loop's thread, waiting
    /// until it has run. Never call from a thread the loop's thread is itself waiting on.
    func performOnLoop(_ body: @escaping @Sendable () -> Void) {
        if g_main_context_is_owner(context) != 0 {
            body()
        } else if g_main_context_acquire(context) != 0 {
            body()
            g_main_context_release(context)
        } else {
            let done = DispatchSemaphore(value: 0)
            submit {
                body()
                done.signal()
            }
            done.wait()
        }
    }

    // MARK: Bottom halves

    /// Runs `work` once on the loop's thread, after every bottom half scheduled before it.
    /// Callable from any thread; wakes the loop.
    public func submit(_ work: @escaping @Sendable () -> Void) {
        bottomHalves.enqueue(.oneShot(work))
    }

    /// Creates a reusable bottom half: ``BottomHalf/schedule()`` runs `work` once on this loop.
    public func makeBottomHalf(name: String = "bh",
                               _ work: @escaping @Sendable () -> Void) -> BottomHalf {
        BottomHalf(name: name, queue: bottomHalves, work: work)
    }

    // MARK: Drained sections

    /// Opens a drained section: from the moment this returns until the matching outermost
    /// ``endDrained()``, no ``HandlerKind/external`` handler of this loop is dispatched.
    ///
    /// Sections nest. Events of external handlers are not lost: their fds stay ready (level
    /// triggered) and are dispatched after the outermost section ends. Internal handlers, timers
    /// and bottom halves keep running. Callable from any thread: off the loop's thread it waits
    /// until the loop has applied the section, so no external dispatch is in progress on return.
    public func beginDrained() {
        performOnLoop { [self] in
            if drainDepth.add(1, ordering: .acquiringAndReleasing).newValue == 1 {
                applyGate()
            }
        }
    }

    /// Closes a drained section opened by ``beginDrained()``; the outermost end lets external
    /// handlers run again. An unbalanced call is ignored (the depth never goes below zero).
    public func endDrained() {
        performOnLoop { [self] in
            let depth = drainDepth.load(ordering: .acquiring)
            guard depth > 0 else { return }
            drainDepth.store(depth - 1, ordering: .releasing)
            if depth == 1 { applyGate() }
        }
    }

    /// Runs `body` inside a drained section.
    public func withDrainedSection<T>(_ body: () throws -> T) rethrows -> T {
        beginDrained()
        defer { endDrained() }
        return try body()
    }

    /// Whether a drained section is open.
    public var isDrained: Bool { drainDepth.load(ordering: .acquiring) > 0 }

    /// The number of drained sections open.
    public var drainedDepth: Int { drainDepth.load(ordering: .acquiring) }

    private func applyGate() {
        let external = registry.withLock { $0.fdHandlers.values.filter { $0.kind == .external } }
        for handler in external { handler.updatePolling() }
    }

    // MARK: Registry

    func register(_ handler: FDHandler) {
        registry.withLock { $0.fdHandlers[ObjectIdentifier(handler)] = handler }
        // The handler reads the drain depth under its own lock, and a section that begins
        // meanwhile re-applies the gate to it after raising the depth: the later one wins.
        handler.updatePolling()
    }

    func unregister(_ handler: FDHandler) {
        _ = registry.withLock { $0.fdHandlers.removeValue(forKey: ObjectIdentifier(handler)) }
    }

    /// The number of fd handlers registered (for leak checks in tests).
    public var fdHandlerCount: Int { registry.withLock { $0.fdHandlers.count } }

    func timerList(for clock: some EmuClock) -> TimerList {
        registry.withLock { state in
            let key = ObjectIdentifier(clock)
            if let list = state.timerLists[key] { return list }
            let list = TimerList(clock: clock, loopName: name)
            list.attach(to: context)
            state.timerLists[key] = list
            return list
        }
    }
}
