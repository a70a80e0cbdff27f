/// An x86-64 general-purpose register of the host, numbered as in the encoding (RAX = 0 …
/// R15 = 15).
public enum HostRegister: UInt8, Sendable, CaseIterable {
    case rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15

    /// The low three bits that go into ModRM or SIB.
    var low: UInt8 { rawValue & 7 }
    /// Whether the register needs a REX extension bit.
    var extended: Bool { rawValue >= 8 }
}

/// An x86 condition code (the low nibble of Jcc, SETcc, CMOVcc).
public enum HostCondition: UInt8, Sendable, CaseIterable {
    case overflow, notOverflow, below, aboveOrEqual, equal, notEqual, belowOrEqual, above
    case sign, notSign, parity, notParity, less, greaterOrEqual, lessOrEqual, greater

    /// The opposite condition.
    public var inverted: HostCondition { HostCondition(rawValue: rawValue ^ 1) ?? self }
}

/// A memory operand: `[base + index * scale + displacement]`. Without a base the address is
/// absolute (32-bit displacement, sign-extended).
public struct HostMemory: Sendable, Equatable {
    public var base: HostRegister?
    public var index: HostRegister?
    /// 1, 2, 4 or 8.
    public var scale: UInt8
    public var displacement: Int32

    /// `[base + displacement]`.
    public init(_ base: HostRegister, _ displacement: Int32 = 0) {
        self.base = base
        index = nil
        scale = 1
        self.displacement = displacement
    }

    /// `[base + index * scale + displacement]`; `index` must not be RSP.
    public init(base: HostRegister?, index: HostRegister?, scale: UInt8 = 1, displacement: Int32 = 0) {
        self.base = base
        self.index = index
        self.scale = scale
        self.displacement = displacement
    }
}

/// The eight classic two-operand ALU operations, numbered as their ModRM `/digit`.
public enum HostALU: UInt8, Sendable, CaseIterable {
    case add, or, adc, sbb, and, sub, xor, cmp
}

/// Shift and rotate operations, numbered as their ModRM `/digit`.
public enum HostShift: UInt8, Sendable, CaseIterable {
    case rol = 0, ror = 1, shl = 4, shr = 5, sar = 7
}
