import Synchronization

/// A long-running block operation (mirror, commit, stream) with QEMU's job state machine and
/// verbs. The work itself is a ``BlockJobBody``.
///
/// Guarantees:
/// - A verb not allowed in the current state throws ``BlockJobError/verbNotAllowed(_:status:)``
///   and changes nothing (``BlockJobVerb/allowed(in:)`` is the table).
/// - Pausing (by `pause`, or by a drained section of one of the body's nodes) takes effect at the
///   body's next checkpoint; the status then reads `paused` (or `standby` when it was `ready`). A
///   drained section's begin returns only when the job has no I/O in flight, and the job starts
///   no new I/O until the section ends, except I/O the body does inside a section of its own
///   (``io(bypassingPause:_:)``).
/// - `cancel` before `ready` stops the work at the next checkpoint and the job concludes with
///   ``failure`` = `cancelled`; after `ready` (without `force`) it asks the body to finish
///   consistently without its final graph change (a mirror's target is left in sync, no switch).
/// - The speed limit (bytes per second, 0 = none) applies to the bytes the body reports through
///   ``rateLimit(_:)``.
/// - Every status change is recorded in ``statusHistory``, and ``waitUntil(_:)`` returns once a
///   condition on the status holds.
public final class BlockJob: BlockDrainParent {
    /// The job's identifier.
    public let id: String
    /// The work.
    public let body: any BlockJobBody
    /// Whether the job goes from pending to concluded by itself (else `finalize` is needed).
    public let autoFinalize: Bool
    /// Whether a concluded job is dismissed by itself (else `dismiss` is needed).
    public let autoDismiss: Bool

