extension InstructionEmitter {
    /// Control transfers: JMP, Jcc, JRCXZ, LOOPcc, CALL, RET. Each returns the block exit.
    mutating func translateControlFlow(_ i: Instruction) -> IRExit? {
        let size = i.operandSize
        let ops = i.operands
        let next = i.nextAddress
        switch i.mnemonic {
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
        default:
            // Not a control-flow mnemonic: `translate(_:)` hands those to their own family.
            return .exception(.invalidOpcode(pc: pc))
        }
    }
}
