import Synchronization

/// Byte ranges held exclusively by async tasks: ``acquire(_:)`` waits while any held range
/// overlaps. Used to keep a read-modify-write of an aligned block from interleaving with other
/// writes to that block (``FileDriver`` with `O_DIRECT`).
final class BlockRangeLock: Sendable {
    private struct State {
        var held: [Range<UInt64>] = []
        /// Tasks parked until something is released; resumed with `false` to look again.
        var waiters: [CheckedContinuation<Bool, Never>] = []
    }
    private let state = Mutex(State())

    /// Waits until `range` overlaps no held range, then holds it.
    func acquire(_ range: Range<UInt64>) async {
        while true {
            let acquired = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let free = state.withLock { s -> Bool in
                    if s.held.contains(where: { $0.overlaps(range) }) {
                        s.waiters.append(continuation)
                        return false
                    }
                    s.held.append(range)
                    return true
                }
                if free { continuation.resume(returning: true) }
            }
            if acquired { return }
        }
    }

    /// Gives `range` back (exactly as acquired) and lets the parked tasks look again.
    func release(_ range: Range<UInt64>) {
        let waiters = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            if let index = s.held.firstIndex(of: range) { s.held.remove(at: index) }
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for waiter in waiters { waiter.resume(returning: false) }
    }
}