    struct State {
        var status = BlockJobStatus.created
        var history: [BlockJobStatus] = [.created]
        var userPauses = 0
        var drainPauses = 0
        var cancelRequested = false
        var forceCancel = false
        var completeRequested = false
        var finalizeRequested = false
        var speed: UInt64 = 0
        var nextAllowed = ContinuousClock.now
        var current: UInt64 = 0
        var total: UInt64 = 0
        var failure: BlockJobError?
        var ioInFlight = 0
        var wakeGeneration: UInt64 = 0
        var waiters: [(predicate: @Sendable (BlockJobStatus) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }
    let state = Mutex(State())

    /// A job `id` running `body`. Nothing happens until ``start()``.
    public init(id: String, body: any BlockJobBody, autoFinalize: Bool = true, autoDismiss: Bool = true, speed: UInt64 = 0) {
        self.id = id
        self.body = body
        self.autoFinalize = autoFinalize
        self.autoDismiss = autoDismiss
        state.withLock { $0.speed = speed }
    }

    // MARK: Observing

    /// The current status.
    public var status: BlockJobStatus { state.withLock { $0.status } }
    /// Every status the job has been in, in order.
    public var statusHistory: [BlockJobStatus] { state.withLock { $0.history } }
    /// Why the job failed (or `cancelled`), once it concluded; `nil` for success.
    public var failure: BlockJobError? { state.withLock { $0.failure } }
    /// Work done and work known (bytes); the total may grow while the job runs.
    public var progress: (current: UInt64, total: UInt64) { state.withLock { ($0.current, $0.total) } }
    /// The speed limit in bytes per second (0: none).
    public var speed: UInt64 { state.withLock { $0.speed } }

    /// Returns once `predicate` holds for the status (immediately if it already does).
    public func waitUntil(_ predicate: @escaping @Sendable (BlockJobStatus) -> Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if predicate(s.status) { return true }
                s.waiters.append((predicate, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Returns once the job is concluded or gone; throws its failure, if any.
    public func waitForConclusion() async throws(BlockJobError) {
        await waitUntil { $0 == .concluded || $0 == .null }
        if let failure { throw failure }
    }

    // MARK: Verbs

    /// Starts the job (created → running). Throws `verbNotAllowed` unless created.
    public func start() throws(BlockJobError) {
        try transition(to: .running, verb: nil, from: [.created])
        for node in body.nodes { node.addParent(self) }
        Task { await self.runToEnd() }
    }

    /// Stops the job: before `ready` (or with `force`) the work stops at the next checkpoint and
    /// the job fails with `cancelled`; after `ready` the body finishes consistently without its
    /// final graph change.
    public func cancel(force: Bool = false) throws(BlockJobError) {
        try verb(.cancel) { s in
            s.cancelRequested = true
            s.forceCancel = force || ![.ready, .standby].contains(s.status)
        }
    }

    /// Pauses the job at its next checkpoint (pauses nest).
    public func pause() throws(BlockJobError) {
        try verb(.pause) { $0.userPauses += 1 }
    }

    /// Undoes one `pause`. Throws `notPaused` without one.
    public func resume() throws(BlockJobError) {
        try verb(.resume) { s throws(BlockJobError) in
            guard s.userPauses > 0 else { throw .notPaused }
            s.userPauses -= 1
        }
    }

    /// Asks a ready job to finish (a mirror: final pass, then switch to the target).
    public func complete() throws(BlockJobError) {
        try verb(.complete) { $0.completeRequested = true }
    }

    /// Lets a pending job make its changes permanent and conclude.
    public func finalize() throws(BlockJobError) {
        try verb(.finalize) { $0.finalizeRequested = true }
    }

    /// Removes a concluded job (concluded → null).
    public func dismiss() throws(BlockJobError) {
        try transition(to: .null, verb: .dismiss, from: [.concluded])
    }

    /// Changes the speed limit (bytes per second; 0 removes it).
    public func setSpeed(_ bytesPerSecond: UInt64) throws(BlockJobError) {
        try verb(.setSpeed) { s in
            s.speed = bytesPerSecond
            s.nextAllowed = .now
        }
    }

    private func verb(_ verb: BlockJobVerb, _ change: (inout State) throws(BlockJobError) -> Void) throws(BlockJobError) {
        let result: Result<Void, BlockJobError> = state.withLock { s in
            guard verb.allowed(in: s.status) else { return .failure(.verbNotAllowed(verb, status: s.status)) }
            do throws(BlockJobError) { try change(&s) } catch { return .failure(error) }
            s.wakeGeneration &+= 1
            return .success(())
        }
        try result.get()
        // A job cancelled before it started concludes at once.
        if verb == .cancel, status == .created {
            try? transition(to: .aborting, verb: nil, from: [.created])
            finish(failure: .cancelled)
        }
    }

    // MARK: For bodies

    /// What the user asked of a ready job: nothing yet, `complete`, or a soft `cancel`.
    public enum Completion: Sendable { case none, complete, cancelWithoutSwitch }

    /// Whether (and how) the body should finish now; meaningful once the job is ready.
    public var completion: Completion {
        state.withLock { s in
            if s.cancelRequested && !s.forceCancel { return .cancelWithoutSwitch }
            return s.completeRequested ? .complete : .none
        }
    }

    /// Waits while the job is paused (user or drain); throws `cancelled` if a (hard) cancel came.
    public func checkpoint() async throws(BlockJobError) {
        while true {
            let outcome = state.withLock { s -> Bool? in
                if s.cancelRequested && s.forceCancel { return nil }
                let paused = s.userPauses > 0 || s.drainPauses > 0
                if paused {
                    if s.status == .running { set(&s, .paused) } else if s.status == .ready { set(&s, .standby) }
                } else {
                    if s.status == .paused { set(&s, .running) } else if s.status == .standby { set(&s, .ready) }
                }
                return paused
            }
            resumeWaiters()
            guard let paused = outcome else { throw .cancelled }
            if !paused { return }
            await idle(upTo: .milliseconds(5))
        }
    }

    /// Runs one I/O of the body, counted as in flight so a drained section can wait for it. Unless
    /// `bypassingPause` (I/O inside the body's own drained section), waits first while paused.
    public func io<T>(bypassingPause: Bool = false, _ operation: () async throws(BlockError) -> T) async throws(BlockJobError) -> T {
        while true {
            let admitted = state.withLock { s -> Bool in
                guard bypassingPause || (s.userPauses == 0 && s.drainPauses == 0) else { return false }
                s.ioInFlight += 1
                return true
            }
            if admitted { break }
            try await checkpoint()
        }
        defer {
            let idle = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.ioInFlight -= 1
                guard s.ioInFlight == 0 else { return [] }
                defer { s.idleWaiters.removeAll() }
                return s.idleWaiters
            }
            for waiter in idle { waiter.resume() }
        }
        do { return try await operation() } catch { throw .io(error) }
    }

    /// Sleeps as long as the speed limit needs for `bytes` more (a cancel or pause shortens it).
    public func rateLimit(_ bytes: UInt64) async {
        let wait = state.withLock { s -> Duration in
            guard s.speed > 0 else { return .zero }
            // Pay the previous units' debt, then book this one: the first unit goes at once.
            let now = ContinuousClock.now
            if s.nextAllowed < now { s.nextAllowed = now }
            let wait = s.nextAllowed - now
            let (high, low) = bytes.multipliedFullWidth(by: 1_000_000_000)
            let nanoseconds = high >= s.speed ? UInt64.max : s.speed.dividingFullWidth((high, low)).quotient
            s.nextAllowed += .nanoseconds(Int64(clamping: nanoseconds))
            return wait
        }
        var remaining = wait
        while remaining > .zero {
            let slice = min(remaining, .milliseconds(20))
            try? await Task.sleep(for: slice)
            remaining -= slice
            if state.withLock({ $0.cancelRequested || $0.speed == 0 }) { return }
        }
    }

    /// Adds `done` bytes to the progress.
    public func addProgress(_ done: UInt64) { state.withLock { $0.current += done; $0.total = max($0.total, $0.current) } }
    /// Sets the total to what is done plus `remaining`.
    public func setRemaining(_ remaining: UInt64) { state.withLock { $0.total = $0.current + remaining } }

    /// Marks the job ready (running → ready); a body calls it once its target has converged.
    public func setReady() {
        let changed = state.withLock { s -> Bool in
            guard s.status == .running else { return false }
            set(&s, .ready)
            return true
        }
        if changed { resumeWaiters() }
    }

    /// Whether the job has become ready (ready or standby).
    public var isReady: Bool { [.ready, .standby].contains(status) }

    /// Wakes a body waiting in ``idle(upTo:)`` (new work arrived).
    public func wake() { state.withLock { $0.wakeGeneration &+= 1 } }

    /// Waits until ``wake()`` or a verb, or at most `limit`.
    public func idle(upTo limit: Duration) async {
        let start = state.withLock { $0.wakeGeneration }
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline, state.withLock({ $0.wakeGeneration }) == start {
            try? await Task.sleep(for: .microseconds(500))
        }
    }

    // MARK: BlockDrainParent

    /// Pauses the job and returns when none of its I/O is in flight.
    public func drainedBegin() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { s -> Bool in
                s.drainPauses += 1
                s.wakeGeneration &+= 1
                if s.ioInFlight == 0 { return true }
                s.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// Ends one drained section. Throws `unbalancedDrain` without one.
    public func drainedEnd() throws(BlockError) {
        let ok = state.withLock { s -> Bool in
            guard s.drainPauses > 0 else { return false }
            s.drainPauses -= 1
            s.wakeGeneration &+= 1
            return true
        }
        if !ok { throw .unbalancedDrain }
    }

    // MARK: The life of the job

    private func runToEnd() async {
        do throws(BlockJobError) {
            try await body.run(self)
            try transition(to: .waiting, verb: nil, from: [.running, .ready, .standby, .paused])
            try transition(to: .pending, verb: nil, from: [.waiting])
            if !autoFinalize {
                await waitUntilFinalizeOrCancel()
                if state.withLock({ $0.cancelRequested }) { throw .cancelled }
            }
            try await body.commit(self)
            for node in body.nodes { node.removeParent(self) }
            try transition(to: .concluded, verb: nil, from: [.pending])
            if autoDismiss { try? transition(to: .null, verb: nil, from: [.concluded]) }
        } catch {
            try? transition(to: .aborting, verb: nil, from: Set(BlockJobStatus.allCases).subtracting([.concluded, .null, .aborting]))
            await body.abort(self)
            for node in body.nodes { node.removeParent(self) }
            finish(failure: error)
        }
    }

    private func waitUntilFinalizeOrCancel() async {
        while !state.withLock({ $0.finalizeRequested || $0.cancelRequested }) {
            await idle(upTo: .milliseconds(50))
        }
    }

    private func finish(failure: BlockJobError) {
        state.withLock { $0.failure = failure }
        try? transition(to: .concluded, verb: nil, from: [.aborting])
        if autoDismiss { try? transition(to: .null, verb: nil, from: [.concluded]) }
    }

    private func transition(to next: BlockJobStatus, verb: BlockJobVerb?, from allowed: Set<BlockJobStatus>) throws(BlockJobError) {
        let result: Result<Void, BlockJobError> = state.withLock { s in
            guard allowed.contains(s.status), s.status.successors.contains(next) else {
                return .failure(.verbNotAllowed(verb ?? .cancel, status: s.status))
            }
            set(&s, next)
            return .success(())
        }
        try result.get()
        resumeWaiters()
    }

    private func set(_ s: inout State, _ next: BlockJobStatus) {
        s.status = next
        s.history.append(next)
    }

    private func resumeWaiters() {
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            var ready: [CheckedContinuation<Void, Never>] = []
            s.waiters.removeAll { waiter in
                guard waiter.predicate(s.status) else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }
}
