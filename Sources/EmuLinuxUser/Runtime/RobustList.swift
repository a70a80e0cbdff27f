import Atomics
import CEmuSystem
import EmuTCG

/// What Linux does with a dying thread's robust futex list (set_robust_list): every lock the
/// thread still holds (its futex word's owner id is the thread's) is marked FUTEX_OWNER_DIED and
/// one waiter is woken, so the next pthread_mutex_lock of a robust mutex returns EOWNERDEAD
/// instead of waiting forever.
///
/// The list lives in guest memory and is untrusted: every pointer is checked, the walk stops at
/// the head, at a bad pointer, or after `limit` entries (a loop in a hostile list ends there).
enum RobustList {
    static let ownerDied: UInt32 = 0x4000_0000
    static let waiters: UInt32 = 0x8000_0000
    static let tidMask: UInt32 = 0x3FFF_FFFF
    /// Linux's ROBUST_LIST_LIMIT.
    static let limit = 2048

    static func release(_ thread: GuestThread) {
        let (head, length) = thread.robustList
        guard head != 0, length == 24 else { return }
        let memory = thread.memory
        guard let raw = memory.read(head, count: 24) else { return }
        func word(_ bytes: [UInt8], _ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[i * 8 + $1]) << (8 * UInt64($1)) } }
        // struct robust_list_head { list.next; long futex_offset; list_op_pending; }
        let offset = Int64(bitPattern: word(raw, 1))
        let pending = word(raw, 2) & ~1
        let tid = UInt32(bitPattern: emu_gettid())
        var entry = word(raw, 0) & ~1
        var count = 0
        while entry != head && entry != 0 && count < limit {
            guard let next = memory.read(entry, count: 8) else { break }
            // The one being locked or unlocked right now is handled after the walk, as Linux does.
            if entry != pending { markDead(memory, entry: entry, offset: offset, tid: tid) }
            entry = word(next, 0) & ~1
            count += 1
        }
        if pending != 0 { markDead(memory, entry: pending, offset: offset, tid: tid) }
    }

    /// Marks the futex word of one list entry as owned by a dead thread, if `tid` owns it.
    static func markDead(_ memory: GuestAddressSpace, entry: UInt64, offset: Int64, tid: UInt32) {
        let address = entry &+ UInt64(bitPattern: offset)
        guard address & 3 == 0, let p = memory.hostPointer(address, length: 4, access: [.read, .write]) else { return }
        let futex = UnsafeAtomic<UInt32>(at: p.assumingMemoryBound(to: UnsafeAtomic<UInt32>.Storage.self))
        var old = futex.load(ordering: .acquiring)
        while old & tidMask == tid {
            // Keep the waiters bit, drop the owner, say it died.
            let (done, seen) = futex.weakCompareExchange(expected: old, desired: (old & waiters) | ownerDied,
                                                         ordering: .acquiringAndReleasing)
            if done {
                memory.didWrite(address, length: 4)
                if old & waiters != 0 {
                    _ = emu_raw_syscall(202, Int(bitPattern: p), 1 /* FUTEX_WAKE */, 1, 0, 0, 0)
                }
                return
            }
            old = seen
        }
    }
}
