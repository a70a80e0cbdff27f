/// The guest x86-64 register file, laid out in one block of 64-bit slots at fixed offsets.
///
/// Generated code (the portable back end now, a host-code back end later) addresses guest state
/// as `base + slot * 8`, so the layout below is part of the IR contract: `StateSlot` names every
/// slot. The block is owned by this object and freed with it. Not `Sendable`: one vCPU thread
/// owns a `CPUState`.
public final class CPUState {
    /// The slots; `StateSlot.count` of them, zero-initialised.
    public let slots: UnsafeMutablePointer<UInt64>

    /// A CPU in 64-bit mode with every register zero, DF clear and MXCSR at its reset value.
    public init() {
        slots = UnsafeMutablePointer<UInt64>.allocate(capacity: StateSlot.count)
        slots.initialize(repeating: 0, count: StateSlot.count)
        slots[StateSlot.mxcsr] = 0x1F80
        slots[StateSlot.ccOp] = UInt64(ConditionCodeOp.eflags.rawValue)
        slots[StateSlot.fpuControl] = 0x037F
        slots[StateSlot.fpuEmpty] = 0xFF
    }

    deinit { slots.deallocate() }

    /// General-purpose register `index` (0 = RAX … 15 = R15).
    @inlinable public subscript(gpr index: Int) -> UInt64 {
        get { slots[index & 15] }
        set { slots[index & 15] = newValue }
    }

    /// The guest instruction pointer.
    @inlinable public var rip: UInt64 {
        get { slots[StateSlot.rip] }
        set { slots[StateSlot.rip] = newValue }
    }

    /// FS segment base (set by `arch_prctl(ARCH_SET_FS)` in user mode; TLS on Linux).
    @inlinable public var fsBase: UInt64 {
        get { slots[StateSlot.fsBase] }
        set { slots[StateSlot.fsBase] = newValue }
    }

    /// GS segment base.
    @inlinable public var gsBase: UInt64 {
        get { slots[StateSlot.gsBase] }
        set { slots[StateSlot.gsBase] = newValue }
    }

    /// RFLAGS as the guest would see it: the lazily kept arithmetic flags computed now, plus DF
    /// and the always-one bit 1.
    public var rflags: UInt64 {
        get {
            let arith = LazyFlags.compute(slots)
            let df: UInt64 = slots[StateSlot.df] != 0 ? RFlags.df : 0
            return arith | df | slots[StateSlot.otherFlags] | 0x2
        }
        set {
            slots[StateSlot.ccOp] = UInt64(ConditionCodeOp.eflags.rawValue)
            slots[StateSlot.ccSrc] = newValue & RFlags.arithmetic
            slots[StateSlot.df] = newValue & RFlags.df != 0 ? 1 : 0
            slots[StateSlot.otherFlags] = newValue & (RFlags.ac | RFlags.id)
        }
    }

    /// The low and high 64 bits of XMM register `index`.
    public func xmm(_ index: Int) -> (low: UInt64, high: UInt64) {
        (slots[StateSlot.xmm(index)], slots[StateSlot.xmm(index) + 1])
    }

    /// Sets XMM register `index`.
    public func setXMM(_ index: Int, low: UInt64, high: UInt64) {
        slots[StateSlot.xmm(index)] = low
        slots[StateSlot.xmm(index) + 1] = high
    }
}

/// Slot numbers of `CPUState.slots` (multiply by 8 for byte offsets).
public enum StateSlot {
    /// RAX … R15 are slots 0 … 15.
    public static let rip = 16
    /// Lazy condition codes: the operation that last set the flags (`ConditionCodeOp`).
    public static let ccOp = 17
    /// Lazy condition codes: that operation's result.
    public static let ccDst = 18
    /// Lazy condition codes: its second operand (or the flags themselves for `.eflags`).
    public static let ccSrc = 19
    /// Lazy condition codes: the carry in (ADC/SBB) or the carry to keep (INC/DEC).
    public static let ccSrc2 = 20
    /// The direction flag, 0 or 1.
    public static let df = 21
    public static let fsBase = 22
    public static let gsBase = 23
    public static let mxcsr = 24
    /// RFLAGS bits kept verbatim (AC, ID) for PUSHF/POPF.
    public static let otherFlags = 25
    /// x87 control word.
    public static let fpuControl = 26
    /// x87 stack top (0 … 7).
    public static let fpuTop = 27
    /// x87 status word without TOP (condition codes C0–C3 and exception bits).
    public static let fpuStatus = 28
    /// x87 empty-register mask: bit i set when physical register i is empty.
    public static let fpuEmpty = 29
    /// XMM0 starts here; each register takes two slots (low, high).
    public static let xmmBase = 32
    /// Slot of the low half of XMM `index`.
    @inlinable public static func xmm(_ index: Int) -> Int { xmmBase + (index & 15) * 2 }
    /// x87 physical register i (a Float80 in 16 bytes) is at slots x87Base + 2i.
    public static let x87Base = 64
    /// Number of slots.
    public static let count = 80
}

/// RFLAGS bit masks.
public enum RFlags {
    public static let cf: UInt64 = 1 << 0
    public static let pf: UInt64 = 1 << 2
    public static let af: UInt64 = 1 << 4
    public static let zf: UInt64 = 1 << 6
    public static let sf: UInt64 = 1 << 7
    public static let tf: UInt64 = 1 << 8
    public static let df: UInt64 = 1 << 10
    public static let of: UInt64 = 1 << 11
    public static let ac: UInt64 = 1 << 18
    public static let id: UInt64 = 1 << 21
    /// CF, PF, AF, ZF, SF, OF.
    public static let arithmetic: UInt64 = cf | pf | af | zf | sf | of
}
