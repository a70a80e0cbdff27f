/// A resolved operand: where to read and write it.
enum Location {
    case register(Int, size: Int)
    case highByte(Int)
    case memory(IRTemp, size: Int)
    case immediate(UInt64)
}

@inline(__always) func sizeMask(_ size: Int) -> UInt64 { size >= 8 ? ~0 : (1 << UInt64(size * 8)) - 1 }

extension InstructionEmitter {
    /// The effective address of a memory operand (segment base included).
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
}

extension Operand {
    /// The immediate's value (0 for other operands).
    var immediateValue: UInt64 {
        if case .immediate(let v) = self { return v }
        return 0
    }
}
