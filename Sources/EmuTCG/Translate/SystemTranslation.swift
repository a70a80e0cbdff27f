extension InstructionEmitter {
    /// System and miscellaneous instructions: NOP and PAUSE, HLT (#GP in user mode), INT3, UD2, SYSCALL
    /// (the block exit), CPUID, RDTSC, fences, FXSAVE/FXRSTOR.
    mutating func translateSystem(_ i: Instruction) -> IRExit? {
        let ops = i.operands
        let next = i.nextAddress
        switch i.mnemonic {
        case .fence:
            _ = b.helper(.fence, [], result: false, pc: pc)
        case .nop, .pause:
            break
        case .hlt:
            return .exception(.generalProtection(pc: pc))
        case .int3:
            return .exception(.breakpoint(pc: next))
        case .ud2:
            return .exception(.invalidOpcode(pc: pc))
        case .syscall:
            return .syscall(at: pc, next: next)
        case .cpuid:
            _ = b.helper(.cpuid, [], result: false, pc: pc)
        case .rdtsc:
            _ = b.helper(.rdtsc, [], result: false, pc: pc)
        case .fxsave, .fxrstor:
            guard case .memory(let m) = ops.first else { return .exception(.invalidOpcode(pc: pc)) }
            _ = b.helper(i.mnemonic == .fxsave ? .fxsave : .fxrstor, [address(m)], result: false, pc: pc)
        default:
            // Not a system mnemonic: `translate(_:)` hands those to their own family.
            return .exception(.invalidOpcode(pc: pc))
        }
        return nil
    }
}

extension InstructionEmitter {
    /// A system instruction (`SystemOperation`): the CPU runs 64-bit user mode only, where each
    /// of them ends the block with #UD at its PC.
    mutating func translateSystemOperation(_ op: SystemOperation) -> IRExit? {
        .exception(.invalidOpcode(pc: pc))
    }
}
