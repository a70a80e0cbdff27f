/// A segment override that matters in 64-bit mode (CS, DS, ES, SS have base 0 there).
public enum SegmentOverride: UInt8, Sendable, Equatable {
    case none, fs, gs
}

/// A memory operand: `segment:[base + index * scale + displacement]`.
///
/// RIP-relative operands are resolved while decoding: `base` and `index` are nil and
/// `displacement` holds the absolute address (the address of the next instruction plus disp32).
public struct MemoryOperand: Sendable, Equatable {
    /// Base register (0 … 15), or nil.
    public var base: Int?
    /// Index register (0 … 15; never RSP), or nil.
    public var index: Int?
    /// 1, 2, 4 or 8.
    public var scale: Int
    /// Sign-extended displacement (or the absolute target of a RIP-relative operand).
    public var displacement: Int64
    /// FS or GS override, whose base is added.
    public var segment: SegmentOverride
    /// 4 when a 0x67 prefix truncates the effective address to 32 bits, else 8.
    public var addressSize: Int
    /// Whether this operand was RIP-relative (kept for disassembly and tests).
    public var ripRelative: Bool

    /// A memory operand; the defaults describe `[base]` with 64-bit addressing.
    public init(base: Int? = nil, index: Int? = nil, scale: Int = 1, displacement: Int64 = 0,
                segment: SegmentOverride = .none, addressSize: Int = 8, ripRelative: Bool = false) {
        self.base = base
        self.index = index
        self.scale = scale
        self.displacement = displacement
        self.segment = segment
        self.addressSize = addressSize
        self.ripRelative = ripRelative
    }
}

/// One operand of a decoded instruction.
public enum Operand: Sendable, Equatable {
    /// General-purpose register `index` accessed at `size` bytes (AL/AX/EAX/RAX …; with size 1
    /// and a REX prefix, 4 … 7 are SPL, BPL, SIL, DIL).
    case register(Int, size: Int)
    /// AH, CH, DH, BH: bits 8 … 15 of register 0 … 3 (only without a REX prefix).
    case highByte(Int)
    /// A memory location; the access size is the instruction's operand size unless the
    /// mnemonic says otherwise.
    case memory(MemoryOperand)
    /// An immediate, sign- or zero-extended to 64 bits as the encoding specifies. Branch targets
    /// are absolute addresses.
    case immediate(UInt64)
    /// XMM register 0 … 15.
    case xmm(Int)
    /// MMX register 0 … 7 (the low 64 bits of x87 physical register i).
    case mmx(Int)
}
