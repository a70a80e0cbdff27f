/// The front end: guest x86-64 instructions → an `IRBlock`.
///
/// A block runs until a control transfer, a SYSCALL, an exception, or `maximumInstructions`.
/// Within one instruction every memory access comes before the register and flag writes, so a
/// fault leaves the guest state as it was before the instruction.
public struct Translator: Sendable {
    /// Instructions per block at most.
    public var maximumInstructions: Int

    /// A translator with blocks of at most `maximumInstructions` instructions.
    public init(maximumInstructions: Int = 64) {
        self.maximumInstructions = max(1, maximumInstructions)
    }

    /// Translates the block starting at `pc`, fetching instruction bytes through `fetch`.
    /// Never throws: an undecodable instruction or an unfetchable byte becomes the block's
    /// exception exit (at the exact PC), after the instructions before it.
    public func translate(at pc: UInt64, fetch: (UInt64) -> UInt8?) -> IRBlock {
        // Decode the whole block first, so that flag liveness can be computed backwards.
        var instructions: [Instruction] = []
        var address = pc
        var exit: IRExit? = nil
        let decoder = Decoder()
        while instructions.count < maximumInstructions {
            let insn: Instruction
            do {
                insn = try decoder.decode(at: address, fetch: fetch)
            } catch {
                switch error {
                case .invalidOpcode(let at): exit = .exception(.invalidOpcode(pc: at))
                case .fetchFault(let at): exit = .exception(.pageFault(pc: address, address: at, write: false))
                }
                break
            }
            instructions.append(insn)
            address = insn.nextAddress
            if insn.mnemonic.endsBlock { break }
        }
        let live = FlagLiveness.liveAfter(instructions, liveAtEnd: true)
        var emitter = InstructionEmitter()
        var end = pc
        for (k, insn) in instructions.enumerated() {
            emitter.flagsNeeded = live[k]
            end = insn.nextAddress
            if let e = emitter.translate(insn) { exit = e; break }
        }
        if exit == nil { exit = .jump(end) }
        return IRBlock(start: pc, end: max(address, pc &+ 1), instructionCount: instructions.count, ops: emitter.b.ops,
                       exit: exit ?? .jump(end), tempCount: Int(emitter.b.tempCount))
    }
}

/// A resolved operand: where to read and write it.
enum Location {
    case register(Int, size: Int)
    case highByte(Int)
    case memory(IRTemp, size: Int)
    case immediate(UInt64)
}

@inline(__always) func sizeMask(_ size: Int) -> UInt64 { size >= 8 ? ~0 : (1 << UInt64(size * 8)) - 1 }

struct InstructionEmitter {
    var b = IRBuilder()
    var pc: UInt64 = 0
    /// Whether a later instruction (or the block's successor) may read the flags this
    /// instruction writes; when false, their computation is left out.
    var flagsNeeded = true

    // MARK: operands

    mutating func address(_ m: MemoryOperand) -> IRTemp {
        var t: IRTemp? = nil
        if let base = m.base { t = b.get(base) }
        if let index = m.index {
            var i = b.get(index)
            if m.scale > 1 { i = b.binary(.shl, i, UInt64(m.scale.trailingZeroBitCount)) }
            t = t.map { b.binary(.add, $0, i) } ?? i
        }
        let disp = UInt64(bitPattern: m.displacement)
        var ea: IRTemp
        if let t { ea = disp == 0 ? t : b.binary(.add, t, disp) } else { ea = b.constant(disp) }
        if m.addressSize == 4 { ea = b.unary(.zeroExtend32, ea) }
        switch m.segment {
        case .fs: ea = b.binary(.add, ea, b.get(StateSlot.fsBase))
        case .gs: ea = b.binary(.add, ea, b.get(StateSlot.gsBase))
        case .none: break
        }
        return ea
    }

    mutating func locate(_ o: Operand, size: Int) -> Location {
        switch o {
        case .register(let r, let s): return .register(r, size: s)
        case .highByte(let r): return .highByte(r)
        case .memory(let m): return .memory(address(m), size: size)
        case .immediate(let v): return .immediate(v)
        case .xmm, .mmx: return .immediate(0) // never used as an integer operand
        }
    }

