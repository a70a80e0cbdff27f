
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
