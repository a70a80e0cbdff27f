/// Legacy and REX prefixes seen before an opcode.
public struct Prefixes: Sendable, Equatable {
    public var lock = false
    /// F3 (REP/REPE; also a mandatory SSE prefix).
    public var rep = false
    /// F2 (REPNE; also a mandatory SSE prefix).
    public var repne = false
    /// 66.
    public var operandSizeOverride = false
    /// 67.
    public var addressSizeOverride = false
    public var segment: SegmentOverride = .none
    /// The REX byte (0x40 … 0x4F) or 0.
    public var rex: UInt8 = 0

    /// No prefixes.
    public init() {}
}

/// The prefix that selects among the forms of a 0F, 0F 38 or 0F 3A opcode: F3 or F2 (whichever
/// came last) takes precedence over 66.
enum MandatoryPrefix {
    case none, operandSize, rep, repne
}

extension Prefixes {
    /// The column of an opcode table these prefixes select.
    var mandatory: MandatoryPrefix {
        if rep { return .rep }
        if repne { return .repne }
        return operandSizeOverride ? .operandSize : .none
    }
}

extension DecodeCursor {
    /// Reads legacy prefixes and a REX prefix; returns the first opcode byte after them.
    mutating func readPrefixes() throws(DecodeError) -> UInt8 {
        var op: UInt8
        prefixLoop: while true {
            op = try byte()
            switch op {
            case 0xF0: prefixes.lock = true
            case 0xF2: prefixes.repne = true; prefixes.rep = false
            case 0xF3: prefixes.rep = true; prefixes.repne = false
            case 0x66: prefixes.operandSizeOverride = true
            case 0x67: prefixes.addressSizeOverride = true
            case 0x64: prefixes.segment = .fs
            case 0x65: prefixes.segment = .gs
            case 0x26, 0x2E, 0x36, 0x3E: break
            default: break prefixLoop
            }
            prefixes.rex = 0 // a REX before a legacy prefix is ignored
        }
        if rexAllowed && op & 0xF0 == 0x40 {
            prefixes.rex = op
            op = try byte()
        }
        return op
    }

    /// Whether 40–4F are REX prefixes.
    var rexAllowed: Bool {
        switch mode {
        case .long64: return true
        }
    }

    var rexW: Bool { prefixes.rex & 8 != 0 }
    var rexR: Int { prefixes.rex & 4 != 0 ? 8 : 0 }
    var rexX: Int { prefixes.rex & 2 != 0 ? 8 : 0 }
    var rexB: Int { prefixes.rex & 1 != 0 ? 8 : 0 }

    /// The operand size of ordinary instructions: REX.W, 66 and the mode's default.
    var operandSize: Int {
        switch mode {
        case .long64: return rexW ? 8 : (prefixes.operandSizeOverride ? 2 : 4)
        }
    }

    /// The operand size of instructions that default to the stack width (PUSH, POP, PUSHF, …).
    var stackSize: Int {
        switch mode {
        case .long64: return prefixes.operandSizeOverride && !rexW ? 2 : 8
        }
    }

    /// The operand size of IN, OUT, INS and OUTS with a word-or-dword opcode: 2 with 66, else 4.
    var portSize: Int { prefixes.operandSizeOverride ? 2 : 4 }

    /// The effective-address size: the mode's, or the other one with a 67 prefix.
    var addressSize: Int {
        switch mode {
        case .long64: return prefixes.addressSizeOverride ? 4 : 8
        }
    }
}
