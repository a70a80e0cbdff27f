/// Which instructions' flag results are read before being overwritten: lazy condition codes
/// already defer computing flags, this pass drops even recording them when no one can read them.
///
/// An instruction that may fault counts as a reader: at a fault the guest (a signal handler's
/// `uc_mcontext.eflags`) must see the flags every earlier instruction of the block computed, so
/// flags stay recorded up to each load, store, stack access, division or helper that can raise.
enum FlagLiveness {
    /// For each instruction, whether the flags are live after it. `liveAtEnd`: whether the
    /// block's successor may read them (true unless known otherwise).
    static func liveAfter(_ instructions: [Instruction], liveAtEnd: Bool) -> [Bool] {
        var result = [Bool](repeating: true, count: instructions.count)
        var live = liveAtEnd
        for k in stride(from: instructions.count - 1, through: 0, by: -1) {
            let insn = instructions[k]
            result[k] = live
            if reads(insn) || mayFault(insn) { live = true } else if writesAll(insn) { live = false }
        }
        return result
    }

    /// May raise an exception (so the flags before it must be the architectural ones):
    /// any memory access, the stack, division, string operations, SSE floating point (#XM), x87
    /// and the state save/restore instructions. LEA and the hinting NOPs only compute addresses.
    static func mayFault(_ i: Instruction) -> Bool {
        switch i.mnemonic {
        case .lea, .nop, .pause, .fence:
            return false
        case .push, .pop, .pushf, .popf, .call, .ret, .leave, .div, .idiv, .movs, .stos, .lods, .cmps, .scas,
             .floatArithmetic, .convertIntegerToFloat, .convertFloatToInteger, .convertFloat, .compareScalarFlags,
             .x87, .fxsave, .fxrstor, .ldmxcsr, .stmxcsr, .cmpxchg16b, .cmpxchg8b, .hlt, .int3, .ud2, .system:
            return true
        default:
            return i.operands.contains { if case .memory = $0 { return true } else { return false } }
        }
    }

    /// Writes every arithmetic flag unconditionally (without reading any).
    static func writesAll(_ i: Instruction) -> Bool {
        switch i.mnemonic {
        case .add, .or, .and, .sub, .xor, .cmp, .test, .neg, .imul, .imul1, .mul:
            return true
        case .shl, .shr, .sar:
            // A shift by zero leaves the flags as they were.
            if case .immediate(let c)? = i.operands.last { return c & (i.operandSize == 8 ? 63 : 31) != 0 }
            return false
        default:
            return false
        }
    }

    /// May read the flags (conservatively: anything not known to be flag-neutral and not a
    /// pure writer is treated as a reader).
    static func reads(_ i: Instruction) -> Bool {
        switch i.mnemonic {
        case .add, .or, .and, .sub, .xor, .cmp, .test, .neg, .imul, .imul1, .mul, .shl, .shr, .sar:
            return false
        case .mov, .movzx, .movsx, .movsxd, .lea, .push, .pop, .xchg, .nop, .pause, .fence, .bswap, .not,
             .signExtendAccumulator, .signExtendIntoDX, .leave, .call, .jmp, .ret, .move128, .alignedMove128,
             .movdToXMM, .movdFromXMM, .movq, .movss, .movsdSSE, .movlp, .movhp, .movhlps, .movlhps, .movddup, .packed, .packedExtend, .extractLane, .insertLane, .insertps, .crc32,
             .packedShiftImmediate, .shuffle, .moveMask, .cld, .std, .div, .idiv, .movs, .stos, .lods, .cpuid,
             .rdtsc, .floatArithmetic, .convertFloat, .convertIntegerToFloat, .convertFloatToInteger, .ldmxcsr,
             .stmxcsr, .fxsave, .fxrstor, .jrcxz:
            return false
        default:
            return true
        }
    }
}

extension Mnemonic {
    /// Whether this instruction ends a translation block (a control transfer, SYSCALL, or an
    /// instruction that always raises an exception, as HLT and the system instructions do in
    /// user mode).
    var endsBlock: Bool {
        switch self {
        case .jmp, .jcc, .call, .ret, .jrcxz, .loop, .syscall, .ud2, .hlt, .int3, .system:
            return true
        default:
            return false
        }
    }
}
