/// MMX execution: MM0–7 are the low 64 bits (the mantissas) of the x87 physical registers 0–7,
/// kept in the same state slots as `X87`, so an x87 instruction after MMX code without EMMS sees
/// the aliased values as a real CPU shows them.
///
/// As on hardware, every MMX instruction but EMMS sets TOP to 0 and marks all registers valid
/// (FXSAVE's abridged tag 0xFF); writing MMi sets bits 64–79 (sign and exponent) of physical
/// register i to all ones; EMMS marks all registers empty. The lane arithmetic is the SSE
/// helpers' (`PackedHelpers`, `SupplementalPackedHelpers`) applied to a 64-bit operand.
enum MMX {
    @inline(__always) static func slot(_ i: Int) -> Int { StateSlot.x87Base + 2 * (i & 7) }

    /// MMi's value.
    @inline(__always) static func register(_ s: UnsafeMutablePointer<UInt64>, _ i: Int) -> UInt64 { s[slot(i)] }

    /// MMi = v, with the register's sign/exponent bits set to ones.
    @inline(__always) static func setRegister(_ s: UnsafeMutablePointer<UInt64>, _ i: Int, _ v: UInt64) {
        s[slot(i)] = v
        s[slot(i) + 1] |= 0xFFFF
    }

    /// Runs `op` on MM `mm` with `source` (a value already read from its operand), `immediate`,
    /// and `address` (MASKMOVQ's RDI); returns the value for `producesResult` operations, else 0.
    /// - Throws: a page fault from MASKMOVQ's stores.
    static func execute(_ s: UnsafeMutablePointer<UInt64>, _ m: GuestAddressSpace, _ op: MMXOperation, mm: Int,
                        immediate: UInt8, source: UInt64, address: UInt64, pc: UInt64) throws(GuestException) -> UInt64 {
        if op == .emms {
            s[StateSlot.fpuEmpty] = 0xFF
            return 0
        }
        if case .convertToXMM(let conversion, let fromRegister) = op {
            let slot = StateSlot.xmm(mm)
            let v = try FloatHelpers.convert(s, conversion, (s[slot], s[slot + 1]), (source, 0), pc: pc)
            s[slot] = v.0
            if conversion == .packedInt32ToDouble { s[slot + 1] = v.1 }
            if fromRegister { s[StateSlot.fpuTop] = 0; s[StateSlot.fpuEmpty] = 0 }
            return 0
        }
        if case .convertFromXMM(let conversion) = op {
            let v = try FloatHelpers.convert(s, conversion, (0, 0), (source, address), pc: pc)
            s[StateSlot.fpuTop] = 0
            s[StateSlot.fpuEmpty] = 0
            setRegister(s, mm, v.0)
            return 0
        }
        s[StateSlot.fpuTop] = 0
        s[StateSlot.fpuEmpty] = 0
        let d = register(s, mm)
        switch op {
        case .packed(let p):
            setRegister(s, mm, combine(p, d, source))
        case .shiftImmediate(let p):
            setRegister(s, mm, PackedHelpers.shift(p, (d, 0), count: UInt64(immediate)).0)
        case .shuffle(let p):
            if p == .palignr {
                // The 16 bytes mm:source shifted right: source is the low half of the pair.
                setRegister(s, mm, SupplementalPackedHelpers.alignRight((0, 0), (source, d), imm: immediate).0)
            } else {
                setRegister(s, mm, PackedHelpers.shuffle(.pshuflw, (0, 0), (source, 0), imm: immediate).0)
            }
        case .load:
            setRegister(s, mm, source)
        case .store:
            return d
        case .moveMask:
            return PackedHelpers.moveMask(.pmovmskb, (d, 0))
        case .extractWord:
            return (d >> (16 * UInt64(immediate & 3))) & 0xFFFF
        case .insertWord:
            let shift = 16 * UInt64(immediate & 3)
            setRegister(s, mm, (d & ~(0xFFFF << shift)) | ((source & 0xFFFF) << shift))
        case .maskMove:
            for i in 0..<8 where (source >> UInt64(8 * i + 7)) & 1 != 0 {
                try m.store(address &+ UInt64(i), (d >> UInt64(8 * i)) & 0xFF, size: 1, pc: pc)
            }
        case .emms, .convertToXMM, .convertFromXMM:
            break
        }
        return 0
    }

    /// op(d, s) on 64-bit operands through the 128-bit lane helpers: operations whose lanes stay
    /// within their half take (d, 0) and (s, 0); the ones that gather from both operands into one
    /// result half (packs, horizontal adds) take (d, s) as their destination; the high unpacks
    /// are the low ones on the upper 32 bits; PSHUFB's index wraps at 8 when both halves are d.
    static func combine(_ op: PackedOp, _ d: UInt64, _ s: UInt64) -> UInt64 {
        switch op {
        case .packsswb, .packssdw, .packuswb, .phaddw, .phaddd, .phaddsw, .phsubw, .phsubd, .phsubsw:
            return PackedHelpers.apply(op, (d, s), (0, 0)).0
        case .punpckhbw:
            return PackedHelpers.apply(.punpcklbw, (d >> 32, 0), (s >> 32, 0)).0
        case .punpckhwd:
            return PackedHelpers.apply(.punpcklwd, (d >> 32, 0), (s >> 32, 0)).0
        case .punpckhdq:
            return PackedHelpers.apply(.punpckldq, (d >> 32, 0), (s >> 32, 0)).0
        case .pshufb:
            return PackedHelpers.apply(.pshufb, (d, d), (s, 0)).0
        default:
            return PackedHelpers.apply(op, (d, 0), (s, 0)).0
        }
    }
}
