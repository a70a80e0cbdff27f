import Atomics

/// LOCK-prefixed read-modify-writes done as host atomics on the guest's bytes (`base + address`
/// in the shared window), so threads of a guest running on several host threads see them as
/// indivisible. The guest access is checked first (a fault leaves memory untouched and reports
/// the exact PC) and code pages written are invalidated like any store. x86 allows a locked
/// access to be misaligned; the host (x86-64) executes a misaligned LOCK instruction atomically
/// too (a split lock), so no alignment is required here.
enum AtomicHelpers {
    /// Performs `operation` on `size` (1, 2, 4, 8) bytes at `address`; returns the old value,
    /// zero-extended. For `.compareExchange`, `operand` is the expected value and `replacement`
    /// the one stored on equality.
    static func readModifyWrite(_ m: GuestAddressSpace, _ operation: AtomicOperation, address: UInt64, size: Int,
                                operand: UInt64, replacement: UInt64, pc: UInt64) throws(GuestException) -> UInt64 {
        try m.check(address, size, PagePermissions.write.rawValue, pc: pc)
        try m.check(address, size, PagePermissions.read.rawValue, pc: pc)
        m.noteWrite(address, size)
        let p = m.base + Int(address)
        switch size {
        case 1: return UInt64(apply(UInt8.self, p, operation, UInt8(truncatingIfNeeded: operand), UInt8(truncatingIfNeeded: replacement)))
        case 2: return UInt64(apply(UInt16.self, p, operation, UInt16(truncatingIfNeeded: operand), UInt16(truncatingIfNeeded: replacement)))
        case 4: return UInt64(apply(UInt32.self, p, operation, UInt32(truncatingIfNeeded: operand), UInt32(truncatingIfNeeded: replacement)))
        default: return apply(UInt64.self, p, operation, operand, replacement)
        }
    }

    @inline(__always)
    static func apply<T: AtomicInteger & FixedWidthInteger & UnsignedInteger>(
        _: T.Type, _ p: UnsafeMutableRawPointer, _ operation: AtomicOperation, _ operand: T, _ replacement: T
    ) -> T where T.AtomicRepresentation.Value == T {
        let atomic = UnsafeAtomic<T>(at: p.assumingMemoryBound(to: T.AtomicRepresentation.self))
        switch operation {
        case .add: return atomic.loadThenWrappingIncrement(by: operand, ordering: .sequentiallyConsistent)
        case .and: return atomic.loadThenBitwiseAnd(with: operand, ordering: .sequentiallyConsistent)
        case .or: return atomic.loadThenBitwiseOr(with: operand, ordering: .sequentiallyConsistent)
        case .xor: return atomic.loadThenBitwiseXor(with: operand, ordering: .sequentiallyConsistent)
        case .exchange: return atomic.exchange(operand, ordering: .sequentiallyConsistent)
        case .compareExchange:
            return atomic.compareExchange(expected: operand, desired: replacement, ordering: .sequentiallyConsistent).original
        case .negate:
            var old = atomic.load(ordering: .relaxed)
            while true {
                let (done, seen) = atomic.weakCompareExchange(expected: old, desired: 0 &- old, ordering: .sequentiallyConsistent)
                if done { return old }
                old = seen
            }
        }
    }

    /// CMPXCHG16B: compares RDX:RAX with the 16 bytes at `address` (which must be 16-aligned,
    /// else #GP); on equality stores RCX:RBX and sets ZF, else loads them into RDX:RAX and
    /// clears ZF. One host 16-byte compare-exchange.
    static func compareExchange16(_ s: UnsafeMutablePointer<UInt64>, _ m: GuestAddressSpace, address: UInt64,
                                  pc: UInt64) throws(GuestException) {
        guard address & 15 == 0 else { throw .generalProtection(pc: pc) }
        try m.check(address, 16, PagePermissions.write.rawValue, pc: pc)
        try m.check(address, 16, PagePermissions.read.rawValue, pc: pc)
        m.noteWrite(address, 16)
        let atomic = UnsafeAtomic<DoubleWord>(at: (m.base + Int(address)).assumingMemoryBound(to: DoubleWord.AtomicRepresentation.self))
        let expected = DoubleWord(first: UInt(s[0]), second: UInt(s[2]))
        let desired = DoubleWord(first: UInt(s[3]), second: UInt(s[1]))
        let (exchanged, original) = atomic.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent)
        var f = LazyFlags.compute(s) & ~RFlags.zf
        if exchanged {
            f |= RFlags.zf
        } else {
            s[0] = UInt64(original.first); s[2] = UInt64(original.second)
        }
        s[StateSlot.ccOp] = ConditionCodeOp.eflags.encoded(size: 8)
        s[StateSlot.ccSrc] = f
    }

    /// A full fence (MFENCE): earlier stores are visible before later loads.
    static func fence() { atomicMemoryFence(ordering: .sequentiallyConsistent) }
}
