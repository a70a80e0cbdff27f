extension InstructionEmitter {
    /// An MMX instruction: reads the source operand (MM register, XMM low half, general register
    /// or memory) before the helper runs, so a faulting load leaves the x87/MMX state untouched;
    /// writes a produced value (MOVD/MOVQ out, PMOVMSKB, PEXTRW, MOVQ2DQ) after it.
    mutating func mmx(_ op: MMXOperation, _ i: Instruction) -> IRExit? {
        let ops = i.operands
        let ud = IRExit.exception(.invalidOpcode(pc: pc))
        var immediate: UInt8 = 0
        if let last = ops.last, case .immediate(let v) = last { immediate = UInt8(v & 0xFF) }
        var mm = 0
        var source = b.constant(0), target = b.constant(0)
        switch op {
        case .emms:
            break
        case .convertToXMM:
            guard ops.count == 2, case .xmm(let x) = ops[0] else { return ud }
            mm = x
            switch ops[1] {
            case .mmx(let k): source = b.get(MMX.slot(k))
            case .memory(let m): source = b.load(address(m), size: 8, pc: pc)
            default: return ud
            }
        case .convertFromXMM:
            guard ops.count == 2, case .mmx(let r) = ops[0] else { return ud }
            mm = r
            switch ops[1] {
            case .xmm(let x):
                // CVT(T)PS2PI reads only the low two singles (no flags from the others).
                source = b.get(StateSlot.xmm(x))
                if i.sourceSize == 16 { target = b.get(StateSlot.xmm(x) + 1) }
            case .memory(let m):
                if i.sourceSize == 16 { (source, target) = xmmSource(ops[1], aligned: true) }
                else { source = b.load(address(m), size: 8, pc: pc) }
            default: return ud
            }
        case .store, .moveMask, .extractWord:
            guard ops.count >= 2, case .mmx(let r) = ops[1] else { return ud }
            mm = r
        case .maskMove:
            guard ops.count == 2, case .mmx(let r) = ops[0], case .mmx(let k) = ops[1] else { return ud }
            mm = r
            source = b.get(MMX.slot(k))
            target = b.get(7) // RDI
            if i.prefixes.addressSizeOverride { target = b.unary(.zeroExtend32, target) }
            switch i.prefixes.segment {
            case .fs: target = b.binary(.add, target, b.get(StateSlot.fsBase))
            case .gs: target = b.binary(.add, target, b.get(StateSlot.gsBase))
            case .none: break
            }
        default:
            guard let first = ops.first, case .mmx(let r) = first else { return ud }
            mm = r
            if ops.count >= 2 {
                switch ops[1] {
                case .mmx(let k): source = b.get(MMX.slot(k))
                case .xmm(let x): source = b.get(StateSlot.xmm(x))
                case .register(let g, let s): source = b.get(g, size: s)
                case .memory(let m): source = b.load(address(m), size: i.sourceSize, pc: pc)
                case .immediate: break
                case .highByte: return ud
                }
            }
        }
        let result = b.helper(.mmx(op, destination: mm, immediate: immediate), [source, target],
                              result: op.producesResult, pc: pc)
        guard op.producesResult, let result else { return nil }
        switch ops[0] {
        case .xmm(let x):
            b.put(StateSlot.xmm(x), result); b.put(StateSlot.xmm(x) + 1, b.constant(0))
        case .register, .memory:
            write(locate(ops[0], size: i.operandSize), i.operandSize == 8 ? result : b.zeroExtend(result, size: i.operandSize))
        default:
            return ud
        }
        return nil
    }
}
