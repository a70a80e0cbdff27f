import Synchronization

/// Counts operations in progress and lets a task wait until none is: a format driver counts the
/// data I/O it does outside its metadata lock, and waits for it before a cluster that I/O may
/// touch is freed for reuse.
final class InFlightCounter: Sendable {
    private let state = Mutex<(count: Int, waiters: [CheckedContinuation<Void, Never>])>((0, []))

    /// One more operation in progress.
    func enter() { state.withLock { $0.count += 1 } }

    /// One operation finished; wakes the waiters when none is left.
    func leave() {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            state.count -= 1
            guard state.count == 0 else { return [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when no operation is in progress (at once if none is).
    func waitIdle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state in
                if state.count == 0 { return true }
                state.waiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }
}
