extension InstructionEmitter {
    /// A string instruction (MOVS, STOS, LODS, CMPS, SCAS), with or without REP: one helper call
    /// runs the whole repetition.
    mutating func translateString(_ i: Instruction) -> IRExit? {
        let addressSize = i.prefixes.addressSizeOverride ? 4 : 8
        _ = b.helper(.string(i.mnemonic, size: i.operandSize, rep: i.prefixes.rep, repne: i.prefixes.repne,
                             addressSize: addressSize), [], result: false, pc: pc)
        return nil
    }
}
