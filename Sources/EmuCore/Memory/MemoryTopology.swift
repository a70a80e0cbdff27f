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
        /// Depth of the open transaction and the kernel thread that owns it (nil: none).
        var transactionDepth = 0
        var transactionOwner: Int32?
        var nextSequence: UInt64 = 0
        var changed: Set<ObjectIdentifier> = []
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
        // Only the transaction's own thread defers; any other thread's change must be visible
        // when its call returns, so it is applied now (and leaves the transaction's pending
        // set alone).
        if let owner = state.transactionOwner, owner == emu_gettid() {
            state.changed.insert(ObjectIdentifier(region))
        } else {
            rebuild(&state, for: [ObjectIdentifier(region)])
        }
    }

    /// Opens (or nests) a transaction for the calling thread. Returns false when another
    /// thread owns the open transaction; the caller then runs unbatched.
    static func beginTransaction() -> Bool {
        withLock { state in
            let me = emu_gettid()
            if let owner = state.transactionOwner, owner != me { return false }
            state.transactionOwner = me
            state.transactionDepth += 1
            return true
        }
    }

    static func endTransaction() {
        withLock { state in
            state.transactionDepth -= 1
            if state.transactionDepth == 0 {
                state.transactionOwner = nil
                commit(&state)
            }
        }
    }

    /// Rebuilds the views of every live address space that saw a changed region.
    static func commit(_ state: inout State) {
        guard !state.changed.isEmpty else { return }
        let changed = state.changed
        state.changed = []
        rebuild(&state, for: changed)
    }

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