    mutating func read(_ l: Location) -> IRTemp {
        switch l {
        case .register(let r, let s):
            return b.get(r, size: s)
        case .highByte(let r):
            return b.unary(.zeroExtend8, b.binary(.shr, b.get(r), 8))
        case .memory(let a, let s):
            return b.load(a, size: s, pc: pc)
        case .immediate(let v):
            return b.constant(v)
        }
    }

    /// Reads an operand at `size` (immediates masked to it).
    mutating func read(_ l: Location, size: Int) -> IRTemp {
        if case .immediate(let v) = l { return b.constant(v & sizeMask(size)) }
        return read(l)
    }

    mutating func write(_ l: Location, _ v: IRTemp) {
        switch l {
        case .register(let r, let s):
            switch s {
            case 8: b.put(r, v)
            case 4: b.emit(.putZeroExtended32(slot: r, v))
            default:
                let keep = b.binary(.and, b.get(r), ~sizeMask(s))
                b.put(r, b.binary(.or, keep, b.zeroExtend(v, size: s)))
            }
        case .highByte(let r):
            let keep = b.binary(.and, b.get(r), ~UInt64(0xFF00))
            let byte = b.binary(.shl, b.unary(.zeroExtend8, v), 8)
            b.put(r, b.binary(.or, keep, byte))
        case .memory(let a, let s):
            b.store(a, v, size: s, pc: pc)
        case .immediate:
            break
        }
    }

    mutating func writeGPR(_ r: Int, size: Int, _ v: IRTemp) { write(.register(r, size: size), v) }
    mutating func readGPR(_ r: Int, size: Int) -> IRTemp { read(.register(r, size: size)) }

    mutating func carry() -> IRTemp { b.binary(.and, b.flags(), RFlags.cf) }

    mutating func setFlags(_ op: ConditionCodeOp, _ size: Int, _ dst: IRTemp, _ src: IRTemp, _ src2: IRTemp? = nil) {
        guard flagsNeeded else { return }
        b.emit(.setFlags(op, size: size, dst: dst, src: src, src2: src2 ?? dst))
    }

    mutating func setEFlags(_ f: IRTemp) {
        b.emit(.setFlags(.eflags, size: 8, dst: f, src: f, src2: f))
    }

    mutating func push(_ v: IRTemp, size: Int) {
        let sp = b.binary(.sub, b.get(4), UInt64(size))
        b.store(sp, v, size: size, pc: pc)
        b.put(4, sp)
    }

    /// Pops into a temp; returns (value, new RSP) without writing RSP yet.
    mutating func pop(size: Int) -> (IRTemp, IRTemp) {
        let sp = b.get(4)
        let v = b.load(sp, size: size, pc: pc)
        return (v, b.binary(.add, sp, UInt64(size)))
    }

    /// Replaces `bytes` bytes of XMM `xmm` at bit offset `bit` (within one half) by `v`.
    mutating func insert(_ v: IRTemp, bytes: Int, bit: Int, xmm: Int) {
        let slot = StateSlot.xmm(xmm) + bit / 64, shift = UInt64(bit % 64)
        let field: UInt64 = (bytes == 8 ? ~0 : (1 << UInt64(bytes * 8)) - 1) << shift
        let placed = shift == 0 ? v : b.binary(.shl, v, shift)
        b.put(slot, b.binary(.or, b.binary(.and, b.get(slot), ~field), placed))
    }

    /// Source of a packed operation as (low, high) temps; m128 operands checked for alignment
    /// when `aligned`.
    mutating func xmmSource(_ o: Operand, aligned: Bool) -> (IRTemp, IRTemp) {
        switch o {
        case .xmm(let x):
            return (b.get(StateSlot.xmm(x)), b.get(StateSlot.xmm(x) + 1))
        case .memory(let m):
            let a = address(m)
            if aligned { b.emit(.checkAlignment(address: a, alignment: 16, pc: pc)) }
            let lo = b.load(a, size: 8, pc: pc)
            let hi = b.load(b.binary(.add, a, 8), size: 8, pc: pc)
            return (lo, hi)
        default:
            return (b.constant(0), b.constant(0))
        }
    }

