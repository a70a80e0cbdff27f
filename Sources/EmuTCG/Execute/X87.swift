#if canImport(Glibc)
import Glibc
#endif

/// The x87 floating-point unit: an 8-register stack of 80-bit values (Swift's `Float80`, the
/// host's own format) in state slots, with the control word's rounding for integer stores and
/// FRNDINT. Precision control and exception flags are not modelled (results are always
/// extended precision, as glibc's default control word asks). Unimplemented forms are #UD.
enum X87 {
    static let c0: UInt64 = 1 << 8, c1: UInt64 = 1 << 9, c2: UInt64 = 1 << 10, c3: UInt64 = 1 << 14

    @inline(__always) static func physical(_ s: UnsafeMutablePointer<UInt64>, _ i: Int) -> Int {
        (Int(s[StateSlot.fpuTop]) + i) & 7
    }
    @inline(__always) static func pointer(_ s: UnsafeMutablePointer<UInt64>, _ phys: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(s + StateSlot.x87Base + 2 * phys)
    }
    static func st(_ s: UnsafeMutablePointer<UInt64>, _ i: Int) -> Float80 {
        pointer(s, physical(s, i)).loadUnaligned(as: Float80.self)
    }
    static func setST(_ s: UnsafeMutablePointer<UInt64>, _ i: Int, _ v: Float80) {
        let phys = physical(s, i)
        pointer(s, phys).storeBytes(of: v, as: Float80.self)
        s[StateSlot.fpuEmpty] &= ~(UInt64(1) << UInt64(phys))
    }
    static func isEmpty(_ s: UnsafeMutablePointer<UInt64>, _ i: Int) -> Bool {
        s[StateSlot.fpuEmpty] & (1 << UInt64(physical(s, i))) != 0
    }
    /// Pushes `v`. Onto a register that is not empty (stack overflow, e.g. after MMX code
    /// without EMMS) the masked #IS loads the indefinite QNaN instead and sets SF and IE (C1,
    /// which the CPU sets too, is not modelled, like the other instructions' C1).
    static func push(_ s: UnsafeMutablePointer<UInt64>, _ v: Float80) {
        s[StateSlot.fpuTop] = (s[StateSlot.fpuTop] &- 1) & 7
        if !isEmpty(s, 0) {
            s[StateSlot.fpuStatus] |= 0x41
            setST(s, 0, indefinite)
            return
        }
        setST(s, 0, v)
    }
    static func pop(_ s: UnsafeMutablePointer<UInt64>) {
        s[StateSlot.fpuEmpty] |= 1 << UInt64(physical(s, 0))
        s[StateSlot.fpuTop] = (s[StateSlot.fpuTop] &+ 1) & 7
    }
    static func setConditions(_ s: UnsafeMutablePointer<UInt64>, _ bits: UInt64) {
        s[StateSlot.fpuStatus] = (s[StateSlot.fpuStatus] & ~(c0 | c1 | c2 | c3)) | bits
    }
    /// The status word as FNSTSW reports it (TOP in bits 11–13).
    static func statusWord(_ s: UnsafeMutablePointer<UInt64>) -> UInt64 {
        (s[StateSlot.fpuStatus] & ~0x3800) | (s[StateSlot.fpuTop] & 7) << 11
    }

