extension InstructionEmitter {
    /// MOVDDUP (SSE3): the one SSE3/SSSE3 instruction with a shape of its own. The other SSE3 and
    /// SSSE3 operations are `PackedOp`s and `FloatOp`s, which `translateSSE` translates.
    mutating func translateSSE3(_ i: Instruction) -> IRExit? {
        let ops = i.operands
        guard case .xmm(let d) = ops[0] else { return .exception(.invalidOpcode(pc: pc)) }
        let v: IRTemp
        if case .memory(let m) = ops[1] { v = b.load(address(m), size: 8, pc: pc) }
        else { v = xmmSource(ops[1], aligned: false).0 }
        b.put(StateSlot.xmm(d), v); b.put(StateSlot.xmm(d) + 1, v)
        return nil
    }
}
