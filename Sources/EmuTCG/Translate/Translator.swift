/// The front end: guest x86-64 instructions → an `IRBlock`.
///
/// A block runs until a control transfer, a SYSCALL, an exception, or `maximumInstructions`.
/// Within one instruction every memory access comes before the register and flag writes, so a
/// fault leaves the guest state as it was before the instruction.
public struct Translator: Sendable {
    /// Instructions per block at most.
    public var maximumInstructions: Int

    /// A translator with blocks of at most `maximumInstructions` instructions.
    public init(maximumInstructions: Int = 64) {
        self.maximumInstructions = max(1, maximumInstructions)
    }

    /// Translates the block starting at `pc`, decoding by the rules of `mode` and fetching
    /// instruction bytes through `fetch`.
    /// Never throws: an undecodable instruction or an unfetchable byte becomes the block's
    /// exception exit (at the exact PC), after the instructions before it.
    public func translate(at pc: UInt64, mode: DecodeMode = .long64, fetch: (UInt64) -> UInt8?) -> IRBlock {
        // Decode the whole block first, so that flag liveness can be computed backwards.
        var instructions: [Instruction] = []
        var address = pc
        var exit: IRExit? = nil
        let decoder = Decoder(mode: mode)
        while instructions.count < maximumInstructions {
            let insn: Instruction
            do {
                insn = try decoder.decode(at: address, fetch: fetch)
            } catch {
                switch error {
                case .invalidOpcode(let at): exit = .exception(.invalidOpcode(pc: at))
                case .fetchFault(let at): exit = .exception(.pageFault(pc: address, address: at, write: false))
                }
                break
            }
            instructions.append(insn)
            address = insn.nextAddress
            if insn.mnemonic.endsBlock { break }
        }
        let live = FlagLiveness.liveAfter(instructions, liveAtEnd: true)
        var emitter = InstructionEmitter()
        var end = pc
        for (k, insn) in instructions.enumerated() {
            emitter.flagsNeeded = live[k]
            end = insn.nextAddress
            if let e = emitter.translate(insn) { exit = e; break }
        }
        if exit == nil { exit = .jump(end) }
        return IRBlock(start: pc, end: max(address, pc &+ 1), instructionCount: instructions.count, ops: emitter.b.ops,
                       exit: exit ?? .jump(end), tempCount: Int(emitter.b.tempCount))
    }
}

/// Emits the IR of one block's instructions, one at a time, into its builder. Operand access is
/// in `OperandAccess.swift`; each instruction family is translated by an extension in a file of
/// its own, which `translate(_:)` dispatches to.
struct InstructionEmitter {
    var b = IRBuilder()
    var pc: UInt64 = 0
    /// Whether a later instruction (or the block's successor) may read the flags this
    /// instruction writes; when false, their computation is left out.
    var flagsNeeded = true

    /// Emits IR for one instruction; returns the block exit when the instruction ends the block.
    mutating func translate(_ i: Instruction) -> IRExit? {
        pc = i.address
        if case .memory(let m) = i.operands.first, i.prefixes.lock || i.mnemonic == .xchg, translateAtomic(i, m) { return nil }
        switch i.mnemonic {
        case .add, .or, .adc, .sbb, .and, .sub, .xor, .cmp, .test, .inc, .dec, .neg, .not, .mul, .imul1, .div, .idiv,
             .imul, .rol, .ror, .rcl, .rcr, .shl, .shr, .sar, .shld, .shrd, .bt, .bts, .btr, .btc, .bsf, .bsr, .tzcnt,
             .lzcnt, .popcnt, .bswap, .clc, .stc, .cmc, .cld, .std:
            return translateInteger(i)
        case .mov, .movzx, .movsx, .movsxd, .lea, .xchg, .cmpxchg, .xadd, .cmpxchg16b, .cmpxchg8b, .cmov, .setcc,
             .signExtendAccumulator, .signExtendIntoDX, .push, .pop, .pushf, .popf, .leave, .lahf, .sahf:
            return translateMove(i)
        case .jmp, .jcc, .call, .ret, .jrcxz, .loop:
            return translateControlFlow(i)
        case .movs, .stos, .lods, .cmps, .scas:
            return translateString(i)
        case .nop, .pause, .hlt, .int3, .ud2, .syscall, .cpuid, .rdtsc, .fence, .fxsave, .fxrstor:
            return translateSystem(i)
        case .x87(let opcode, let modrm):
            return translateX87(i, opcode: opcode, modrm: modrm)
        case .mmx(let op):
            return mmx(op, i)
        case .ldmxcsr, .stmxcsr, .move128, .alignedMove128, .movdToXMM, .movdFromXMM, .movq, .movss, .movsdSSE, .movlp,
             .movhp, .movhlps, .movlhps, .packed, .packedShiftImmediate, .shuffle, .moveMask, .floatArithmetic,
             .convertIntegerToFloat, .convertFloatToInteger, .convertFloat, .compareScalarFlags:
            return translateSSE(i)
        case .movddup:
            return translateSSE3(i)
        case .packedExtend, .extractLane, .insertLane, .insertps, .stringCompare, .crc32, .ptest:
            return translateSSE4(i)
        case .system(let op):
            return translateSystemOperation(op)
        }
    }
}