    static func loadFloat80(_ m: GuestAddressSpace, _ a: UInt64, pc: UInt64) throws(GuestException) -> Float80 {
        let lo = try m.load(a, size: 8, pc: pc)
        let hi = try m.load(a &+ 8, size: 2, pc: pc)
        var v = Float80(0)
        withUnsafeMutableBytes(of: &v) { raw in
            raw.storeBytes(of: lo, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: UInt16(truncatingIfNeeded: hi), toByteOffset: 8, as: UInt16.self)
        }
        return v
    }
    static func storeFloat80(_ m: GuestAddressSpace, _ a: UInt64, _ v: Float80, pc: UInt64) throws(GuestException) {
        let (lo, hi) = withUnsafeBytes(of: v) { ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt16.self)) }
        try m.check(a, 10, 2, pc: pc)
        try m.store(a, lo, size: 8, pc: pc)
        try m.store(a &+ 8, UInt64(hi), size: 2, pc: pc)
    }

    static func rounded(_ v: Float80, _ s: UnsafeMutablePointer<UInt64>) -> Float80 {
        switch (s[StateSlot.fpuControl] >> 10) & 3 {
        case 0: return v.rounded(.toNearestOrEven)
        case 1: return v.rounded(.down)
        case 2: return v.rounded(.up)
        default: return v.rounded(.towardZero)
        }
    }

    /// FIST/FISTP/FISTTP: out of range or NaN gives the integer indefinite value.
    static func toInteger(_ v: Float80, bytes: Int) -> UInt64 {
        let bits = bytes * 8
        let limit = Float80(sign: .plus, exponent: bits - 1, significand: 1)
        guard !v.isNaN, v >= -limit, v < limit else { return UInt64(1) << UInt64(bits - 1) }
        return UInt64(bitPattern: Int64(v)) & (bits == 64 ? ~0 : (UInt64(1) << UInt64(bits)) - 1)
    }

    static func arithmetic(_ op: Int, _ a: Float80, _ b: Float80) -> Float80 {
        switch op {
        case 0: return a + b
        case 1: return a * b
        case 4: return a - b
        case 5: return b - a
        case 6: return a / b
        default: return b / a
        }
    }

    static func compareConditions(_ a: Float80, _ b: Float80) -> UInt64 {
        if a.isNaN || b.isNaN { return c3 | c2 | c0 }
        if a < b { return c0 }
        if a == b { return c3 }
        return 0
    }

    static func compareFlags(_ s: UnsafeMutablePointer<UInt64>, _ a: Float80, _ b: Float80) {
        let f: UInt64
        if a.isNaN || b.isNaN { f = RFlags.zf | RFlags.pf | RFlags.cf }
        else if a < b { f = RFlags.cf }
        else if a == b { f = RFlags.zf }
        else { f = 0 }
        s[StateSlot.ccOp] = ConditionCodeOp.eflags.encoded(size: 8)
        s[StateSlot.ccSrc] = f
    }

    static func examine(_ s: UnsafeMutablePointer<UInt64>) -> UInt64 {
        let v = st(s, 0)
        let sign: UInt64 = v.sign == .minus ? c1 : 0
        if isEmpty(s, 0) { return c3 | c0 | sign }
        if v.isNaN { return c0 | sign }
        if v.isInfinite { return c2 | c0 | sign }
        if v.isZero { return c3 | sign }
        if v.isSubnormal { return c3 | c2 | sign }
        return c2 | sign
    }

    static func loadMemoryOperand(_ m: GuestAddressSpace, _ opcode: UInt8, _ a: UInt64, pc: UInt64) throws(GuestException) -> Float80 {
        switch opcode {
        case 0xD8: return Float80(Float(bitPattern: UInt32(truncatingIfNeeded: try m.load(a, size: 4, pc: pc))))
        case 0xDC: return Float80(Double(bitPattern: try m.load(a, size: 8, pc: pc)))
        case 0xDA: return Float80(Int32(truncatingIfNeeded: try m.load(a, size: 4, pc: pc)))
        default: return Float80(Int16(truncatingIfNeeded: try m.load(a, size: 2, pc: pc)))
        }
    }

    static func tagWord(_ s: UnsafeMutablePointer<UInt64>) -> UInt64 {
        var tags: UInt64 = 0
        for phys in 0..<8 {
            let tag: UInt64
            if s[StateSlot.fpuEmpty] & (1 << UInt64(phys)) != 0 { tag = 3 }
            else {
                let v = pointer(s, phys).loadUnaligned(as: Float80.self)
                tag = v.isZero ? 1 : (v.isNaN || v.isInfinite || v.isSubnormal ? 2 : 0)
            }
            tags |= tag << UInt64(2 * phys)
        }
        return tags
    }

    static func execute(_ s: UnsafeMutablePointer<UInt64>, _ m: GuestAddressSpace, opcode: UInt8, modrm: UInt8,
                        address a: UInt64, pc: UInt64) throws(GuestException) {
        let reg = Int((modrm >> 3) & 7)
        let i = Int(modrm & 7)
        let isRegister = modrm >= 0xC0
        let ud = GuestException.invalidOpcode(pc: pc)
        if !isRegister {
            switch (opcode, reg) {
            case (0xD8, _), (0xDC, _), (0xDA, _), (0xDE, _):
                let v = try loadMemoryOperand(m, opcode, a, pc: pc)
                if reg == 2 || reg == 3 {
                    setConditions(s, compareConditions(st(s, 0), v))
                    if reg == 3 { pop(s) }
                } else {
                    setST(s, 0, arithmetic(reg, st(s, 0), v))
                }
            case (0xD9, 0): push(s, Float80(Float(bitPattern: UInt32(truncatingIfNeeded: try m.load(a, size: 4, pc: pc)))))
            case (0xD9, 2), (0xD9, 3):
                try m.store(a, UInt64(Float(st(s, 0)).bitPattern), size: 4, pc: pc)
                if reg == 3 { pop(s) }
            case (0xD9, 4): // FLDENV (32-bit layout)
                s[StateSlot.fpuControl] = try m.load(a, size: 2, pc: pc)
                let status = try m.load(a &+ 4, size: 2, pc: pc)
                let tags = try m.load(a &+ 8, size: 2, pc: pc)
                s[StateSlot.fpuTop] = (status >> 11) & 7
                s[StateSlot.fpuStatus] = status & ~0x3800
                var empty: UInt64 = 0
                for phys in 0..<8 where (tags >> UInt64(2 * phys)) & 3 == 3 { empty |= 1 << UInt64(phys) }
                s[StateSlot.fpuEmpty] = empty
            case (0xD9, 5): s[StateSlot.fpuControl] = try m.load(a, size: 2, pc: pc)
            case (0xD9, 6): // FNSTENV, then all exceptions masked
                try m.check(a, 28, 2, pc: pc)
                let words: [UInt64] = [0xFFFF_0000 | s[StateSlot.fpuControl], 0xFFFF_0000 | statusWord(s),
                                       0xFFFF_0000 | tagWord(s), 0, 0, 0, 0xFFFF_0000]
                for (k, w) in words.enumerated() { try m.store(a &+ UInt64(4 * k), w, size: 4, pc: pc) }
                s[StateSlot.fpuControl] |= 0x3F
            case (0xD9, 7): try m.store(a, s[StateSlot.fpuControl], size: 2, pc: pc)
            case (0xDB, 0): push(s, Float80(Int32(truncatingIfNeeded: try m.load(a, size: 4, pc: pc))))
            case (0xDB, 1): try m.store(a, toInteger(st(s, 0).rounded(.towardZero), bytes: 4), size: 4, pc: pc); pop(s)
            case (0xDB, 2), (0xDB, 3):
                try m.store(a, toInteger(rounded(st(s, 0), s), bytes: 4), size: 4, pc: pc)
                if reg == 3 { pop(s) }
            case (0xDB, 5): push(s, try loadFloat80(m, a, pc: pc))
            case (0xDB, 7): try storeFloat80(m, a, st(s, 0), pc: pc); pop(s)
            case (0xDD, 0): push(s, Float80(Double(bitPattern: try m.load(a, size: 8, pc: pc))))
            case (0xDD, 1): try m.store(a, toInteger(st(s, 0).rounded(.towardZero), bytes: 8), size: 8, pc: pc); pop(s)
            case (0xDD, 2), (0xDD, 3):
                try m.store(a, Double(st(s, 0)).bitPattern, size: 8, pc: pc)
                if reg == 3 { pop(s) }
            case (0xDD, 7): try m.store(a, statusWord(s), size: 2, pc: pc)
            case (0xDF, 0): push(s, Float80(Int16(truncatingIfNeeded: try m.load(a, size: 2, pc: pc))))
            case (0xDF, 1): try m.store(a, toInteger(st(s, 0).rounded(.towardZero), bytes: 2), size: 2, pc: pc); pop(s)
            case (0xDF, 2), (0xDF, 3):
                try m.store(a, toInteger(rounded(st(s, 0), s), bytes: 2), size: 2, pc: pc)
                if reg == 3 { pop(s) }
            case (0xDF, 5): push(s, Float80(Int64(bitPattern: try m.load(a, size: 8, pc: pc))))
            case (0xDF, 7): try m.store(a, toInteger(rounded(st(s, 0), s), bytes: 8), size: 8, pc: pc); pop(s)
            default: throw ud
            }
            return
        }
        switch opcode {
        case 0xD8:
            if reg == 2 || reg == 3 {
                setConditions(s, compareConditions(st(s, 0), st(s, i)))
                if reg == 3 { pop(s) }
            } else {
                setST(s, 0, arithmetic(reg, st(s, 0), st(s, i)))
            }
        case 0xDC, 0xDE:
            if opcode == 0xDE && modrm == 0xD9 { // FCOMPP
                setConditions(s, compareConditions(st(s, 0), st(s, 1))); pop(s); pop(s); return
            }
            guard reg != 2 && reg != 3 else { throw ud }
            // The register forms swap SUB/SUBR and DIV/DIVR: ST(i) = ST(i) op ST(0).
            let op = reg < 4 ? reg : (reg ^ 1)
            setST(s, i, arithmetic(op, st(s, i), st(s, 0)))
            if opcode == 0xDE { pop(s) }
        case 0xD9:
            switch modrm {
            case 0xC0...0xC7: push(s, st(s, i)) // copied as is, unsupported formats too
            case 0xC8...0xCF:
                let x = st(s, 0), y = st(s, i)
                setST(s, 0, y); setST(s, i, x)
            case 0xD0: break
            case 0xE0: setST(s, 0, -st(s, 0))
            case 0xE1: setST(s, 0, abs(st(s, 0)))
            case 0xE4: setConditions(s, compareConditions(st(s, 0), 0))
            case 0xE5: setConditions(s, examine(s))
            case 0xE8: push(s, 1)
            case 0xE9: push(s, log2(10 as Float80))
            case 0xEA: push(s, log2(M_E_80))
            case 0xEB: push(s, Float80.pi)
            case 0xEC: push(s, log10(2 as Float80))
            case 0xED: push(s, log(2 as Float80))
            case 0xEE: push(s, 0)
            case 0xF0: setST(s, 0, exp2(st(s, 0)) - 1)
            case 0xF1: let r = st(s, 1) * log2(st(s, 0)); pop(s); setST(s, 0, r)
            case 0xF2: setST(s, 0, tan(st(s, 0))); push(s, 1); setConditions(s, 0)
            case 0xF3: let r = atan2(st(s, 1), st(s, 0)); pop(s); setST(s, 0, r)
            case 0xF4:
                let v = st(s, 0)
                setST(s, 0, Float80(v.exponent))
                push(s, Float80(sign: v.sign, exponent: 0, significand: v.significand))
            case 0xF5: setST(s, 0, st(s, 0).remainder(dividingBy: st(s, 1))); setConditions(s, 0)
            case 0xF6: s[StateSlot.fpuTop] = (s[StateSlot.fpuTop] &- 1) & 7
            case 0xF7: s[StateSlot.fpuTop] = (s[StateSlot.fpuTop] &+ 1) & 7
            case 0xF8: setST(s, 0, st(s, 0).truncatingRemainder(dividingBy: st(s, 1))); setConditions(s, 0)
            case 0xF9: let r = st(s, 1) * log2(st(s, 0) + 1); pop(s); setST(s, 0, r)
            case 0xFA: setST(s, 0, st(s, 0).squareRoot())
            case 0xFB: let v = st(s, 0); setST(s, 0, sin(v)); push(s, cos(v)); setConditions(s, 0)
            case 0xFC: setST(s, 0, rounded(st(s, 0), s))
            case 0xFD:
                let n = st(s, 1).rounded(.towardZero)
                let e = n.isFinite ? Int(max(-70000, min(70000, n))) : (n > 0 ? 70000 : -70000)
                setST(s, 0, Float80(sign: .plus, exponent: e, significand: st(s, 0)))
            case 0xFE: setST(s, 0, sin(st(s, 0))); setConditions(s, 0)
            case 0xFF: setST(s, 0, cos(st(s, 0))); setConditions(s, 0)
            default: throw ud
            }
        case 0xDA:
            if modrm == 0xE9 { setConditions(s, compareConditions(st(s, 0), st(s, 1))); pop(s); pop(s); return }
            let cc: UInt8
            switch reg {
            case 0: cc = 2 // FCMOVB
            case 1: cc = 4 // FCMOVE
            case 2: cc = 6 // FCMOVBE
            case 3: cc = 10 // FCMOVU
            default: throw ud
            }
            if LazyFlags.condition(cc, s) { setST(s, 0, st(s, i)) }
        case 0xDB:
            switch modrm {
            case 0xC0...0xDF:
                let cc: UInt8 = [3, 5, 7, 11][reg] // FCMOVNB, NE, NBE, NU
                if LazyFlags.condition(cc, s) { setST(s, 0, st(s, i)) }
            case 0xE2: s[StateSlot.fpuStatus] &= ~0x80FF
            case 0xE3:
                s[StateSlot.fpuControl] = 0x37F; s[StateSlot.fpuStatus] = 0
                s[StateSlot.fpuTop] = 0; s[StateSlot.fpuEmpty] = 0xFF
            case 0xE8...0xF7: compareFlags(s, st(s, 0), st(s, i))
            default: throw ud
            }
        case 0xDD:
            switch reg {
            case 0: s[StateSlot.fpuEmpty] |= 1 << UInt64(physical(s, i)) // FFREE
            case 2: setST(s, i, st(s, 0))
            case 3: setST(s, i, st(s, 0)); pop(s)
            case 4, 5:
                setConditions(s, compareConditions(st(s, 0), st(s, i)))
                if reg == 5 { pop(s) }
            default: throw ud
            }
        case 0xDF:
            switch modrm {
            case 0xE0: s[0] = (s[0] & ~0xFFFF) | statusWord(s)
            case 0xE8...0xF7: compareFlags(s, st(s, 0), st(s, i)); pop(s)
            default: throw ud
            }
        default:
            throw ud
        }
    }

    /// The x87 "real indefinite" QNaN: what an invalid operation with masked #IA produces.
    static let indefinite: Float80 = {
        var v = Float80(0)
        withUnsafeMutableBytes(of: &v) { raw in
            raw.storeBytes(of: 0xC000_0000_0000_0000 as UInt64, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: 0xFFFF as UInt16, toByteOffset: 8, as: UInt16.self)
        }
        return v
    }()

    static let M_E_80: Float80 = 2.718281828459045235360287471352662498
}
