import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A source of time for timers and device models, in nanoseconds.
///
/// Timers of an ``EventLoop`` fire when their clock reaches their deadline. A clock tells the loop
/// when (in host monotonic time) that will be, and announces changes of pace (pause, resume,
/// step) so armed timers are reprogrammed.
public protocol EmuClock: AnyObject, Sendable {
    /// The current time of this clock in nanoseconds. Never decreases.
    var now: UInt64 { get }

    /// The host monotonic time (``HostClock``'s `now`) at which this clock will reach
    /// `deadline`, or `nil` if it will not get there by itself (a paused clock).
    func hostTime(reaching deadline: UInt64) -> UInt64?

    /// Registers `observer`, called (on the thread that changed the clock) after any change of
    /// pace. Returns a token for ``removeObserver(_:)``.
    func addObserver(_ observer: @escaping @Sendable () -> Void) -> ClockObserverToken

    /// Unregisters an observer. Unknown tokens are ignored.
    func removeObserver(_ token: ClockObserverToken)
}

/// Identifies a clock observer registration.
public struct ClockObserverToken: Hashable, Sendable {
    let id: UInt64
}

/// The host's monotonic clock (`CLOCK_MONOTONIC`, the clock GLib's loop uses).
public final class HostClock: EmuClock {
    /// The process-wide instance.
    public static let shared = HostClock()

    private init() {}

    public var now: UInt64 { Self.monotonicNanoseconds() }

    public func hostTime(reaching deadline: UInt64) -> UInt64? { deadline }

    /// The host clock never changes pace: observers are never called.
    public func addObserver(_ observer: @escaping @Sendable () -> Void) -> ClockObserverToken {
        ClockObserverToken(id: 0)
    }

    public func removeObserver(_ token: ClockObserverToken) {}

    /// `CLOCK_MONOTONIC` in nanoseconds.
    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// A guest's virtual clock: it advances with host time while running, stands still while
/// paused, and can be stepped by hand, which makes timer-driven device models testable
/// deterministically.
///
/// A new clock starts at 0, paused unless `running` is set.
public final class VirtualClock: EmuClock {
    private struct State {
        var base: UInt64          // virtual time at `hostBase`, or the frozen time when paused
        var hostBase: UInt64
        var running: Bool
        var observers: [UInt64: @Sendable () -> Void] = [:]
        var nextToken: UInt64 = 1
    }

    private let state: Mutex<State>

    /// Creates a clock at `start` nanoseconds.
    public init(start: UInt64 = 0, running: Bool = false) {
        state = Mutex(State(base: start, hostBase: HostClock.monotonicNanoseconds(), running: running))
    }

    public var now: UInt64 {
        state.withLock { Self.now(of: $0, host: HostClock.monotonicNanoseconds()) }
    }

    private static func now(of state: State, host: UInt64) -> UInt64 {
        guard state.running else { return state.base }
        return state.base &+ (host &- state.hostBase)
    }

    /// Whether the clock advances with host time.
    public var isRunning: Bool { state.withLock { $0.running } }

    public func hostTime(reaching deadline: UInt64) -> UInt64? {
        state.withLock { state in
            let host = HostClock.monotonicNanoseconds()
            let now = Self.now(of: state, host: host)
            if deadline <= now { return host }
            guard state.running else { return nil }
            let (sum, overflow) = host.addingReportingOverflow(deadline - now)
            return overflow ? UInt64.max : sum
        }
    }

    /// Stops the clock at its current time.
    public func pause() {
        change { state, host in
            state.base = Self.now(of: state, host: host)
            state.running = false
        }
    }

    /// Lets the clock advance with host time from its current value.
    public func resume() {
        change { state, host in
            state.base = Self.now(of: state, host: host)
            state.hostBase = host
            state.running = true
        }
    }

    /// Advances the clock by `nanoseconds` at once (saturating at `UInt64.max`); timers whose
    /// deadline it passes become due. Works running or paused.
    public func step(by nanoseconds: UInt64) {
        change { state, host in
            let (sum, overflow) = Self.now(of: state, host: host).addingReportingOverflow(nanoseconds)
            state.base = overflow ? UInt64.max : sum
            state.hostBase = host
        }
    }

    /// Moves the clock forward to `time`; a time in the past is ignored (clocks never go back).
    public func advance(to time: UInt64) {
        change { state, host in
            state.base = max(Self.now(of: state, host: host), time)
            state.hostBase = host
        }
    }

    public func addObserver(_ observer: @escaping @Sendable () -> Void) -> ClockObserverToken {
        state.withLock { state in
            let token = state.nextToken
            state.nextToken += 1
            state.observers[token] = observer
            return ClockObserverToken(id: token)
        }
    }

    public func removeObserver(_ token: ClockObserverToken) {
        _ = state.withLock { $0.observers.removeValue(forKey: token.id) }
    }

    private func change(_ body: (inout State, UInt64) -> Void) {
        let observers = state.withLock { state in
            body(&state, HostClock.monotonicNanoseconds())
            return Array(state.observers.values)
        }
        // Outside the lock: observers read the clock.
        for observer in observers { observer() }
    }
}
