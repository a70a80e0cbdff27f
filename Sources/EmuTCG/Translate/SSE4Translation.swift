extension InstructionEmitter {
    /// SSE4.1 and SSE4.2: PMOVSX/PMOVZX, lane extracts and inserts (PEXTR*/PINSR*, with SSE2's
    /// PEXTRW/PINSRW), INSERTPS, PTEST, CRC32, PCMPESTR*/PCMPISTR*.
    mutating func translateSSE4(_ i: Instruction) -> IRExit? {
        let size = i.operandSize
        let ops = i.operands
        switch i.mnemonic {
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
        default:
            // Not an SSE4 mnemonic: `translate(_:)` hands those to their own family.
            return .exception(.invalidOpcode(pc: pc))
        }
        return nil
    }
}