    /// Source of a floating-point operation: an XMM register, or `size` bytes of memory (16:
    /// an aligned m128; 4 or 8: a scalar, the rest zero).
    mutating func floatSource(_ o: Operand, size: Int) -> (IRTemp, IRTemp) {
        if size == 16 { return xmmSource(o, aligned: true) }
        if case .memory(let m) = o {
            return (b.load(address(m), size: size, pc: pc), b.constant(0))
        }
        return xmmSource(o, aligned: false)
    }

    // MARK: instructions

    /// Emits IR for one instruction; returns the block exit when the instruction ends the block.
    mutating func translate(_ i: Instruction) -> IRExit? {
        pc = i.address
        let size = i.operandSize
        let ops = i.operands
        let next = i.nextAddress
        if case .memory(let m) = ops.first, i.prefixes.lock || i.mnemonic == .xchg, translateAtomic(i, m) { return nil }
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
        case .mov:
            let dst = locate(ops[0], size: size)
            write(dst, read(locate(ops[1], size: size), size: size))
        case .movzx:
            let srcSize = i.sourceSize
            let v = read(locate(ops[1], size: srcSize))
            write(locate(ops[0], size: size), v)
        case .movsx, .movsxd:
            let srcSize = i.sourceSize
            let v = b.signExtend(read(locate(ops[1], size: srcSize)), size: srcSize)
            write(locate(ops[0], size: size), v)
        case .lea:
            guard case .memory(let m) = ops[1] else { return .exception(.invalidOpcode(pc: pc)) }
            write(locate(ops[0], size: size), address(m))
        case .xchg:
            let l0 = locate(ops[0], size: size), l1 = locate(ops[1], size: size)
            let v0 = read(l0), v1 = read(l1)
            write(l0, v1); write(l1, v0)
        case .cmpxchg:
            let dst = locate(ops[0], size: size)
            let d = read(dst)
            let acc = readGPR(0, size: size)
            let src = read(locate(ops[1], size: size))
            let r = b.binary(.sub, acc, d)
            let equal = b.binary(.equal, acc, d)
            write(dst, b.select(equal, src, d))
            // RAX is written only on failure (a 32-bit CMPXCHG that succeeds leaves RAX's top).
            let newAcc = b.select(equal, b.get(0), size == 4 ? d : b.binary(.or, b.binary(.and, b.get(0), ~sizeMask(size)), d))
            b.put(0, newAcc)
            setFlags(.sub, size, r, d)
        case .xadd:
            let dst = locate(ops[0], size: size)
            let d = read(dst)
            let src = locate(ops[1], size: size)
            let s = read(src)
            let r = b.binary(.add, d, s)
            write(dst, r)
            write(src, d)
            setFlags(.add, size, r, s)
        case .cmpxchg16b:
            guard case .memory(let m) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            _ = b.helper(.compareExchange16, [address(m)], result: false, pc: pc)
        case .cmpxchg8b:
            guard case .memory(let m) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let a = address(m)
            let mem = b.load(a, size: 8, pc: pc)
            let expected = b.binary(.or, readGPR(0, size: 4), b.binary(.shl, readGPR(2, size: 4), 32))
            let replacement = b.binary(.or, readGPR(3, size: 4), b.binary(.shl, readGPR(1, size: 4), 32))
            let equal = b.binary(.equal, mem, expected)
            b.store(a, b.select(equal, replacement, mem), size: 8, pc: pc)
            let eax = b.select(equal, b.get(0), b.unary(.zeroExtend32, mem))
            let edx = b.select(equal, b.get(2), b.binary(.shr, mem, 32))
            b.put(0, eax); b.put(2, edx)
            let f = b.binary(.or, b.binary(.and, b.flags(), ~RFlags.zf), b.binary(.shl, equal, 6))
            setEFlags(f)
        case .cmov:
            let dst = locate(ops[0], size: size)
            let s = read(locate(ops[1], size: size))
            let d = read(dst)
            write(dst, b.select(b.condition(i.condition), s, d))
        case .setcc:
            write(locate(ops[0], size: 1), b.condition(i.condition))
        case .signExtendAccumulator:
            let half = size / 2
            writeGPR(0, size: size, b.signExtend(readGPR(0, size: half), size: half))
        case .signExtendIntoDX:
            let v = b.signExtend(readGPR(0, size: size), size: size)
            writeGPR(2, size: size, b.binary(.sar, v, 63))
        case .push:
            let v = read(locate(ops[0], size: size), size: size)
            push(v, size: size)
        case .pop:
            let (v, sp) = pop(size: size)
            if case .register(let r, _) = ops[0] {
                b.put(4, sp)
                writeGPR(r, size: size, v)
            } else {
                // The address of POP m is computed with RSP already incremented.
                let old = b.get(4)
                b.put(4, sp)
                let dst = locate(ops[0], size: size)
                b.put(4, old)
                write(dst, v)
                b.put(4, sp)
            }
        case .pushf:
            let f = b.binary(.or, b.flags(), b.get(StateSlot.otherFlags))
            let df = b.binary(.shl, b.get(StateSlot.df), 10)
            push(b.binary(.or, b.binary(.or, f, df), 0x2), size: size)
        case .popf:
            let (v, sp) = pop(size: size)
            b.put(4, sp)
            _ = b.helper(.popFlags, [v], result: false, pc: pc)
        case .leave:
            let bp = b.get(5)
            let v = b.load(bp, size: 8, pc: pc)
            b.put(4, b.binary(.add, bp, 8))
            b.put(5, v)
        case .jmp:
            if case .immediate(let target) = ops[0] { return .jump(target) }
            return .indirect(read(locate(ops[0], size: 8)))
        case .jcc:
            return .branch(b.condition(i.condition), taken: ops[0].immediateValue, notTaken: next)
        case .jrcxz:
            let c = b.binary(.equal, readGPR(1, size: size), 0)
            return .branch(c, taken: ops[0].immediateValue, notTaken: next)
        case .loop:
            let rcx = b.binary(.sub, b.get(1), 1)
            b.put(1, rcx)
            var c = b.binary(.notEqual, rcx, 0)
            if i.condition == 0 { c = b.binary(.and, c, b.binary(.xor, b.condition(4), 1)) }
            if i.condition == 1 { c = b.binary(.and, c, b.condition(4)) }
            return .branch(c, taken: ops[0].immediateValue, notTaken: next)
        case .call:
            if case .immediate(let t) = ops[0] {
                push(b.constant(next), size: 8)
                return .jump(t)
            }
            let t = read(locate(ops[0], size: 8))
            push(b.constant(next), size: 8)
            return .indirect(t)
        case .ret:
            let (v, sp) = pop(size: 8)
            let extra = ops.first?.immediateValue ?? 0
            b.put(4, extra == 0 ? sp : b.binary(.add, sp, extra))
            return .indirect(v)
        case .movs, .stos, .lods, .cmps, .scas:
            let addressSize = i.prefixes.addressSizeOverride ? 4 : 8
            _ = b.helper(.string(i.mnemonic, size: size, rep: i.prefixes.rep, repne: i.prefixes.repne,
                                 addressSize: addressSize), [], result: false, pc: pc)
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
        case .lahf:
            let f = b.binary(.or, b.binary(.and, b.flags(), 0xD5), 0x2)
            write(.highByte(0), f)
        case .sahf:
            let ah = read(.highByte(0))
            let f = b.binary(.or, b.binary(.and, b.flags(), RFlags.of), b.binary(.and, ah, 0xD5))
            setEFlags(f)
        case .fence:
            _ = b.helper(.fence, [], result: false, pc: pc)
        case .nop, .pause:
            break
        case .hlt:
            return .exception(.generalProtection(pc: pc))
        case .int3:
            return .exception(.breakpoint(pc: next))
        case .ud2:
            return .exception(.invalidOpcode(pc: pc))
        case .syscall:
            return .syscall(at: pc, next: next)
        case .cpuid:
            _ = b.helper(.cpuid, [], result: false, pc: pc)
        case .rdtsc:
            _ = b.helper(.rdtsc, [], result: false, pc: pc)
        case .ldmxcsr:
            let v = read(locate(ops[0], size: 4))
            _ = b.helper(.loadMXCSR, [v], result: false, pc: pc)
        case .fxsave, .fxrstor:
            guard case .memory(let m) = ops.first else { return .exception(.invalidOpcode(pc: pc)) }
            _ = b.helper(i.mnemonic == .fxsave ? .fxsave : .fxrstor, [address(m)], result: false, pc: pc)
        case .stmxcsr:
            write(locate(ops[0], size: 4), b.get(StateSlot.mxcsr))
        case .mmx(let op):
            return mmx(op, i)
        case .x87(let opcode, let modrm):
            var args: [IRTemp] = []
            if case .memory(let m) = ops.first { args.append(address(m)) }
            _ = b.helper(.x87(opcode: opcode, modrm: modrm), args, result: false, pc: pc)
        case .move128, .alignedMove128:
            let aligned = i.mnemonic == .alignedMove128
            switch (ops[0], ops[1]) {
            case (.xmm(let d), _):
                let (lo, hi) = xmmSource(ops[1], aligned: aligned)
                b.put(StateSlot.xmm(d), lo); b.put(StateSlot.xmm(d) + 1, hi)
            case (.memory(let m), .xmm(let s)):
                let a = address(m)
                if aligned { b.emit(.checkAlignment(address: a, alignment: 16, pc: pc)) }
                b.store(a, b.get(StateSlot.xmm(s)), size: 8, pc: pc)
                b.store(b.binary(.add, a, 8), b.get(StateSlot.xmm(s) + 1), size: 8, pc: pc)
            default:
                return .exception(.invalidOpcode(pc: pc))
            }
        case .movdToXMM:
            guard case .xmm(let d) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let v = read(locate(ops[1], size: size))
            b.put(StateSlot.xmm(d), v); b.put(StateSlot.xmm(d) + 1, b.constant(0))
        case .movdFromXMM:
            guard case .xmm(let s) = ops[1] else { return .exception(.invalidOpcode(pc: pc)) }
            write(locate(ops[0], size: size), b.zeroExtend(b.get(StateSlot.xmm(s)), size: size))
        case .movq:
            switch (ops[0], ops[1]) {
            case (.xmm(let d), .xmm(let s)):
                b.put(StateSlot.xmm(d), b.get(StateSlot.xmm(s))); b.put(StateSlot.xmm(d) + 1, b.constant(0))
            case (.xmm(let d), .memory(let m)):
                let v = b.load(address(m), size: 8, pc: pc)
                b.put(StateSlot.xmm(d), v); b.put(StateSlot.xmm(d) + 1, b.constant(0))
            case (.memory(let m), .xmm(let s)):
                b.store(address(m), b.get(StateSlot.xmm(s)), size: 8, pc: pc)
            default:
                return .exception(.invalidOpcode(pc: pc))
            }
        case .movss, .movsdSSE:
            let n = i.mnemonic == .movss ? 4 : 8
            switch (ops[0], ops[1]) {
            case (.xmm(let d), .xmm(let s)):
                let keep = n == 8 ? b.constant(0) : b.binary(.and, b.get(StateSlot.xmm(d)), ~UInt64(0xFFFF_FFFF))
                let low = b.zeroExtend(b.get(StateSlot.xmm(s)), size: n)
                b.put(StateSlot.xmm(d), b.binary(.or, keep, low))
            case (.xmm(let d), .memory(let m)):
                let v = b.load(address(m), size: n, pc: pc)
                b.put(StateSlot.xmm(d), v); b.put(StateSlot.xmm(d) + 1, b.constant(0))
            case (.memory(let m), .xmm(let s)):
                b.store(address(m), b.get(StateSlot.xmm(s)), size: n, pc: pc)
            default:
                return .exception(.invalidOpcode(pc: pc))
            }
        case .movlp, .movhp:
            let half = i.mnemonic == .movlp ? 0 : 1
            switch (ops[0], ops[1]) {
            case (.xmm(let d), .memory(let m)):
                b.put(StateSlot.xmm(d) + half, b.load(address(m), size: 8, pc: pc))
            case (.memory(let m), .xmm(let s)):
                b.store(address(m), b.get(StateSlot.xmm(s) + half), size: 8, pc: pc)
            default:
                return .exception(.invalidOpcode(pc: pc))
            }
        case .movddup:
            guard case .xmm(let d) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let v: IRTemp
            if case .memory(let m) = ops[1] { v = b.load(address(m), size: 8, pc: pc) }
            else { v = xmmSource(ops[1], aligned: false).0 }
            b.put(StateSlot.xmm(d), v); b.put(StateSlot.xmm(d) + 1, v)
        case .movhlps, .movlhps:
            guard case .xmm(let d) = ops[0], case .xmm(let s) = ops[1] else { return .exception(.invalidOpcode(pc: pc)) }
            if i.mnemonic == .movhlps { b.put(StateSlot.xmm(d), b.get(StateSlot.xmm(s) + 1)) }
            else { b.put(StateSlot.xmm(d) + 1, b.get(StateSlot.xmm(s))) }
        case .packed(let op):
            guard case .xmm(let d) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let (lo, hi) = xmmSource(ops[1], aligned: true)
            _ = b.helper(.packed(op, destination: d), [lo, hi], result: false, pc: pc)
        case .packedExtend(let op):
            guard case .xmm(let d) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let (lo, hi) = floatSource(ops[1], size: i.sourceSize)
            _ = b.helper(.packed(op, destination: d), [lo, hi], result: false, pc: pc)
        case .extractLane:
            guard case .xmm(let x) = ops[1] else { return .exception(.invalidOpcode(pc: pc)) }
            let n = size, lane = Int(ops[2].immediateValue) & (16 / n - 1)
            let bit = lane * n * 8
            var v = b.get(StateSlot.xmm(x) + bit / 64)
            if bit % 64 != 0 { v = b.binary(.shr, v, UInt64(bit % 64)) }
            write(locate(ops[0], size: n), b.zeroExtend(v, size: n))
        case .insertLane:
            guard case .xmm(let x) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let n = size, lane = Int(ops[2].immediateValue) & (16 / n - 1)
            let v = b.zeroExtend(read(locate(ops[1], size: n)), size: n)
            insert(v, bytes: n, bit: lane * n * 8, xmm: x)
        case .insertps:
            guard case .xmm(let x) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let imm = Int(ops[2].immediateValue & 0xFF)
            let v: IRTemp
            switch ops[1] {
            case .xmm(let s):
                let from = (imm >> 6) & 3
                var w = b.get(StateSlot.xmm(s) + from / 2)
                if from & 1 != 0 { w = b.binary(.shr, w, 32) }
                v = b.zeroExtend(w, size: 4)
            case .memory(let m):
                v = b.load(address(m), size: 4, pc: pc)
            default:
                return .exception(.invalidOpcode(pc: pc))
            }
            insert(v, bytes: 4, bit: ((imm >> 4) & 3) * 32, xmm: x)
            for half in 0..<2 {
                var clear: UInt64 = 0
                if imm & (1 << (2 * half)) != 0 { clear |= 0xFFFF_FFFF }
                if imm & (1 << (2 * half + 1)) != 0 { clear |= 0xFFFF_FFFF_0000_0000 }
                if clear != 0 { b.put(StateSlot.xmm(x) + half, b.binary(.and, b.get(StateSlot.xmm(x) + half), ~clear)) }
            }
        case .stringCompare(let explicit, let index):
            guard case .xmm(let d) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let (lo, hi) = xmmSource(ops[1], aligned: false)
            let imm = UInt8(ops[2].immediateValue & 0xFF)
            _ = b.helper(.stringCompare(explicit: explicit, index: index, immediate: imm, size: size),
                         [b.get(StateSlot.xmm(d)), b.get(StateSlot.xmm(d) + 1), lo, hi], result: false, pc: pc)
        case .crc32:
            guard case .register(let r, _) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let v = read(locate(ops[1], size: i.sourceSize))
            if let c = b.helper(.crc32(bytes: i.sourceSize), [b.get(r), v], result: true, pc: pc) {
                writeGPR(r, size: size, c)
            }
        case .ptest:
            guard case .xmm(let d) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let (lo, hi) = xmmSource(ops[1], aligned: true)
            _ = b.helper(.packedTest, [b.get(StateSlot.xmm(d)), b.get(StateSlot.xmm(d) + 1), lo, hi], result: false, pc: pc)
        case .packedShiftImmediate(let op):
            guard case .xmm(let d) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            _ = b.helper(.packedShift(op, destination: d, count: Int(ops[1].immediateValue & 0xFF)), [], result: false, pc: pc)
        case .shuffle(let op):
            guard case .xmm(let d) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let (lo, hi) = xmmSource(ops[1], aligned: true)
            _ = b.helper(.shuffle(op, destination: d, immediate: UInt8(ops[2].immediateValue & 0xFF)), [lo, hi], result: false, pc: pc)
        case .floatArithmetic(let op, let shape):
            guard case .xmm(let d) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let (lo, hi) = floatSource(ops[1], size: shape.memorySize)
            let imm = ops.count > 2 ? UInt8(ops[2].immediateValue & 0xFF) : 0
            _ = b.helper(.floatArithmetic(op, shape, destination: d, immediate: imm), [lo, hi], result: false, pc: pc)
        case .convertIntegerToFloat(let double):
            guard case .xmm(let d) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let v = read(locate(ops[1], size: i.sourceSize))
            _ = b.helper(.convertIntegerToFloat(double: double, destination: d, sourceSize: i.sourceSize), [v], result: false, pc: pc)
        case .convertFloatToInteger(let double, let truncate):
            guard case .register(let r, _) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let (lo, _) = floatSource(ops[1], size: i.sourceSize)
            if let v = b.helper(.convertFloatToInteger(double: double, truncate: truncate, size: size), [lo], result: true, pc: pc) {
                writeGPR(r, size: size, v)
            }
        case .convertFloat(let conversion):
            guard case .xmm(let d) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let (lo, hi) = floatSource(ops[1], size: conversion.memorySize)
            _ = b.helper(.convertFloat(conversion, destination: d), [lo, hi], result: false, pc: pc)
        case .compareScalarFlags(let double, let ordered):
            guard case .xmm(let d) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let (lo, _) = floatSource(ops[1], size: i.sourceSize)
            _ = b.helper(.compareScalarFlags(double: double, ordered: ordered), [b.get(StateSlot.xmm(d)), lo], result: false, pc: pc)
        case .moveMask(let op):
            guard case .register(let r, _) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let (lo, hi) = xmmSource(ops[1], aligned: false)
            if let m = b.helper(.moveMask(op), [lo, hi], result: true, pc: pc) { b.put(r, m) }
        }
        return nil
    }
}

