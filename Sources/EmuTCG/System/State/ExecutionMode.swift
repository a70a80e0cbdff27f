/// The operating mode of the CPU as far as instruction decoding and translation depend on it,
/// packed into one word so it can be part of the block-cache key.
///
/// Bits 2:0 are the ``Kind``; the other bits are the state a translated block bakes in:
/// CPL (4:3), a 32-bit stack (5, SS.B), flat segments (6: CS, DS, ES and SS bases are all 0, so
/// outside 64-bit mode the translator may skip adding them), CR0.TS (7), CR0.EM (8), CR0.MP (9),
/// CR4.OSFXSR (10) and RFLAGS.TF (11). Anything else (IF, IOPL, paging, the TLB) is checked
/// when the block runs. Real mode is a kind like the others, so adding it changes no key.
public struct ExecutionMode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    /// A mode word from its packed bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The decoding mode (SDM Vol. 1 §3.1, Vol. 3A §2.2).
    public enum Kind: UInt32, Sendable, CaseIterable {
        /// Real-address mode (CR0.PE clear): 16-bit, segments are selector × 16.
        case real = 0
        /// Protected mode with a 16-bit code segment (CS.D clear), not in IA-32e mode.
        case protected16 = 1
        /// Protected mode with a 32-bit code segment (CS.D set), not in IA-32e mode.
        case protected32 = 2
        /// IA-32e mode, compatibility mode with a 16-bit code segment.
        case compatibility16 = 3
        /// IA-32e mode, compatibility mode with a 32-bit code segment.
        case compatibility32 = 4
        /// IA-32e mode, 64-bit mode (CS.L set).
        case long64 = 5

        /// The default operand and address size in bytes (2, 4; 8 means 64-bit addressing with
        /// 32-bit default operands).
        public var defaultAddressSize: Int {
            switch self {
            case .real, .protected16, .compatibility16: return 2
            case .protected32, .compatibility32: return 4
            case .long64: return 8
            }
        }
    }

    static let cplShift: UInt32 = 3
    public static let stack32: UInt32 = 1 << 5
    public static let flatSegments: UInt32 = 1 << 6
    public static let taskSwitched: UInt32 = 1 << 7
    public static let emulateFPU: UInt32 = 1 << 8
    public static let monitorFPU: UInt32 = 1 << 9
    public static let osfxsr: UInt32 = 1 << 10
    public static let trapFlag: UInt32 = 1 << 11

    /// The mode kind.
    public var kind: Kind { Kind(rawValue: rawValue & 7) ?? .real }
    /// The current privilege level.
    public var cpl: UInt8 { UInt8(truncatingIfNeeded: rawValue >> Self.cplShift) & 3 }
    /// Whether `flag` (one of the static bit masks) is set.
    public func has(_ flag: UInt32) -> Bool { rawValue & flag != 0 }

    /// Packs the fields.
    public init(kind: Kind, cpl: UInt8, flags: UInt32) {
        rawValue = kind.rawValue | UInt32(cpl & 3) << Self.cplShift | (flags & ~0x1F)
    }

    /// The kind for CR0.PE, EFER.LMA and CS.L/CS.D (SDM Vol. 3A §2.2, §5.2.1).
    public static func kind(protectionEnabled: Bool, longModeActive: Bool, csLong: Bool, csDefaultBig: Bool) -> Kind {
        guard protectionEnabled else { return .real }
        if longModeActive {
            if csLong { return .long64 }
            return csDefaultBig ? .compatibility32 : .compatibility16
        }
        return csDefaultBig ? .protected32 : .protected16
    }

    /// The kind, CPL and set flags, for logs.
    public var description: String {
        "\(kind) cpl\(cpl)" + (has(Self.stack32) ? " ss32" : "") + (has(Self.flatSegments) ? " flat" : "")
            + (has(Self.taskSwitched) ? " ts" : "") + (has(Self.emulateFPU) ? " em" : "")
            + (has(Self.monitorFPU) ? " mp" : "") + (has(Self.osfxsr) ? " osfxsr" : "")
            + (has(Self.trapFlag) ? " tf" : "")
    }
}

/// The key of a translated block in system mode: where it starts and the mode it was
/// translated for. `linearPC` is CS.base + RIP; `csBase` is part of the key because the code a
/// block embeds (the RIP a CALL pushes, RIP-relative operands) is `linearPC - csBase`, so two
/// CS bases reaching the same linear address need two blocks (real mode; in 64-bit and flat
/// protected mode it is 0). The executor still checks a block against the physical page(s)
/// its bytes came from before running it.
public struct TranslationKey: Hashable, Sendable {
    public var linearPC: UInt64
    public var csBase: UInt32
    public var mode: ExecutionMode
    /// A key from its three parts.
    public init(linearPC: UInt64, csBase: UInt32, mode: ExecutionMode) {
        self.linearPC = linearPC
        self.csBase = csBase
        self.mode = mode
    }
}
