extension InstructionEmitter {
    /// Integer data movement: MOV and its extending forms, LEA, XCHG, CMPXCHG, XADD, CMOVcc, SETcc, the
    /// sign extensions of RAX, the stack (PUSH, POP, PUSHF, POPF, LEAVE) and LAHF/SAHF.
    mutating func translateMove(_ i: Instruction) -> IRExit? {
        let size = i.operandSize
        let ops = i.operands
        switch i.mnemonic {
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
        case .lahf:
            let f = b.binary(.or, b.binary(.and, b.flags(), 0xD5), 0x2)
            write(.highByte(0), f)
        case .sahf:
            let ah = read(.highByte(0))
            let f = b.binary(.or, b.binary(.and, b.flags(), RFlags.of), b.binary(.and, ah, 0xD5))
            setEFlags(f)
        default:
            // Not a data-movement mnemonic: `translate(_:)` hands those to their own family.
            return .exception(.invalidOpcode(pc: pc))
        }
        return nil
    }
}
