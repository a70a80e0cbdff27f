extension InstructionEmitter {
    /// An x87 instruction: one helper call with the escape opcode, the ModRM byte and the memory
    /// operand's address, if any.
    mutating func translateX87(_ i: Instruction, opcode: UInt8, modrm: UInt8) -> IRExit? {
        var args: [IRTemp] = []
        if case .memory(let m) = i.operands.first { args.append(address(m)) }
        _ = b.helper(.x87(opcode: opcode, modrm: modrm), args, result: false, pc: pc)
        return nil
    }
}
