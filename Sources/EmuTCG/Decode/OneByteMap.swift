private let groupOneMnemonics: [Mnemonic] = [.add, .or, .adc, .sbb, .and, .sub, .xor, .cmp]
private let groupTwoMnemonics: [Mnemonic] = [.rol, .ror, .rcl, .rcr, .shl, .shr, .shl, .sar]

extension DecodeCursor {
    /// The one-byte opcode map (everything not behind 0F).
    mutating func oneByte(_ op: UInt8) throws(DecodeError) -> Instruction {
        let size = operandSize
        switch op {
        case 0x00...0x3F where op & 7 < 6:
            let mn = groupOneMnemonics[Int(op >> 3)]
            switch op & 7 {
            case 0: let m = try modrm(); return make(mn, 1, [rmOperand(m, size: 1), gpr(m.reg, size: 1)])
            case 1: let m = try modrm(); return make(mn, size, [rmOperand(m, size: size), gpr(m.reg, size: size)])
            case 2: let m = try modrm(); return make(mn, 1, [gpr(m.reg, size: 1), rmOperand(m, size: 1)])
            case 3: let m = try modrm(); return make(mn, size, [gpr(m.reg, size: size), rmOperand(m, size: size)])
            case 4: return make(mn, 1, [.register(0, size: 1), .immediate(try imm8())])
            default: return make(mn, size, [.register(0, size: size), .immediate(try immZ(size))])
            }
        case 0x50...0x57:
            return make(.push, stackSize, [.register(Int(op & 7) + rexB, size: stackSize)])
        case 0x58...0x5F:
            return make(.pop, stackSize, [.register(Int(op & 7) + rexB, size: stackSize)])
        case 0x63:
            let m = try modrm()
            return make(.movsxd, size, [gpr(m.reg, size: size), rmOperand(m, size: 4)], source: 4)
        case 0x68: return make(.push, stackSize, [.immediate(try immZ(stackSize))])
        case 0x6A: return make(.push, stackSize, [.immediate(try imm8())])
        case 0x69, 0x6B:
            let m = try modrm()
            let imm = op == 0x69 ? try immZ(size) : try imm8()
            return make(.imul, size, [gpr(m.reg, size: size), rmOperand(m, size: size), .immediate(imm)])
        case 0x70...0x7F:
            let rel = try imm8()
            return make(.jcc, 8, [.immediate(relativeTarget(rel))], cc: op & 15)
        case 0x80, 0x81, 0x83:
            let s = op == 0x80 ? 1 : size
            let m = try modrm()
            let imm = op == 0x81 ? try immZ(s) : try imm8()
            return make(groupOneMnemonics[m.reg & 7], s, [rmOperand(m, size: s), .immediate(imm)])
        case 0x84, 0x85:
            let s = op == 0x84 ? 1 : size
            let m = try modrm()
            return make(.test, s, [rmOperand(m, size: s), gpr(m.reg, size: s)])
        case 0x86, 0x87:
            let s = op == 0x86 ? 1 : size
            let m = try modrm()
            return make(.xchg, s, [rmOperand(m, size: s), gpr(m.reg, size: s)])
        case 0x88...0x8B:
            let s = op & 1 == 0 ? 1 : size
            let m = try modrm()
            if op < 0x8A { return make(.mov, s, [rmOperand(m, size: s), gpr(m.reg, size: s)]) }
            return make(.mov, s, [gpr(m.reg, size: s), rmOperand(m, size: s)])
        case 0x8D:
            let m = try modrm()
            guard var mem = m.memory else { throw invalid }
            mem.segment = .none
            return make(.lea, size, [gpr(m.reg, size: size), .memory(mem)])
        case 0x8F:
            let m = try modrm()
            guard m.reg & 7 == 0 else { throw invalid }
            return make(.pop, stackSize, [rmOperand(m, size: stackSize)])
        case 0x90:
            if rexB != 0 { return make(.xchg, size, [.register(8, size: size), .register(0, size: size)]) }
            return make(prefixes.rep ? .pause : .nop, size, [])
        case 0x91...0x97:
            return make(.xchg, size, [.register(Int(op & 7) + rexB, size: size), .register(0, size: size)])
        case 0x98: return make(.signExtendAccumulator, size, [])
        case 0x99: return make(.signExtendIntoDX, size, [])
        case 0x9C: return make(.pushf, stackSize, [])
        case 0x9D: return make(.popf, stackSize, [])
        case 0x9E: return make(.sahf, 1, [])
        case 0x9F: return make(.lahf, 1, [])
        case 0xA8: return make(.test, 1, [.register(0, size: 1), .immediate(try imm8())])
        case 0xA9: return make(.test, size, [.register(0, size: size), .immediate(try immZ(size))])
        case 0xA4, 0xA5, 0xA6, 0xA7, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF:
            let s = op & 1 == 0 ? 1 : size
            let mn: Mnemonic
            switch op & 0xFE {
            case 0xA4: mn = .movs
            case 0xA6: mn = .cmps
            case 0xAA: mn = .stos
            case 0xAC: mn = .lods
            default: mn = .scas
            }
            return make(mn, s, [])
        case 0xB0...0xB7:
            return make(.mov, 1, [gpr(Int(op & 7) + rexB, size: 1), .immediate(try imm8())])
        case 0xB8...0xBF:
            let imm = rexW ? try imm64() : (size == 2 ? try imm16() : try imm32() & 0xFFFF_FFFF)
            return make(.mov, size, [.register(Int(op & 7) + rexB, size: size), .immediate(imm)])
        case 0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3:
            let s = op & 1 == 0 ? 1 : size
            let m = try modrm()
            let count: Operand
            switch op {
            case 0xC0, 0xC1: count = .immediate(try immByte())
            case 0xD0, 0xD1: count = .immediate(1)
            default: count = .register(1, size: 1)
            }
            return make(groupTwoMnemonics[m.reg & 7], s, [rmOperand(m, size: s), count])
        case 0xC2: return make(.ret, 8, [.immediate(try imm16() & 0xFFFF)])
        case 0xC3: return make(.ret, 8, [])
        case 0xC6, 0xC7:
            let s = op == 0xC6 ? 1 : size
            let m = try modrm()
            guard m.reg & 7 == 0 else { throw invalid }
            let imm = s == 1 ? try imm8() : try immZ(s)
            return make(.mov, s, [rmOperand(m, size: s), .immediate(imm)])
        case 0xC9: return make(.leave, 8, [])
        case 0xCC: return make(.int3, 8, [])
        case 0xD8...0xDF:
            let raw = try peekByte()
            let m = try modrm()
            return make(.x87(opcode: op, modrm: raw), 8, m.memory.map { [.memory($0)] } ?? [])
        case 0x9B:
            return make(.nop, 8, []) // FWAIT: no pending x87 exceptions are modelled
        case 0xE0, 0xE1, 0xE2:
            // LOOPNE, LOOPE, LOOP
            let rel = try imm8()
            return make(.loop, 8, [.immediate(relativeTarget(rel))], cc: op & 3)
        case 0xE3:
            let rel = try imm8()
            return make(.jrcxz, addressSize, [.immediate(relativeTarget(rel))])
        case 0xE8:
            let rel = try imm32()
            return make(.call, 8, [.immediate(relativeTarget(rel))])
        case 0xE9:
            let rel = try imm32()
            return make(.jmp, 8, [.immediate(relativeTarget(rel))])
        case 0xEB:
            let rel = try imm8()
            return make(.jmp, 8, [.immediate(relativeTarget(rel))])
        case 0xF4: return make(.hlt, 8, [])
        case 0xF5: return make(.cmc, 8, [])
        case 0xF6, 0xF7:
            let s = op == 0xF6 ? 1 : size
            let m = try modrm()
            let target = rmOperand(m, size: s)
            switch m.reg & 7 {
            case 0, 1: return make(.test, s, [target, .immediate(s == 1 ? try imm8() : try immZ(s))])
            case 2: return make(.not, s, [target])
            case 3: return make(.neg, s, [target])
            case 4: return make(.mul, s, [target])
            case 5: return make(.imul1, s, [target])
            case 6: return make(.div, s, [target])
            default: return make(.idiv, s, [target])
            }
        case 0xF8: return make(.clc, 8, [])
        case 0xF9: return make(.stc, 8, [])
        case 0xFC: return make(.cld, 8, [])
        case 0xFD: return make(.std, 8, [])
        case 0xFE:
            let m = try modrm()
            switch m.reg & 7 {
            case 0: return make(.inc, 1, [rmOperand(m, size: 1)])
            case 1: return make(.dec, 1, [rmOperand(m, size: 1)])
            default: throw invalid
            }
        case 0xFF:
            let m = try modrm()
            switch m.reg & 7 {
            case 0: return make(.inc, size, [rmOperand(m, size: size)])
            case 1: return make(.dec, size, [rmOperand(m, size: size)])
            case 2: return make(.call, 8, [rmOperand(m, size: 8)])
            case 3, 5:
                // Far CALL/JMP through a pointer in memory: an offset of the operand size, then
                // a selector.
                guard let mem = m.memory else { throw invalid }
                return make(.system(m.reg & 7 == 3 ? .farCall : .farJump), size, [.memory(mem)])
            case 4: return make(.jmp, 8, [rmOperand(m, size: 8)])
            case 6: return make(.push, stackSize, [rmOperand(m, size: stackSize)])
            default: throw invalid
            }
        case 0x6C, 0x6D, 0x6E, 0x6F:
            // INS, OUTS: bytes, or words/dwords by 66 (REX.W does not widen port accesses).
            let s = op & 1 == 0 ? 1 : portSize
            return make(.system(op < 0x6E ? .portInString : .portOutString), s, [])
        case 0xE4, 0xE5, 0xEC, 0xED:
            let s = op & 1 == 0 ? 1 : portSize
            let port: Operand = op < 0xEC ? .immediate(try immByte()) : .register(2, size: 2)
            return make(.system(.portIn), s, [.register(0, size: s), port])
        case 0xE6, 0xE7, 0xEE, 0xEF:
            let s = op & 1 == 0 ? 1 : portSize
            let port: Operand = op < 0xEE ? .immediate(try immByte()) : .register(2, size: 2)
            return make(.system(.portOut), s, [port, .register(0, size: s)])
        case 0x8C:
            // MOV r/m, Sreg: a register destination at the operand size, memory at 16 bits.
            let m = try modrm()
            guard let segment = SegmentRegister(rawValue: m.reg & 7) else { throw invalid }
            let s = m.memory == nil ? size : 2
            return make(.system(.moveFromSegment(segment)), s, [rmOperand(m, size: s)])
        case 0x8E:
            // MOV Sreg, r/m: the selector is the low 16 bits of a register source (named at the
            // operand size) or a 16-bit memory source. CS cannot be loaded.
            let m = try modrm()
            guard let segment = SegmentRegister(rawValue: m.reg & 7), segment != .cs else { throw invalid }
            let s = m.memory == nil ? size : 2
            return make(.system(.moveToSegment(segment)), s, [rmOperand(m, size: s)])
        case 0xCA:
            return make(.system(.farReturn), size, [.immediate(try imm16() & 0xFFFF)])
        case 0xCB:
            return make(.system(.farReturn), size, [])
        case 0xCD:
            return make(.system(.softwareInterrupt), 8, [.immediate(try immByte())])
        case 0xCF:
            return make(.system(.interruptReturn), size, [])
        case 0xFA: return make(.system(.clearInterruptFlag), 8, [])
        case 0xFB: return make(.system(.setInterruptFlag), 8, [])
        default:
            throw invalid
        }
    }
}
