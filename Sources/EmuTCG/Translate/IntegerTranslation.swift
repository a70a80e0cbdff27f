extension InstructionEmitter {
    /// Integer arithmetic, logic, shifts and rotates, bit operations, and the flag instructions (CLC, STC,
    /// CMC, CLD, STD).
    mutating func translateInteger(_ i: Instruction) -> IRExit? {
        let size = i.operandSize
        let ops = i.operands
        switch i.mnemonic {
        case .add, .or, .adc, .sbb, .and, .sub, .xor, .cmp, .test:
            let dst = locate(ops[0], size: size)
            let a = read(dst, size: size)
            if case .immediate(let raw) = ops[1], [.add, .sub, .and, .or, .xor, .cmp, .test].contains(i.mnemonic) {
                // Immediate forms: the constant is folded into the operation, and only
                // materialised when the flags are needed.
                let imm = raw & sizeMask(size)
                let op: IRBinaryOp
                switch i.mnemonic {
                case .add: op = .add
                case .sub, .cmp: op = .sub
                case .and, .test: op = .and
                case .or: op = .or
                default: op = .xor
                }
                let r = b.binary(op, a, imm)
                if i.mnemonic != .cmp && i.mnemonic != .test { write(dst, r) }
                if flagsNeeded {
                    let kind: ConditionCodeOp = op == .add ? .add : (op == .sub ? .sub : .logic)
                    setFlags(kind, size, r, kind == .logic ? r : b.constant(imm))
                }
                return nil
            }
            let s = read(locate(ops[1], size: size), size: size)
            switch i.mnemonic {
            case .add:
                let r = b.binary(.add, a, s); write(dst, r); setFlags(.add, size, r, s)
            case .adc:
                let c = carry()
                let r = b.binary(.add, b.binary(.add, a, s), c); write(dst, r); setFlags(.adc, size, r, s, c)
            case .sub:
                let r = b.binary(.sub, a, s); write(dst, r); setFlags(.sub, size, r, s)
            case .sbb:
                let c = carry()
                let r = b.binary(.sub, b.binary(.sub, a, s), c); write(dst, r); setFlags(.sbb, size, r, s, c)
            case .cmp:
                let r = b.binary(.sub, a, s); setFlags(.sub, size, r, s)
            case .test:
                let r = b.binary(.and, a, s); setFlags(.logic, size, r, r)
            default:
                let op: IRBinaryOp = i.mnemonic == .and ? .and : (i.mnemonic == .or ? .or : .xor)
                let r = b.binary(op, a, s); write(dst, r); setFlags(.logic, size, r, r)
            }
        case .inc, .dec:
            let dst = locate(ops[0], size: size)
            let a = read(dst)
            let c = flagsNeeded ? carry() : a
            let one = b.constant(1)
            let r = b.binary(i.mnemonic == .inc ? .add : .sub, a, one)
            write(dst, r)
            setFlags(i.mnemonic == .inc ? .inc : .dec, size, r, one, c)
        case .neg:
            let dst = locate(ops[0], size: size)
            let a = read(dst)
            let r = b.unary(.neg, a)
            write(dst, r)
            setFlags(.sub, size, r, a)
        case .not:
            let dst = locate(ops[0], size: size)
            write(dst, b.unary(.not, read(dst)))
        case .mul, .imul1:
            let signed = i.mnemonic == .imul1
            let s = read(locate(ops[0], size: size))
            let acc = readGPR(0, size: size)
            if size == 8 {
                let lo = b.binary(.mul, acc, s)
                let hi = b.binary(signed ? .mulHighSigned : .mulHighUnsigned, acc, s)
                let overflow = signed ? b.binary(.notEqual, hi, b.binary(.sar, lo, 63)) : b.binary(.notEqual, hi, 0)
                b.put(0, lo); b.put(2, hi)
                setFlags(.mul, 8, lo, overflow)
            } else {
                let x = signed ? b.signExtend(acc, size: size) : acc
                let y = signed ? b.signExtend(s, size: size) : s
                let p = b.binary(.mul, x, y)
                let overflow: IRTemp
                if signed {
                    overflow = b.binary(.notEqual, p, b.signExtend(p, size: size))
                } else {
                    overflow = b.binary(.notEqual, b.binary(.shr, p, UInt64(size * 8)), 0)
                }
                if size == 1 {
                    writeGPR(0, size: 2, p)
                } else {
                    writeGPR(0, size: size, p)
                    writeGPR(2, size: size, b.binary(.shr, p, UInt64(size * 8)))
                }
                setFlags(.mul, size, p, overflow)
            }
        case .imul:
            let dst = locate(ops[0], size: size)
            let x = read(locate(ops[1], size: size), size: size)
            let y = ops.count > 2 ? b.constant(ops[2].immediateValue & sizeMask(size)) : read(dst)
            let sx = b.signExtend(x, size: size), sy = b.signExtend(y, size: size)
            let p = b.binary(.mul, sx, sy)
            let overflow: IRTemp
            if size == 8 {
                overflow = b.binary(.notEqual, b.binary(.mulHighSigned, sx, sy), b.binary(.sar, p, 63))
            } else {
                overflow = b.binary(.notEqual, p, b.signExtend(p, size: size))
            }
            write(dst, p)
            setFlags(.mul, size, p, overflow)
        case .div, .idiv:
            let s = read(locate(ops[0], size: size))
            _ = b.helper(.divide(size: size, signed: i.mnemonic == .idiv), [s], result: false, pc: pc)
        case .shl, .shr, .sar:
            let dst = locate(ops[0], size: size)
            let a = read(dst)
            var count = read(locate(ops[1], size: 1), size: 1)
            count = b.binary(.and, count, size == 8 ? 63 : 31)
            let before = b.binary(.sub, count, 1)
            let r: IRTemp, s: IRTemp
            switch i.mnemonic {
            case .shl:
                r = b.binary(.shl, a, count); s = b.binary(.shl, a, before)
                write(dst, r)
                if flagsNeeded { b.emit(.setFlagsIf(when: count, .shl, size: size, dst: r, src: s, src2: a)) }
            case .shr:
                r = b.binary(.shr, a, count); s = b.binary(.shr, a, before)
                write(dst, r)
                if flagsNeeded { b.emit(.setFlagsIf(when: count, .shr, size: size, dst: r, src: s, src2: a)) }
            default:
                let sa = b.signExtend(a, size: size)
                r = b.binary(.sar, sa, count); s = b.binary(.sar, sa, before)
                write(dst, r)
                if flagsNeeded { b.emit(.setFlagsIf(when: count, .sar, size: size, dst: r, src: s, src2: a)) }
            }
        case .rol, .ror, .rcl, .rcr:
            let dst = locate(ops[0], size: size)
            let a = read(dst)
            let count = read(locate(ops[1], size: 1), size: 1)
            let kind = i.mnemonic
            if !flagsNeeded && (kind == .rol || kind == .ror) {
                if let r = b.helper(.rotateWithoutFlags(left: kind == .rol, size: size), [a, count], result: true, pc: pc) { write(dst, r) }
            } else if let r = b.helper(.rotate(kind, size: size), [a, count], result: true, pc: pc) {
                write(dst, r)
            }
        case .shld, .shrd:
            let dst = locate(ops[0], size: size)
            let a = read(dst)
            let s = read(locate(ops[1], size: size))
            let count = read(locate(ops[2], size: 1), size: 1)
            if let r = b.helper(.doubleShift(left: i.mnemonic == .shld, size: size), [a, s, count], result: true, pc: pc) {
                write(dst, r)
            }
        case .bt, .bts, .btr, .btc:
            let bits = UInt64(size * 8)
            var bitIndex: IRTemp
            var loc: Location
            if case .memory(let m) = ops[0], case .register = ops[1] {
                let offset = b.signExtend(read(locate(ops[1], size: size)), size: size)
                let shift = UInt64(bits.trailingZeroBitCount)
                let byteOffset = b.binary(.shl, b.binary(.sar, offset, shift), UInt64(size.trailingZeroBitCount))
                loc = .memory(b.binary(.add, address(m), byteOffset), size: size)
                bitIndex = b.binary(.and, offset, bits - 1)
            } else {
                loc = locate(ops[0], size: size)
                bitIndex = b.binary(.and, read(locate(ops[1], size: size), size: size), bits - 1)
            }
            let v = read(loc)
            let bit = b.binary(.and, b.binary(.shr, v, bitIndex), 1)
            let mask = b.binary(.shl, b.constant(1), bitIndex)
            switch i.mnemonic {
            case .bts: write(loc, b.binary(.or, v, mask))
            case .btr: write(loc, b.binary(.and, v, b.unary(.not, mask)))
            case .btc: write(loc, b.binary(.xor, v, mask))
            default: break
            }
            let f = b.binary(.or, b.binary(.and, b.flags(), ~RFlags.cf), bit)
            setEFlags(f)
        case .bsf, .bsr:
            let dst = locate(ops[0], size: size)
            let s = read(locate(ops[1], size: size))
            let old = read(dst)
            let isZero = b.binary(.equal, s, 0)
            let index: IRTemp
            if i.mnemonic == .bsf {
                index = b.unary(.countTrailingZeros, s)
            } else {
                index = b.binary(.sub, b.constant(63), b.unary(.countLeadingZeros, s))
            }
            write(dst, b.select(isZero, old, index))
            setEFlags(b.binary(.shl, isZero, 6))
        case .lzcnt:
            // Leading zeros within the operand size (the size itself for zero); CF when the
            // source is zero, ZF when the result is; OF, SF, AF, PF undefined (left clear).
            let dst = locate(ops[0], size: size)
            let s = read(locate(ops[1], size: size))
            let count = b.binary(.sub, b.unary(.countLeadingZeros, s), UInt64(64 - 8 * size))
            write(dst, count)
            setEFlags(b.binary(.or, b.binary(.equal, s, 0), b.binary(.shl, b.binary(.equal, count, 0), 6)))
        case .tzcnt:
            return .exception(.invalidOpcode(pc: pc))
        case .popcnt:
            let dst = locate(ops[0], size: size)
            let s = read(locate(ops[1], size: size))
            write(dst, b.unary(.popCount, s))
            setEFlags(b.binary(.shl, b.binary(.equal, s, 0), 6))
        case .bswap:
            guard case .register(let r, _) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            if size == 8 { b.put(r, b.unary(.byteSwap64, b.get(r))) }
            else if size == 4 { b.put(r, b.unary(.byteSwap32, b.get(r))) }
            else { writeGPR(r, size: 2, b.constant(0)) } // BSWAP r16 is undefined; hardware zeroes it
        case .clc, .stc, .cmc:
            let f = b.flags()
            let r: IRTemp
            switch i.mnemonic {
            case .clc: r = b.binary(.and, f, ~RFlags.cf)
            case .stc: r = b.binary(.or, f, RFlags.cf)
            default: r = b.binary(.xor, f, RFlags.cf)
            }
            setEFlags(r)
        case .cld: b.put(StateSlot.df, b.constant(0))
        case .std: b.put(StateSlot.df, b.constant(1))
        default:
            // Not an integer mnemonic: `translate(_:)` hands those to their own family.
            return .exception(.invalidOpcode(pc: pc))
        }
        return nil
    }
}
