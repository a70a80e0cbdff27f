import Synchronization

/// A one-shot timer of an ``EventLoop`` on an ``EmuClock``: when armed and the clock reaches the
/// deadline, the handler runs once on the loop's thread. Re-arm it from the handler for periodic
/// work. Timers are internal work: drained sections don't hold them back.
///
/// Due timers of one clock on one loop run in deadline order (ties in arming order).
public final class LoopTimer: Sendable {
    /// The clock the deadline is measured on.
    public let clock: any EmuClock
    let handler: @Sendable () -> Void
    private weak let list: TimerList?
    let id: UInt64

    init(list: TimerList, id: UInt64, handler: @escaping @Sendable () -> Void) {
        self.clock = list.clock
        self.list = list
        self.id = id
        self.handler = handler
    }

    /// Arms (or re-arms) the timer to fire when the clock reaches `deadline` nanoseconds.
    /// A deadline already passed fires at the next iteration. Callable from any thread.
    public func arm(at deadline: UInt64) { list?.arm(self, at: deadline) }

    /// Arms the timer `delay` nanoseconds from the clock's current time (saturating).
    public func arm(after delay: UInt64) {
        let (sum, overflow) = clock.now.addingReportingOverflow(delay)
        arm(at: overflow ? UInt64.max : sum)
    }

    /// Disarms the timer; once this returns on the loop's thread, the handler won't run for the
    /// previous arming. Idempotent.
    public func cancel() { list?.cancel(self) }

    /// The deadline if armed.
    public var deadline: UInt64? { list?.deadline(of: self) }

    /// Whether the timer is armed.
    public var isArmed: Bool { deadline != nil }

    deinit { list?.cancel(self) }
}

extension EventLoop {
    /// Creates a disarmed timer on `clock` whose `handler` runs on this loop's thread.
    public func makeTimer(on clock: some EmuClock,
                          _ handler: @escaping @Sendable () -> Void) -> LoopTimer
    {
        timerList(for: clock).makeTimer(handler)
    }
}

/// The armed timers of one clock on one loop, dispatched by one GLib source whose ready time is
/// the host time of the earliest deadline.
final class TimerList: Sendable, SourceDispatchTarget {
    let clock: any EmuClock
    let source: GLibSource
    private let state = Mutex<State>(State())
    private let observation = Mutex<ClockObserverToken?>(nil)

    private struct State {
        var armed: [(deadline: UInt64, sequence: UInt64, timer: LoopTimer)] = []
        var nextID: UInt64 = 1
        var nextSequence: UInt64 = 0
    }

    init(clock: any EmuClock, loopName: String) {
        self.clock = clock
        self.source = GLibSource(name: "\(loopName)/timers")
    }

    func attach(to context: OpaquePointer) {
        source.attach(to: context, target: self)
        let token = clock.addObserver { [weak self] in
            guard let self else { return }
            self.state.withLock { self.reprogram($0) }
        }
        observation.withLock { $0 = token }
    }

    deinit {
        if let token = observation.withLock({ $0 }) { clock.removeObserver(token) }
    }

    func makeTimer(_ handler: @escaping @Sendable () -> Void) -> LoopTimer {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        return LoopTimer(list: self, id: id, handler: handler)
    }

    func arm(_ timer: LoopTimer, at deadline: UInt64) {
        state.withLock { state in
            state.armed.removeAll { $0.timer.id == timer.id }
            state.armed.append((deadline, state.nextSequence, timer))
            state.nextSequence += 1
            reprogram(state)
        }
    }

    func cancel(_ timer: LoopTimer) {
        state.withLock { state in
            state.armed.removeAll { $0.timer.id == timer.id }
            reprogram(state)
        }
    }

    func deadline(of timer: LoopTimer) -> UInt64? {
        state.withLock { state in state.armed.first { $0.timer.id == timer.id }?.deadline }
    }

    /// Sets the source's ready time to the earliest deadline. Called with the state locked, so
    /// arming and dispatching are ordered by the lock and no arming is lost.
    private func reprogram(_ state: State) {
        guard let earliest = state.armed.map(\.deadline).min(),
              let host = clock.hostTime(reaching: earliest) else {
            source.clearReady()
            return
        }
        let (micros, remainder) = host.quotientAndRemainder(dividingBy: 1000)
        let roundedUp = remainder == 0 ? micros : micros + 1
        source.setReady(atMonotonicMicros: Int64(clamping: roundedUp))
    }

    func dispatchSource() {
        // Run every due timer, earliest first; each handler may arm or cancel timers.
        while let timer = takeEarliestDue() { timer.handler() }
        state.withLock { reprogram($0) }
    }

    private func takeEarliestDue() -> LoopTimer? {
        state.withLock { state in
            let now = clock.now
            var best: Int?
            for (index, entry) in state.armed.enumerated() where entry.deadline <= now {
                if let b = best, (state.armed[b].deadline, state.armed[b].sequence)
                    <= (entry.deadline, entry.sequence) { continue }
                best = index
            }
            guard let best else { return nil }
            return state.armed.remove(at: best).timer
        }
    }
}
