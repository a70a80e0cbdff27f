/// One pending instance of a signal with the siginfo it will be delivered with.
struct QueuedSignal: Sendable, Equatable {
    /// The signal (1 … 64).
    var signal: Int32
    /// si_code: SI_USER (kill), SI_TKILL (tkill, tgkill), SI_QUEUE (sigqueue), …
    var code: Int32
    /// The 8 bytes at offset 16 of the siginfo: si_pid and si_uid (packed, pid low).
    var sender: UInt64
    /// The 8 bytes at offset 24 of the siginfo: si_value for sigqueue.
    var value: UInt64 = 0

    /// si_code values Linux uses for signals sent by processes.
    static let SI_USER: Int32 = 0, SI_QUEUE: Int32 = -1, SI_TKILL: Int32 = -6
}

/// A set of pending signals as Linux keeps one (per thread, and per process): a standard
/// signal (1 … 31) is pending at most once (a second one while it is pending is merged into the
/// first), a real-time signal (32 … 64) is queued once per instance, each with its own siginfo,
/// and instances of one signal are taken in the order they came. At most ``capacity`` instances
/// are held: a real-time signal beyond that is refused, as Linux refuses one beyond
/// RLIMIT_SIGPENDING.
struct PendingSignalSet: Sendable, Equatable {
    /// Bit n-1 is set while signal n has an instance here.
    private(set) var mask: UInt64 = 0
    /// The instances, oldest first.
    private var queue: [QueuedSignal] = []

    /// The most instances held at once.
    static let capacity = 1024
    /// The first real-time signal of the kernel (glibc reserves 32 and 33 for itself).
    static let firstRealTime: Int32 = 32

    /// Whether `signal` is a valid signal number (1 … 64).
    static func isValid(_ signal: Int32) -> Bool { signal >= 1 && signal <= Int32(GuestSignal.count) }

    static func bit(_ signal: Int32) -> UInt64 { 1 << UInt64(signal - 1) }

    /// Whether an instance of `signal` is here.
    func contains(_ signal: Int32) -> Bool { Self.isValid(signal) && mask & Self.bit(signal) != 0 }

    /// Instances of `signal` held (0 or 1 for a standard signal).
    func count(of signal: Int32) -> Int { queue.reduce(0) { $0 + ($1.signal == signal ? 1 : 0) } }

    var isEmpty: Bool { mask == 0 }

    /// Adds an instance. Returns false when it was not added: a standard signal already
    /// pending (merged, which is not an error), or a real-time signal with the set full.
    @discardableResult
    mutating func add(_ instance: QueuedSignal) -> Bool {
        guard Self.isValid(instance.signal) else { return false }
        let bit = Self.bit(instance.signal)
        if instance.signal < Self.firstRealTime {
            if mask & bit != 0 { return false }
        } else if queue.count >= Self.capacity {
            return false
        }
        queue.append(instance)
        mask |= bit
        return true
    }

    /// Whether a real-time signal could be queued now (the set is not full).
    var hasRoom: Bool { queue.count < Self.capacity }

    /// Removes and returns the oldest instance of `signal`, if any.
    mutating func take(_ signal: Int32) -> QueuedSignal? {
        guard contains(signal), let index = queue.firstIndex(where: { $0.signal == signal }) else { return nil }
        let instance = queue.remove(at: index)
        if !queue.contains(where: { $0.signal == signal }) { mask &= ~Self.bit(signal) }
        return instance
    }

    /// Removes every instance of `signal`.
    mutating func discard(_ signal: Int32) {
        guard contains(signal) else { return }
        queue.removeAll { $0.signal == signal }
        mask &= ~Self.bit(signal)
    }

    /// Removes everything.
    mutating func removeAll() {
        queue.removeAll()
        mask = 0
    }

    /// The lowest-numbered signal in `allowed` with an instance here, as Linux picks the next
    /// signal to deliver (synchronous fault signals first: SIGSEGV, SIGBUS, SIGILL, SIGTRAP,
    /// SIGFPE, SIGSYS).
    func next(in allowed: UInt64) -> Int32? {
        Self.next(in: mask & allowed)
    }

    static let synchronousMask: UInt64 = [11, 7, 4, 5, 8, 31].reduce(0) { $0 | PendingSignalSet.bit(Int32($1)) }

    /// The signal Linux takes first from the set bits `ready`.
    static func next(in ready: UInt64) -> Int32? {
        guard ready != 0 else { return nil }
        let synchronous = ready & synchronousMask
        let pick = synchronous != 0 ? synchronous : ready
        return Int32(pick.trailingZeroBitCount + 1)
    }
}
