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
        var transactionDepth = 0
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
        state.changed.insert(ObjectIdentifier(region))
        commitIfIdle(&state)
    }

    /// Rebuilds the views of every live address space that saw a changed region.
    static func commitIfIdle(_ state: inout State) {
        guard state.transactionDepth == 0, !state.changed.isEmpty else { return }
        let changed = state.changed
        state.changed = []
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
