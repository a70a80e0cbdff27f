/// The operation whose result the lazy condition codes describe.
///
/// Instructions that set flags store (operation, size) in `StateSlot.ccOp` and their result and
/// operands in `ccDst`, `ccSrc`, `ccSrc2`; the flags are computed only when something reads them
/// (a Jcc, SETcc, PUSHF, …). The stored slot value is `rawValue << 2 | log2(size in bytes)`.
public enum ConditionCodeOp: UInt8, Sendable, CaseIterable {
    /// `ccSrc` holds the arithmetic flags themselves.
    case eflags = 0
    /// dst = a + src.
    case add
    /// dst = a + src + carry(src2).
    case adc
    /// dst = a - src.
    case sub
    /// dst = a - src - borrow(src2).
    case sbb
    /// AND/OR/XOR/TEST: CF = OF = 0.
    case logic
    /// dst = a + 1; src2 = the carry to keep.
    case inc
    /// dst = a - 1; src2 = the carry to keep.
    case dec
    /// src = value << (count - 1).
    case shl
    /// src = value >> (count - 1); src2 = the original value.
    case shr
    /// src = value >> (count - 1), arithmetic.
    case sar
    /// MUL/IMUL: src != 0 when the result overflowed (CF = OF).
    case mul

    /// The slot value for this operation at `size` bytes (1, 2, 4 or 8).
    @inlinable public func encoded(size: Int) -> UInt64 {
        UInt64(rawValue) << 2 | UInt64(size.trailingZeroBitCount & 3)
    }
}

/// Computing RFLAGS from the lazy condition codes, and evaluating x86 condition codes.
public enum LazyFlags {
    /// The arithmetic flags (CF PF AF ZF SF OF) described by the lazy state in `slots`.
    @inlinable public static func compute(_ slots: UnsafeMutablePointer<UInt64>) -> UInt64 {
        compute(op: slots[StateSlot.ccOp], dst: slots[StateSlot.ccDst], src: slots[StateSlot.ccSrc],
                src2: slots[StateSlot.ccSrc2])
    }

    /// The arithmetic flags for one encoded operation and its operands.
    @inlinable public static func compute(op encoded: UInt64, dst: UInt64, src: UInt64, src2: UInt64) -> UInt64 {
        let kind = ConditionCodeOp(rawValue: UInt8(truncatingIfNeeded: encoded >> 2)) ?? .eflags
        if kind == .eflags { return src & RFlags.arithmetic }
        let bits = UInt64(8) << (encoded & 3)
        let mask: UInt64 = bits == 64 ? ~0 : (1 << bits) - 1
        let sign: UInt64 = 1 << (bits - 1)
        let d = dst & mask
        let s = src & mask
        var cf = false, of = false, af: UInt64 = 0
        switch kind {
        case .eflags:
            return src & RFlags.arithmetic
        case .add:
            let a = (d &- s) & mask
            cf = d < s
            of = (~(a ^ s) & (a ^ d)) & sign != 0
            af = (a ^ s ^ d) & 0x10
        case .adc:
            let carry = src2 & 1
            let a = (d &- s &- carry) & mask
            cf = carry != 0 ? d <= a : d < a
            of = (~(a ^ s) & (a ^ d)) & sign != 0
            af = (a ^ s ^ d) & 0x10
        case .sub:
            let a = (d &+ s) & mask
            cf = a < s
            of = ((a ^ s) & (a ^ d)) & sign != 0
            af = (a ^ s ^ d) & 0x10
        case .sbb:
            let carry = src2 & 1
            let a = (d &+ s &+ carry) & mask
            cf = carry != 0 ? a <= s : a < s
            of = ((a ^ s) & (a ^ d)) & sign != 0
            af = (a ^ s ^ d) & 0x10
        case .logic:
            break
        case .inc:
            cf = src2 & 1 != 0
            of = d == sign
            af = (d ^ (d &- 1)) & 0x10
        case .dec:
            cf = src2 & 1 != 0
            of = d == sign &- 1
            af = (d ^ (d &+ 1)) & 0x10
        case .shl:
            cf = s & sign != 0
            of = ((d ^ s) & sign) != 0
        case .shr:
            cf = s & 1 != 0
            of = src2 & sign != 0
        case .sar:
            cf = s & 1 != 0
        case .mul:
            cf = s != 0
            of = cf
        }
        var flags: UInt64 = af
        if cf { flags |= RFlags.cf }
        if of { flags |= RFlags.of }
        if d == 0 { flags |= RFlags.zf }
        if d & sign != 0 { flags |= RFlags.sf }
        if (d & 0xFF).nonzeroBitCount & 1 == 0 { flags |= RFlags.pf }
        return flags
    }

    /// Whether x86 condition `cc` (0 = O … 15 = G, the low nibble of Jcc) holds for `flags`.
    @inlinable public static func holds(_ cc: UInt8, flags: UInt64) -> Bool {
        let result: Bool
        switch cc >> 1 {
        case 0: result = flags & RFlags.of != 0
        case 1: result = flags & RFlags.cf != 0
        case 2: result = flags & RFlags.zf != 0
        case 3: result = flags & (RFlags.cf | RFlags.zf) != 0
        case 4: result = flags & RFlags.sf != 0
        case 5: result = flags & RFlags.pf != 0
        case 6: result = (flags & RFlags.sf != 0) != (flags & RFlags.of != 0)
        default: result = flags & RFlags.zf != 0 || (flags & RFlags.sf != 0) != (flags & RFlags.of != 0)
        }
        return cc & 1 == 0 ? result : !result
    }

    /// Condition `cc` evaluated on the lazy state in `slots`, with fast paths for the common
    /// compare-and-branch pairs.
    @inlinable public static func condition(_ cc: UInt8, _ slots: UnsafeMutablePointer<UInt64>) -> Bool {
        let op = slots[StateSlot.ccOp]
        if op >> 2 == UInt64(ConditionCodeOp.sub.rawValue) {
            let bits = UInt64(8) << (op & 3)
            let mask: UInt64 = bits == 64 ? ~0 : (1 << bits) - 1
            let d = slots[StateSlot.ccDst] & mask
            let s = slots[StateSlot.ccSrc] & mask
            let a = (d &+ s) & mask
            switch cc {
            case 2: return a < s
            case 3: return a >= s
            case 4: return d == 0
            case 5: return d != 0
            case 6: return a <= s
            case 7: return a > s
            default: break
            }
        } else if op >> 2 != UInt64(ConditionCodeOp.eflags.rawValue) && cc >= 4 && cc <= 9 && cc != 6 && cc != 7 {
            // ZF and SF come from the result alone for every recorded operation.
            let bits = UInt64(8) << (op & 3)
            let mask: UInt64 = bits == 64 ? ~0 : (1 << bits) - 1
            let d = slots[StateSlot.ccDst] & mask
            switch cc {
            case 4: return d == 0
            case 5: return d != 0
            case 8: return d >> (bits - 1) != 0
            default: return d >> (bits - 1) == 0
            }
        }
        return holds(cc, flags: compute(slots))
    }
}