extension Operand {
    /// The immediate's value (0 for other operands).
    var immediateValue: UInt64 {
        if case .immediate(let v) = self { return v }
        return 0
    }
}

extension InstructionEmitter {
    /// An atomic read-modify-write of `size` bytes at `address`; the memory's old value.
    mutating func atomic(_ operation: AtomicOperation, _ address: IRTemp, _ operands: [IRTemp], size: Int) -> IRTemp {
        b.helper(.atomic(operation, size: size), [address] + operands, result: true, pc: pc) ?? b.constant(0)
    }

    /// A LOCK-prefixed instruction (or XCHG, locked implicitly) with a memory destination: one
    /// host atomic on the guest's bytes, the result and flags computed from the old value it
    /// returns. Returns false for forms the ordinary path already does atomically (CMPXCHG16B).
    mutating func translateAtomic(_ i: Instruction, _ m: MemoryOperand) -> Bool {
        let size = i.operandSize
        let ops = i.operands
        switch i.mnemonic {
        case .add, .sub, .adc, .sbb, .and, .or, .xor:
            let a = address(m)
            let s = read(locate(ops[1], size: size), size: size)
            switch i.mnemonic {
            case .add:
                let old = atomic(.add, a, [s], size: size)
                setFlags(.add, size, b.binary(.add, old, s), s)
            case .sub:
                let old = atomic(.add, a, [b.unary(.neg, s)], size: size)
                setFlags(.sub, size, b.binary(.sub, old, s), s)
            case .adc:
                let c = carry()
                let old = atomic(.add, a, [b.binary(.add, s, c)], size: size)
                setFlags(.adc, size, b.binary(.add, b.binary(.add, old, s), c), s, c)
            case .sbb:
                let c = carry()
                let old = atomic(.add, a, [b.unary(.neg, b.binary(.add, s, c))], size: size)
                setFlags(.sbb, size, b.binary(.sub, b.binary(.sub, old, s), c), s, c)
            default:
                let (operation, op): (AtomicOperation, IRBinaryOp) =
                    i.mnemonic == .and ? (.and, .and) : (i.mnemonic == .or ? (.or, .or) : (.xor, .xor))
                let old = atomic(operation, a, [s], size: size)
                let r = b.binary(op, old, s)
                setFlags(.logic, size, r, r)
            }
        case .inc, .dec:
            let a = address(m)
            let one = b.constant(1)
            let c = flagsNeeded ? carry() : one
            let inc = i.mnemonic == .inc
            let old = atomic(.add, a, [inc ? one : b.constant(~0)], size: size)
            setFlags(inc ? .inc : .dec, size, b.binary(inc ? .add : .sub, old, one), one, c)
        case .neg:
            let old = atomic(.negate, address(m), [b.constant(0)], size: size)
            setFlags(.sub, size, b.unary(.neg, old), old)
        case .not:
            _ = atomic(.xor, address(m), [b.constant(sizeMask(size))], size: size)
        case .xchg:
            let a = address(m)
            let source = locate(ops[1], size: size)
            let old = atomic(.exchange, a, [read(source)], size: size)
            write(source, old)
        case .xadd:
            let a = address(m)
            let source = locate(ops[1], size: size)
            let s = read(source)
            let old = atomic(.add, a, [s], size: size)
            write(source, old)
            setFlags(.add, size, b.binary(.add, old, s), s)
        case .cmpxchg:
            let a = address(m)
            let acc = readGPR(0, size: size)
            let src = read(locate(ops[1], size: size))
            let old = atomic(.compareExchange, a, [acc, src], size: size)
            let equal = b.binary(.equal, acc, old)
            // RAX is written only on failure (a 32-bit CMPXCHG that succeeds leaves RAX's top).
            let failed = size == 4 ? old : b.binary(.or, b.binary(.and, b.get(0), ~sizeMask(size)), old)
            b.put(0, b.select(equal, b.get(0), failed))
            setFlags(.sub, size, b.binary(.sub, acc, old), old)
        case .cmpxchg8b:
            let a = address(m)
            let expected = b.binary(.or, readGPR(0, size: 4), b.binary(.shl, readGPR(2, size: 4), 32))
            let replacement = b.binary(.or, readGPR(3, size: 4), b.binary(.shl, readGPR(1, size: 4), 32))
            let old = atomic(.compareExchange, a, [expected, replacement], size: 8)
            let equal = b.binary(.equal, old, expected)
            b.put(0, b.select(equal, b.get(0), b.unary(.zeroExtend32, old)))
            b.put(2, b.select(equal, b.get(2), b.binary(.shr, old, 32)))
            setEFlags(b.binary(.or, b.binary(.and, b.flags(), ~RFlags.zf), b.binary(.shl, equal, 6)))
        case .bts, .btr, .btc:
            let bits = UInt64(size * 8)
            let a: IRTemp, bitIndex: IRTemp
            if case .register = ops[1] {
                let offset = b.signExtend(read(locate(ops[1], size: size)), size: size)
                let byteOffset = b.binary(.shl, b.binary(.sar, offset, UInt64(bits.trailingZeroBitCount)), UInt64(size.trailingZeroBitCount))
                a = b.binary(.add, address(m), byteOffset)
                bitIndex = b.binary(.and, offset, bits - 1)
            } else {
                a = address(m)
                bitIndex = b.binary(.and, read(locate(ops[1], size: size), size: size), bits - 1)
            }
            let mask = b.binary(.shl, b.constant(1), bitIndex)
            let old: IRTemp
            switch i.mnemonic {
            case .bts: old = atomic(.or, a, [mask], size: size)
            case .btr: old = atomic(.and, a, [b.unary(.not, mask)], size: size)
            default: old = atomic(.xor, a, [mask], size: size)
            }
            let bit = b.binary(.and, b.binary(.shr, old, bitIndex), 1)
            setEFlags(b.binary(.or, b.binary(.and, b.flags(), ~RFlags.cf), bit))
        default:
            return false
        }
        return true
    }
}
