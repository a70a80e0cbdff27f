extension InstructionEmitter {
    /// SSE and SSE2: 128-bit and scalar moves, MOVD/MOVQ, packed integer operations, shuffles and immediate
    /// shifts, floating-point arithmetic, conversions and compares, move masks, LDMXCSR/STMXCSR. The packed
    /// SSSE3 and SSE4.1 operations and SSE3's float arithmetic have the same shapes and come through here
    /// too (`PackedOp`, `FloatOp`).
    mutating func translateSSE(_ i: Instruction) -> IRExit? {
        let size = i.operandSize
        let ops = i.operands
        switch i.mnemonic {
        case .ldmxcsr:
            let v = read(locate(ops[0], size: 4))
            _ = b.helper(.loadMXCSR, [v], result: false, pc: pc)
        case .stmxcsr:
            write(locate(ops[0], size: 4), b.get(StateSlot.mxcsr))
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
        case .movhlps, .movlhps:
            guard case .xmm(let d) = ops[0], case .xmm(let s) = ops[1] else { return .exception(.invalidOpcode(pc: pc)) }
            if i.mnemonic == .movhlps { b.put(StateSlot.xmm(d), b.get(StateSlot.xmm(s) + 1)) }
            else { b.put(StateSlot.xmm(d) + 1, b.get(StateSlot.xmm(s))) }
        case .packed(let op):
            guard case .xmm(let d) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
            let (lo, hi) = xmmSource(ops[1], aligned: true)
            _ = b.helper(.packed(op, destination: d), [lo, hi], result: false, pc: pc)
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
        default:
            // Not an SSE/SSE2 mnemonic: `translate(_:)` hands those to their own family.
            return .exception(.invalidOpcode(pc: pc))
        }
        return nil
    }
}
