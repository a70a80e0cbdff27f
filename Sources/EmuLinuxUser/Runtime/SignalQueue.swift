import Synchronization

/// A ``PendingSignalSet`` that several threads post to and take from (a thread's own signals,
/// or the process's), with its mask mirrored in an atomic word so that the check made after
/// every system call and at every block boundary takes no lock.
///
/// `Sendable`: the set is behind a `Mutex`; `summary` is an `Atomic` written only under it.
final class SignalQueue: Sendable {
    private let set = Mutex(PendingSignalSet())
    private let summary = Atomic<UInt64>(0)

    init() {}

    /// Bit n-1 set while signal n is pending here (lock-free).
    var mask: UInt64 { summary.load(ordering: .acquiring) }

    /// Adds an instance (see ``PendingSignalSet/add(_:)``). Returns false when a real-time
    /// signal was refused because the set is full (a merged standard signal is a success).
    @discardableResult
    func post(_ instance: QueuedSignal) -> Bool {
        set.withLock { set in
            let hadRoom = set.hasRoom
            set.add(instance)
            summary.store(set.mask, ordering: .releasing)
            return instance.signal < PendingSignalSet.firstRealTime || hadRoom
        }
    }

    /// Takes the oldest instance of `signal`, if any.
    func take(_ signal: Int32) -> QueuedSignal? {
        guard mask & PendingSignalSet.bit(signal) != 0 else { return nil }
        return set.withLock { set in
            defer { summary.store(set.mask, ordering: .releasing) }
            return set.take(signal)
        }
    }

    /// Removes every instance of `signal`.
    func discard(_ signal: Int32) {
        guard mask & PendingSignalSet.bit(signal) != 0 else { return }
        set.withLock { set in
            set.discard(signal)
            summary.store(set.mask, ordering: .releasing)
        }
    }

    /// Removes everything.
    func removeAll() {
        set.withLock { set in
            set.removeAll()
            summary.store(0, ordering: .releasing)
        }
    }

    /// Instances of `signal` pending here.
    func count(of signal: Int32) -> Int { set.withLock { $0.count(of: signal) } }

    /// Every instance, oldest first (for handing the set to a new program image).
    func drain() -> [QueuedSignal] {
        set.withLock { set in
            var all: [QueuedSignal] = []
            while let signal = set.next(in: ~0), let instance = set.take(signal) { all.append(instance) }
            summary.store(0, ordering: .releasing)
            return all
        }
    }
}
