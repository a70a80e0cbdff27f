import CEmuSystem
import Synchronization

/// The one global topology lock and the bookkeeping behind it: which regions changed, which
/// address spaces can see which regions, and the transaction depth.
///
/// Lock order: topology lock, then an address space's view lock. Nothing that runs guest
/// accesses (RAM copies, MMIO handlers) runs with either held.
enum Topology {
    struct Registration {
        weak var space: AddressSpace?
        /// Every region the last flattening reached (including disabled ones and alias targets).
        var visited: Set<ObjectIdentifier>
    }

    struct State {
        /// Open transactions: per kernel thread, the nesting depth and the changed regions
        /// whose rebuild is deferred to the end of the outermost transaction.
        var transactions: [Int32: (depth: Int, changed: Set<ObjectIdentifier>)] = [:]
        var nextSequence: UInt64 = 0
        var spaces: [ObjectIdentifier: Registration] = [:]
    }

    static let lock = Mutex(State())

    @inline(__always)
    static func withLock<R, E: Error>(_ body: (inout sending State) throws(E) -> sending R) throws(E) -> sending R {
        try lock.withLock(body)
    }

    /// Records a change to `region` and rebuilds now unless a transaction is open.
    /// Call with the lock held.
    static func changed(_ region: MemoryRegion, _ state: inout State) {
        // Only the calling thread's own transaction defers; other threads' transactions do
        // not delay this change, so a call that changes the topology returns with it visible.
        let me = emu_gettid()
        if state.transactions[me] != nil {
            state.transactions[me]?.changed.insert(ObjectIdentifier(region))
        } else {
            rebuild(&state, for: [ObjectIdentifier(region)])
        }
    }

    /// Opens (or nests) a transaction for the calling thread.
    static func beginTransaction() {
        withLock { state in
            state.transactions[emu_gettid(), default: (0, [])].depth += 1
        }
    }

    /// Closes the calling thread's innermost transaction; the outermost one rebuilds.
    static func endTransaction() {
        withLock { state in
            let me = emu_gettid()
            guard let open = state.transactions[me] else { return }
            if open.depth > 1 {
                state.transactions[me]?.depth -= 1
            } else {
                state.transactions[me] = nil
                if !open.changed.isEmpty { rebuild(&state, for: open.changed) }
            }
        }
    }

    /// Rebuilds the views of every live address space that saw a changed region.
    static func rebuild(_ state: inout State, for changed: Set<ObjectIdentifier>) {
        for (id, registration) in state.spaces {
            guard let space = registration.space else {
                state.spaces[id] = nil
                continue
            }
            guard !registration.visited.isDisjoint(with: changed) else { continue }
            let visited = space.rebuildLocked()
            state.spaces[id]?.visited = visited
        }
    }

    /// Registers a new address space and builds its first view.
    static func register(_ space: AddressSpace) {
        withLock { state in
            let visited = space.rebuildLocked()
            state.spaces[ObjectIdentifier(space)] = Registration(space: space, visited: visited)
        }
    }
}
