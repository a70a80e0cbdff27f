/// Decodes 64-bit-mode x86 instructions from any byte source.
///
/// Every byte comes through `fetch`, which returns nil for an address the guest may not execute;
/// the decoder never reads more than 15 bytes and returns `DecodeError` for anything it does not
/// implement, so a hostile byte stream produces an error, never a trap.
public struct Decoder: Sendable {
    /// A decoder for 64-bit mode.
    public init() {}

    /// Decodes the instruction at `address`.
    /// - Throws: `DecodeError.invalidOpcode` for undefined/unimplemented encodings or more than
    ///   15 bytes; `DecodeError.fetchFault` when `fetch` returns nil.
    public func decode(at address: UInt64, fetch: (UInt64) -> UInt8?) throws(DecodeError) -> Instruction {
        try withoutActuallyEscaping(fetch) { (f) throws(DecodeError) -> Instruction in
            var c = Cursor(start: address, fetch: f)
            return try c.decode()
        }
    }
}

private let groupOneMnemonics: [Mnemonic] = [.add, .or, .adc, .sbb, .and, .sub, .xor, .cmp]
private let groupTwoMnemonics: [Mnemonic] = [.rol, .ror, .rcl, .rcr, .shl, .shr, .shl, .sar]

private struct ModRM {
    var mod: UInt8
    var reg: Int   // with REX.R
    var rm: Int    // with REX.B (register form)
    var memory: MemoryOperand?
}

private struct Cursor {
    let start: UInt64
    let fetch: (UInt64) -> UInt8?
    var offset = 0
    var prefixes = Prefixes()
    /// Displacement of a RIP-relative operand still to be resolved once the length is known.
    var pendingRIPRelative = false

    init(start: UInt64, fetch: @escaping (UInt64) -> UInt8?) {
        self.start = start
        self.fetch = fetch
    }

    mutating func byte() throws(DecodeError) -> UInt8 {
        guard offset < 15 else { throw .invalidOpcode(address: start) }
        let at = start &+ UInt64(offset)
        guard let b = fetch(at) else { throw .fetchFault(address: at) }
        offset += 1
        return b
    }

    mutating func imm8() throws(DecodeError) -> UInt64 { UInt64(bitPattern: Int64(Int8(bitPattern: try byte()))) }
    mutating func imm16() throws(DecodeError) -> UInt64 {
        let lo = UInt16(try byte()), hi = UInt16(try byte())
        return UInt64(bitPattern: Int64(Int16(bitPattern: lo | hi << 8)))
    }
    mutating func imm32() throws(DecodeError) -> UInt64 {
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(try byte()) << (8 * UInt32(i)) }
        return UInt64(bitPattern: Int64(Int32(bitPattern: v)))
    }
    mutating func imm64() throws(DecodeError) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(try byte()) << (8 * UInt64(i)) }
        return v
    }
    /// Iz: 16 bits for 16-bit operands, else 32 bits sign-extended.
    mutating func immZ(_ size: Int) throws(DecodeError) -> UInt64 { size == 2 ? try imm16() : try imm32() }

    var rexW: Bool { prefixes.rex & 8 != 0 }
    var rexR: Int { prefixes.rex & 4 != 0 ? 8 : 0 }
    var rexX: Int { prefixes.rex & 2 != 0 ? 8 : 0 }
    var rexB: Int { prefixes.rex & 1 != 0 ? 8 : 0 }
    var operandSize: Int { rexW ? 8 : (prefixes.operandSizeOverride ? 2 : 4) }
    /// Operand size of instructions that default to 64 bits (PUSH, POP, CALL, …).
    var stackSize: Int { prefixes.operandSizeOverride && !rexW ? 2 : 8 }

    var invalid: DecodeError { .invalidOpcode(address: start) }

    /// The next byte without consuming it.
    func peekModRM() throws(DecodeError) -> UInt8 {
        guard offset < 15 else { throw .invalidOpcode(address: start) }
        let at = start &+ UInt64(offset)
        guard let b = fetch(at) else { throw .fetchFault(address: at) }
        return b
    }

    mutating func modrm() throws(DecodeError) -> ModRM {
        let b = try byte()
        let mod = b >> 6
        let reg = Int((b >> 3) & 7) + rexR
        let rmLow = Int(b & 7)
        if mod == 3 { return ModRM(mod: 3, reg: reg, rm: rmLow + rexB, memory: nil) }
        var mem = MemoryOperand(segment: prefixes.segment, addressSize: prefixes.addressSizeOverride ? 4 : 8)
        if rmLow == 4 {
            let sib = try byte()
            let scale = 1 << Int(sib >> 6)
            let index = Int((sib >> 3) & 7) + rexX
            let base = Int(sib & 7)
            if index != 4 { mem.index = index; mem.scale = scale }
            if base == 5 && mod == 0 {
                mem.displacement = Int64(bitPattern: try imm32())
            } else {
                mem.base = base + rexB
            }
        } else if rmLow == 5 && mod == 0 {
            mem.displacement = Int64(bitPattern: try imm32())
            mem.ripRelative = true
            pendingRIPRelative = true
        } else {
            mem.base = rmLow + rexB
        }
        if mod == 1 { mem.displacement = Int64(bitPattern: try imm8()) }
        if mod == 2 { mem.displacement = Int64(bitPattern: try imm32()) }
        return ModRM(mod: mod, reg: reg, rm: rmLow + rexB, memory: mem)
    }

    /// The r/m operand at `size` (1 handles AH…BH without REX).
    func rmOperand(_ m: ModRM, size: Int) -> Operand {
        if let mem = m.memory { return .memory(mem) }
        return gpr(m.rm, size: size)
    }
    func gpr(_ index: Int, size: Int) -> Operand {
        if size == 1 && prefixes.rex == 0 && index >= 4 && index < 8 { return .highByte(index - 4) }
        return .register(index, size: size)
    }
    func xmmOrMemory(_ m: ModRM) -> Operand {
        if let mem = m.memory { return .memory(mem) }
        return .xmm(m.rm)
    }
    /// The r/m operand of an MMX instruction: MM0–7 (REX.B is ignored) or memory.
    func mmOrMemory(_ m: ModRM) -> Operand {
        if let mem = m.memory { return .memory(mem) }
        return .mmx(m.rm & 7)
    }
    /// Whether no 66/F2/F3 prefix selects an SSE form (so 0F xx is the MMX form).
    var mmxForm: Bool { !prefixes.operandSizeOverride && !prefixes.rep && !prefixes.repne }

    /// An instruction with its length and RIP-relative operands still to be finished by
    /// `decode()` (arguments are evaluated after `self` is copied for this call, so the cursor's
    /// offset here may not count the immediates yet).
    func make(_ mnemonic: Mnemonic, _ size: Int, _ operands: [Operand], cc: UInt8 = 0, source: Int? = nil) -> Instruction {
        Instruction(address: start, length: 0, mnemonic: mnemonic, operandSize: size,
                    operands: operands, condition: cc, prefixes: prefixes, sourceSize: source ?? size)
    }

    /// Sets the length and resolves RIP-relative operands against the next instruction.
    func finish(_ insn: Instruction) -> Instruction {
        var insn = insn
        insn.length = offset
        if pendingRIPRelative {
            let next = start &+ UInt64(offset)
            for i in insn.operands.indices {
                if case .memory(var mem) = insn.operands[i], mem.ripRelative, mem.base == nil {
                    mem.displacement = Int64(bitPattern: next &+ UInt64(bitPattern: mem.displacement))
                    insn.operands[i] = .memory(mem)
                }
            }
        }
        return insn
    }

    mutating func decode() throws(DecodeError) -> Instruction {
        var op: UInt8
        prefixLoop: while true {
            op = try byte()
            switch op {
            case 0xF0: prefixes.lock = true
            case 0xF2: prefixes.repne = true; prefixes.rep = false
            case 0xF3: prefixes.rep = true; prefixes.repne = false
            case 0x66: prefixes.operandSizeOverride = true
            case 0x67: prefixes.addressSizeOverride = true
            case 0x64: prefixes.segment = .fs
            case 0x65: prefixes.segment = .gs
            case 0x26, 0x2E, 0x36, 0x3E: break
            default: break prefixLoop
            }
            prefixes.rex = 0 // a REX before a legacy prefix is ignored
        }
        if op & 0xF0 == 0x40 {
            prefixes.rex = op
            op = try byte()
        }
        let decoded = op == 0x0F ? try twoByte() : try oneByte(op)
        let insn = finish(decoded)
        if prefixes.lock && !Cursor.lockable(insn) { throw invalid }
        return insn
    }

    static func lockable(_ insn: Instruction) -> Bool {
        guard case .memory = insn.operands.first else { return false }
        switch insn.mnemonic {
        case .add, .or, .adc, .sbb, .and, .sub, .xor, .inc, .dec, .neg, .not, .xchg, .cmpxchg, .xadd,
             .bts, .btr, .btc, .cmpxchg16b, .cmpxchg8b:
            return true
        default:
            return false
        }
    }

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
            return make(.jcc, 8, [.immediate(start &+ UInt64(offset) &+ rel)], cc: op & 15)
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
            case 0xC0, 0xC1: count = .immediate(try imm8() & 0xFF)
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
            let raw = try peekModRM()
            let m = try modrm()
            return make(.x87(opcode: op, modrm: raw), 8, m.memory.map { [.memory($0)] } ?? [])
        case 0x9B:
            return make(.nop, 8, []) // FWAIT: no pending x87 exceptions are modelled
        case 0xE0, 0xE1, 0xE2:
            // LOOPNE, LOOPE, LOOP
            let rel = try imm8()
            return make(.loop, 8, [.immediate(start &+ UInt64(offset) &+ rel)], cc: op & 3)
        case 0xE3:
            let rel = try imm8()
            return make(.jrcxz, prefixes.addressSizeOverride ? 4 : 8, [.immediate(start &+ UInt64(offset) &+ rel)])
        case 0xE8:
            let rel = try imm32()
            return make(.call, 8, [.immediate(start &+ UInt64(offset) &+ rel)])
        case 0xE9:
            let rel = try imm32()
            return make(.jmp, 8, [.immediate(start &+ UInt64(offset) &+ rel)])
        case 0xEB:
            let rel = try imm8()
            return make(.jmp, 8, [.immediate(start &+ UInt64(offset) &+ rel)])
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
            case 4: return make(.jmp, 8, [rmOperand(m, size: 8)])
            case 6: return make(.push, stackSize, [rmOperand(m, size: stackSize)])
            default: throw invalid
            }
        default:
            throw invalid
        }
    }

    /// 0F 38 xx: SSSE3 and later. Only the 66-prefixed XMM forms (the MMX ones are #UD).
    mutating func threeByte38() throws(DecodeError) -> Instruction {
        let op = try byte()
        if prefixes.repne && (op == 0xF0 || op == 0xF1) {
            // CRC32 r32/r64, r/m8 (F0) or r/m16/32/64 (F1)
            let m = try modrm()
            let source = op == 0xF0 ? 1 : (rexW ? 8 : (prefixes.operandSizeOverride ? 2 : 4))
            let size = rexW ? 8 : 4
            return make(.crc32, size, [.register(m.reg, size: size), rmOperand(m, size: source)], source: source)
        }
        if mmxForm {
            // SSSE3 on MM registers: the same operations on 64 bits.
            let ops: [UInt8: PackedOp] = [0x00: .pshufb, 0x01: .phaddw, 0x02: .phaddd, 0x03: .phaddsw, 0x04: .pmaddubsw,
                                          0x05: .phsubw, 0x06: .phsubd, 0x07: .phsubsw, 0x08: .psignb, 0x09: .psignw,
                                          0x0A: .psignd, 0x0B: .pmulhrsw, 0x1C: .pabsb, 0x1D: .pabsw, 0x1E: .pabsd]
            guard let pop = ops[op] else { throw invalid }
            let m = try modrm()
            return make(.mmx(.packed(pop)), 8, [.mmx(m.reg & 7), mmOrMemory(m)])
        }
        guard prefixes.operandSizeOverride && !prefixes.rep && !prefixes.repne else { throw invalid }
        let pop: PackedOp
        switch op {
        case 0x00: pop = .pshufb
        case 0x01: pop = .phaddw
        case 0x02: pop = .phaddd
        case 0x03: pop = .phaddsw
        case 0x04: pop = .pmaddubsw
        case 0x05: pop = .phsubw
        case 0x06: pop = .phsubd
        case 0x07: pop = .phsubsw
        case 0x08: pop = .psignb
        case 0x09: pop = .psignw
        case 0x0A: pop = .psignd
        case 0x0B: pop = .pmulhrsw
        case 0x10: pop = .pblendvb
        case 0x14: pop = .blendvps
        case 0x15: pop = .blendvpd
        case 0x17:
            let m = try modrm()
            return make(.ptest, 16, [.xmm(m.reg), xmmOrMemory(m)])
        case 0x1C: pop = .pabsb
        case 0x1D: pop = .pabsw
        case 0x1E: pop = .pabsd
        case 0x20...0x25, 0x30...0x35:
            let kinds: [PackedOp] = op < 0x30 ? [.pmovsxbw, .pmovsxbd, .pmovsxbq, .pmovsxwd, .pmovsxwq, .pmovsxdq]
                                              : [.pmovzxbw, .pmovzxbd, .pmovzxbq, .pmovzxwd, .pmovzxwq, .pmovzxdq]
            let sizes = [8, 4, 2, 8, 4, 8]
            let k = Int(op & 0xF)
            let m = try modrm()
            return make(.packedExtend(kinds[k]), 16, [.xmm(m.reg), xmmOrMemory(m)], source: sizes[k])
        case 0x28: pop = .pmuldq
        case 0x29: pop = .pcmpeqq
        case 0x2A:
            // MOVNTDQA: an aligned 128-bit load (the non-temporal hint means nothing here).
            let m = try modrm()
            guard m.memory != nil else { throw invalid }
            return make(.alignedMove128, 16, [.xmm(m.reg), xmmOrMemory(m)])
        case 0x2B: pop = .packusdw
        case 0x37: pop = .pcmpgtq
        case 0x38: pop = .pminsb
        case 0x39: pop = .pminsd
        case 0x3A: pop = .pminuw
        case 0x3B: pop = .pminud
        case 0x3C: pop = .pmaxsb
        case 0x3D: pop = .pmaxsd
        case 0x3E: pop = .pmaxuw
        case 0x3F: pop = .pmaxud
        case 0x40: pop = .pmulld
        case 0x41: pop = .phminposuw
        default: throw invalid
        }
        let m = try modrm()
        return make(.packed(pop), 16, [.xmm(m.reg), xmmOrMemory(m)])
    }

    /// 0F 3A xx: SSSE3 and later instructions with an immediate byte (66-prefixed XMM forms).
    mutating func threeByte3A() throws(DecodeError) -> Instruction {
        let op = try byte()
        if mmxForm && op == 0x0F {
            // PALIGNR mm, mm/m64, imm8
            let m = try modrm()
            let imm = try imm8() & 0xFF
            return make(.mmx(.shuffle(.palignr)), 8, [.mmx(m.reg & 7), mmOrMemory(m), .immediate(imm)])
        }
        guard prefixes.operandSizeOverride && !prefixes.rep && !prefixes.repne else { throw invalid }
        switch op {
        case 0x08...0x0B:
            let shapes: [FloatShape] = [.packedSingle, .packedDouble, .scalarSingle, .scalarDouble]
            let shape = shapes[Int(op - 8)]
            let m = try modrm()
            let imm = try imm8() & 0xFF
            return make(.floatArithmetic(.round, shape), 16, [.xmm(m.reg), xmmOrMemory(m), .immediate(imm)], source: shape.memorySize)
        case 0x14, 0x15, 0x16, 0x17:
            // PEXTRB, PEXTRW, PEXTRD/Q, EXTRACTPS
            let n = [1, 2, rexW ? 8 : 4, 4][Int(op - 0x14)]
            let m = try modrm()
            let imm = try imm8() & 0xFF
            let destination: Operand = m.memory.map { .memory($0) } ?? .register(m.rm, size: n == 8 ? 8 : 4)
            return make(.extractLane, n, [destination, .xmm(m.reg), .immediate(imm)])
        case 0x20, 0x22:
            // PINSRB, PINSRD/Q
            let n = op == 0x20 ? 1 : (rexW ? 8 : 4)
            let m = try modrm()
            let imm = try imm8() & 0xFF
            let source: Operand = m.memory.map { .memory($0) } ?? .register(m.rm, size: n == 8 ? 8 : 4)
            return make(.insertLane, n, [.xmm(m.reg), source, .immediate(imm)])
        case 0x21:
            let m = try modrm()
            let imm = try imm8() & 0xFF
            return make(.insertps, 16, [.xmm(m.reg), xmmOrMemory(m), .immediate(imm)], source: 4)
        case 0x40, 0x41:
            let shape: FloatShape = op == 0x40 ? .packedSingle : .packedDouble
            let m = try modrm()
            let imm = try imm8() & 0xFF
            return make(.floatArithmetic(.dotProduct, shape), 16, [.xmm(m.reg), xmmOrMemory(m), .immediate(imm)], source: 16)
        case 0x42:
            let m = try modrm()
            let imm = try imm8() & 0xFF
            return make(.shuffle(.mpsadbw), 16, [.xmm(m.reg), xmmOrMemory(m), .immediate(imm)])
        case 0x60, 0x61, 0x62, 0x63:
            let m = try modrm()
            let imm = try imm8() & 0xFF
            return make(.stringCompare(explicit: op < 0x62, index: op & 1 != 0), rexW ? 8 : 4,
                        [.xmm(m.reg), xmmOrMemory(m), .immediate(imm)])
        case 0x0C, 0x0D, 0x0E, 0x0F:
            let ops: [PackedOp] = [.blendps, .blendpd, .pblendw, .palignr]
            let m = try modrm()
            let imm = try imm8() & 0xFF
            return make(.shuffle(ops[Int(op - 0x0C)]), 16, [.xmm(m.reg), xmmOrMemory(m), .immediate(imm)])
        default:
            throw invalid
        }
    }

    mutating func twoByte() throws(DecodeError) -> Instruction {
        let op = try byte()
        let size = operandSize
        let p66 = prefixes.operandSizeOverride, pF3 = prefixes.rep, pF2 = prefixes.repne
        switch op {
        case 0x05: return make(.syscall, 8, [])
        case 0x0B: return make(.ud2, 8, [])
        case 0x0D, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F:
            // PREFETCH*, hint NOPs, ENDBR64 (F3 0F 1E FA): all take a ModRM and do nothing.
            _ = try modrm()
            return make(.nop, size, [])
        case 0x10, 0x11:
            let m = try modrm()
            let reg = Operand.xmm(m.reg), rm = xmmOrMemory(m)
            let mn: Mnemonic = pF3 ? .movss : (pF2 ? .movsdSSE : .move128)
            return make(mn, 16, op == 0x10 ? [reg, rm] : [rm, reg])
        case 0x12 where pF2:
            // MOVDDUP (SSE3)
            let m = try modrm()
            return make(.movddup, 16, [.xmm(m.reg), xmmOrMemory(m)], source: 8)
        case 0x12 where pF3, 0x16 where pF3:
            // MOVSLDUP / MOVSHDUP (SSE3): dwords 0,0,2,2 / 1,1,3,3 of the source, as PSHUFD would.
            let m = try modrm()
            return make(.shuffle(.pshufd), 16, [.xmm(m.reg), xmmOrMemory(m), .immediate(op == 0x12 ? 0xA0 : 0xF5)])
        case 0x12, 0x13, 0x16, 0x17:
            guard !pF3 && !pF2 else { throw invalid }
            let m = try modrm()
            let high = op >= 0x16
            if op & 1 == 1 {
                guard m.memory != nil else { throw invalid }
                return make(high ? .movhp : .movlp, 16, [xmmOrMemory(m), .xmm(m.reg)])
            }
            if m.memory == nil {
                guard !p66 else { throw invalid }
                return make(high ? .movlhps : .movhlps, 16, [.xmm(m.reg), .xmm(m.rm)])
            }
            return make(high ? .movhp : .movlp, 16, [.xmm(m.reg), xmmOrMemory(m)])
        case 0x14, 0x15:
            guard !pF3 && !pF2 else { throw invalid }
            let m = try modrm()
            let pop: PackedOp = op == 0x14 ? (p66 ? .punpcklqdq : .unpcklps) : (p66 ? .unpckhpd : .unpckhps)
            return make(.packed(pop), 16, [.xmm(m.reg), xmmOrMemory(m)])
        case 0x2A where !pF3 && !pF2:
            // CVTPI2PS (no prefix), CVTPI2PD (66): xmm, mm/m64
            let m = try modrm()
            let conversion: FloatConversion = p66 ? .packedInt32ToDouble : .packedInt32ToSingle
            return make(.mmx(.convertToXMM(conversion, fromRegister: m.memory == nil)), 8, [.xmm(m.reg), mmOrMemory(m)])
        case 0x2C where !pF3 && !pF2, 0x2D where !pF3 && !pF2:
            // CVT(T)PS2PI mm, xmm/m64 (no prefix), CVT(T)PD2PI mm, xmm/m128 (66)
            let m = try modrm()
            let conversion: FloatConversion = p66 ? (op == 0x2C ? .packedDoubleToInt32Truncating : .packedDoubleToInt32)
                                                  : (op == 0x2C ? .packedSingleToInt32Truncating : .packedSingleToInt32)
            return make(.mmx(.convertFromXMM(conversion)), 8, [.mmx(m.reg & 7), xmmOrMemory(m)], source: p66 ? 16 : 8)
        case 0x2A:
            let m = try modrm()
            let s = rexW ? 8 : 4
            return make(.convertIntegerToFloat(double: pF2), 16, [.xmm(m.reg), rmOperand(m, size: s)], source: s)
        case 0x2C, 0x2D:
            guard pF3 || pF2 else { throw invalid }
            let m = try modrm()
            let s = rexW ? 8 : 4
            return make(.convertFloatToInteger(double: pF2, truncate: op == 0x2C), s,
                        [.register(m.reg, size: s), xmmOrMemory(m)], source: pF2 ? 8 : 4)
        case 0x2E, 0x2F:
            guard !pF3 && !pF2 else { throw invalid }
            let m = try modrm()
            return make(.compareScalarFlags(double: p66, ordered: op == 0x2F), 16, [.xmm(m.reg), xmmOrMemory(m)], source: p66 ? 8 : 4)
        case 0x51, 0x58, 0x59, 0x5C, 0x5D, 0x5E, 0x5F, 0xC2:
            let m = try modrm()
            let shape: FloatShape = pF3 ? .scalarSingle : (pF2 ? .scalarDouble : (p66 ? .packedDouble : .packedSingle))
            let fop: FloatOp
            switch op {
            case 0x51: fop = .sqrt
            case 0x58: fop = .add
            case 0x59: fop = .mul
            case 0x5C: fop = .sub
            case 0x5D: fop = .min
            case 0x5E: fop = .div
            case 0x5F: fop = .max
            default: fop = .compare
            }
            var operands: [Operand] = [.xmm(m.reg), xmmOrMemory(m)]
            if fop == .compare { operands.append(.immediate(try imm8() & 0xFF)) }
            return make(.floatArithmetic(fop, shape), 16, operands, source: shape.memorySize)
        case 0x38:
            return try threeByte38()
        case 0x3A:
            return try threeByte3A()
        case 0x7C, 0x7D, 0xD0:
            // HADDPS/PD, HSUBPS/PD, ADDSUBPS/PD (SSE3): F2 singles, 66 doubles.
            guard (pF2 || p66) && !pF3 else { throw invalid }
            let m = try modrm()
            let shape: FloatShape = pF2 ? .packedSingle : .packedDouble
            let fop: FloatOp = op == 0x7C ? .horizontalAdd : (op == 0x7D ? .horizontalSub : .addSub)
            return make(.floatArithmetic(fop, shape), 16, [.xmm(m.reg), xmmOrMemory(m)], source: 16)
        case 0xF0 where pF2:
            // LDDQU (SSE3): an unaligned 128-bit load.
            let m = try modrm()
            guard m.memory != nil else { throw invalid }
            return make(.move128, 16, [.xmm(m.reg), xmmOrMemory(m)])
        case 0x5A, 0x5B, 0xE6:
            let m = try modrm()
            let conversion: FloatConversion
            switch (op, pF3, pF2, p66) {
            case (0x5A, false, true, _): conversion = .scalarDoubleToSingle
            case (0x5A, true, false, _): conversion = .scalarSingleToDouble
            case (0x5A, false, false, false): conversion = .packedSingleToDouble
            case (0x5A, false, false, true): conversion = .packedDoubleToSingle
            case (0x5B, false, false, false): conversion = .packedInt32ToSingle
            case (0x5B, false, false, true): conversion = .packedSingleToInt32
            case (0x5B, true, false, _): conversion = .packedSingleToInt32Truncating
            case (0xE6, true, false, _): conversion = .packedInt32ToDouble
            case (0xE6, false, false, true): conversion = .packedDoubleToInt32Truncating
            case (0xE6, false, true, _): conversion = .packedDoubleToInt32
            default: throw invalid
            }
            return make(.convertFloat(conversion), 16, [.xmm(m.reg), xmmOrMemory(m)], source: conversion.memorySize)
        case 0x28, 0x29:
            guard !pF3 && !pF2 else { throw invalid }
            let m = try modrm()
            return make(.alignedMove128, 16, op == 0x28 ? [.xmm(m.reg), xmmOrMemory(m)] : [xmmOrMemory(m), .xmm(m.reg)])
        case 0x2B:
            guard !pF3 && !pF2 else { throw invalid }
            let m = try modrm()
            guard m.memory != nil else { throw invalid }
            return make(.alignedMove128, 16, [xmmOrMemory(m), .xmm(m.reg)])
        case 0x31: return make(.rdtsc, 8, [])
        case 0x40...0x4F:
            let m = try modrm()
            return make(.cmov, size, [gpr(m.reg, size: size), rmOperand(m, size: size)], cc: op & 15)
        case 0x50:
            guard !pF3 && !pF2 else { throw invalid }
            let m = try modrm()
            guard m.memory == nil else { throw invalid }
            return make(.moveMask(p66 ? .movmskpd : .movmskps), 4, [.register(m.reg, size: 4), .xmm(m.rm)])
        case 0x54, 0x55, 0x56, 0x57:
            guard !pF3 && !pF2 else { throw invalid }
            let m = try modrm()
            let ops: [PackedOp] = [.pand, .pandn, .por, .pxor]
            return make(.packed(ops[Int(op - 0x54)]), 16, [.xmm(m.reg), xmmOrMemory(m)])
        case 0x60...0x6A, 0x6C, 0x6D, 0x74, 0x75, 0x76, 0xD4, 0xD7, 0xDA, 0xDB, 0xDE, 0xDF, 0xEB, 0xEF,
             0xF8...0xFE, 0xD1, 0xD2, 0xD3, 0xE1, 0xE2, 0xF1, 0xF2, 0xF3, 0x6B,
             0xD5, 0xD8, 0xD9, 0xDC, 0xDD, 0xE0, 0xE3, 0xE4, 0xE5, 0xE8, 0xE9, 0xEA, 0xEC, 0xED, 0xEE, 0xF4, 0xF5, 0xF6:
            guard (p66 && !pF3 && !pF2) || mmxForm else { throw invalid }
            guard p66 || (op != 0x6C && op != 0x6D) else { throw invalid }
            let m = try modrm()
            let pop: PackedOp
            switch op {
            case 0x60: pop = .punpcklbw
            case 0x61: pop = .punpcklwd
            case 0x62: pop = .punpckldq
            case 0x63: pop = .packsswb
            case 0x64: pop = .pcmpgtb
            case 0x65: pop = .pcmpgtw
            case 0x66: pop = .pcmpgtd
            case 0x67: pop = .packuswb
            case 0x6B: pop = .packssdw
            case 0xD5: pop = .pmullw
            case 0xD8: pop = .psubusb
            case 0xD9: pop = .psubusw
            case 0xDC: pop = .paddusb
            case 0xDD: pop = .paddusw
            case 0xE0: pop = .pavgb
            case 0xE3: pop = .pavgw
            case 0xE4: pop = .pmulhuw
            case 0xE5: pop = .pmulhw
            case 0xE8: pop = .psubsb
            case 0xE9: pop = .psubsw
            case 0xEA: pop = .pminsw
            case 0xEC: pop = .paddsb
            case 0xED: pop = .paddsw
            case 0xEE: pop = .pmaxsw
            case 0xF4: pop = .pmuludq
            case 0xF5: pop = .pmaddwd
            case 0xF6: pop = .psadbw
            case 0x68: pop = .punpckhbw
            case 0x69: pop = .punpckhwd
            case 0x6A: pop = .punpckhdq
            case 0x6C: pop = .punpcklqdq
            case 0x6D: pop = .punpckhqdq
            case 0x74: pop = .pcmpeqb
            case 0x75: pop = .pcmpeqw
            case 0x76: pop = .pcmpeqd
            case 0xD1: pop = .psrlw
            case 0xD2: pop = .psrld
            case 0xD3: pop = .psrlq
            case 0xD4: pop = .paddq
            case 0xD7:
                guard m.memory == nil else { throw invalid }
                if !p66 { return make(.mmx(.moveMask), 4, [.register(m.reg, size: 4), .mmx(m.rm & 7)]) }
                return make(.moveMask(.pmovmskb), 4, [.register(m.reg, size: 4), .xmm(m.rm)])
            case 0xDA: pop = .pminub
            case 0xDB: pop = .pand
            case 0xDE: pop = .pmaxub
            case 0xDF: pop = .pandn
            case 0xE1: pop = .psraw
            case 0xE2: pop = .psrad
            case 0xEB: pop = .por
            case 0xEF: pop = .pxor
            case 0xF1: pop = .psllw
            case 0xF2: pop = .pslld
            case 0xF3: pop = .psllq
            case 0xF8: pop = .psubb
            case 0xF9: pop = .psubw
            case 0xFA: pop = .psubd
            case 0xFB: pop = .psubq
            case 0xFC: pop = .paddb
            case 0xFD: pop = .paddw
            default: pop = .paddd
            }
            if !p66 { return make(.mmx(.packed(pop)), 8, [.mmx(m.reg & 7), mmOrMemory(m)]) }
            return make(.packed(pop), 16, [.xmm(m.reg), xmmOrMemory(m)])
        case 0x6E where mmxForm, 0x7E where mmxForm:
            // MOVD/MOVQ mm, r/m32/64 and r/m32/64, mm
            let m = try modrm()
            let s = rexW ? 8 : 4
            if op == 0x6E { return make(.mmx(.load), s, [.mmx(m.reg & 7), rmOperand(m, size: s)]) }
            return make(.mmx(.store), s, [rmOperand(m, size: s), .mmx(m.reg & 7)])
        case 0x6F where mmxForm, 0x7F where mmxForm, 0xE7 where mmxForm:
            // MOVQ mm, mm/m64; MOVQ mm/m64, mm; MOVNTQ m64, mm
            let m = try modrm()
            if op == 0x6F { return make(.mmx(.load), 8, [.mmx(m.reg & 7), mmOrMemory(m)]) }
            if let mem = m.memory { return make(.mmx(.store), 8, [.memory(mem), .mmx(m.reg & 7)]) }
            guard op == 0x7F else { throw invalid }
            return make(.mmx(.load), 8, [.mmx(m.rm & 7), .mmx(m.reg & 7)])
        case 0x77 where mmxForm:
            return make(.mmx(.emms), 8, [])
        case 0xF7 where mmxForm:
            // MASKMOVQ mm, mm
            let m = try modrm()
            guard m.memory == nil else { throw invalid }
            return make(.mmx(.maskMove), 8, [.mmx(m.reg & 7), .mmx(m.rm & 7)])
        case 0xD6 where pF3 || pF2:
            // MOVQ2DQ xmm, mm (F3) and MOVDQ2Q mm, xmm (F2): register forms only
            let m = try modrm()
            guard m.memory == nil else { throw invalid }
            if pF3 { return make(.mmx(.store), 8, [.xmm(m.reg), .mmx(m.rm & 7)]) }
            return make(.mmx(.load), 8, [.mmx(m.reg & 7), .xmm(m.rm)])
        case 0x70 where mmxForm:
            // PSHUFW mm, mm/m64, imm8
            let m = try modrm()
            let imm = try imm8() & 0xFF
            return make(.mmx(.shuffle(.pshuflw)), 8, [.mmx(m.reg & 7), mmOrMemory(m), .immediate(imm)])
        case 0xC4 where mmxForm:
            // PINSRW mm, r32/m16, imm8
            let m = try modrm()
            let imm = try imm8() & 0xFF
            let source: Operand = m.memory.map { .memory($0) } ?? .register(m.rm, size: 4)
            return make(.mmx(.insertWord), 8, [.mmx(m.reg & 7), source, .immediate(imm)], source: 2)
        case 0xC5 where mmxForm:
            // PEXTRW r32, mm, imm8
            let m = try modrm()
            guard m.memory == nil else { throw invalid }
            let imm = try imm8() & 0xFF
            return make(.mmx(.extractWord), 4, [.register(m.reg, size: 4), .mmx(m.rm & 7), .immediate(imm)])
        case 0x6E:
            guard p66 else { throw invalid }
            let m = try modrm()
            let s = rexW ? 8 : 4
            return make(.movdToXMM, s, [.xmm(m.reg), rmOperand(m, size: s)])
        case 0x7E:
            if pF3 {
                let m = try modrm()
                return make(.movq, 8, [.xmm(m.reg), xmmOrMemory(m)])
            }
            guard p66 else { throw invalid }
            let m = try modrm()
            let s = rexW ? 8 : 4
            return make(.movdFromXMM, s, [rmOperand(m, size: s), .xmm(m.reg)])
        case 0xD6:
            guard p66 else { throw invalid }
            let m = try modrm()
            return make(.movq, 8, [xmmOrMemory(m), .xmm(m.reg)])
        case 0x6F, 0x7F:
            guard p66 || pF3 else { throw invalid }
            let m = try modrm()
            let mn: Mnemonic = p66 && !pF3 ? .alignedMove128 : .move128
            return make(mn, 16, op == 0x6F ? [.xmm(m.reg), xmmOrMemory(m)] : [xmmOrMemory(m), .xmm(m.reg)])
        case 0xE7:
            guard p66 else { throw invalid }
            let m = try modrm()
            guard m.memory != nil else { throw invalid }
            return make(.alignedMove128, 16, [xmmOrMemory(m), .xmm(m.reg)])
        case 0x70:
            let m = try modrm()
            let pop: PackedOp = pF3 ? .pshufhw : (pF2 ? .pshuflw : (p66 ? .pshufd : .pshufd))
            guard p66 || pF3 || pF2 else { throw invalid }
            let imm = try imm8() & 0xFF
            return make(.shuffle(pop), 16, [.xmm(m.reg), xmmOrMemory(m), .immediate(imm)])
        case 0xC4:
            // PINSRW xmm, r32/m16, imm (SSE2; the MMX form is not implemented)
            guard p66 && !pF3 && !pF2 else { throw invalid }
            let m = try modrm()
            let imm = try imm8() & 0xFF
            let source: Operand = m.memory.map { .memory($0) } ?? .register(m.rm, size: 4)
            return make(.insertLane, 2, [.xmm(m.reg), source, .immediate(imm)])
        case 0xC5:
            // PEXTRW r32, xmm, imm (SSE2 register form)
            guard p66 && !pF3 && !pF2 else { throw invalid }
            let m = try modrm()
            guard m.memory == nil else { throw invalid }
            let imm = try imm8() & 0xFF
            return make(.extractLane, 2, [.register(m.reg, size: 4), .xmm(m.rm), .immediate(imm)])
        case 0xC6:
            guard !pF3 && !pF2 else { throw invalid }
            let m = try modrm()
            let imm = try imm8() & 0xFF
            return make(.shuffle(p66 ? .shufpd : .shufps), 16, [.xmm(m.reg), xmmOrMemory(m), .immediate(imm)])
        case 0x71, 0x72, 0x73:
            guard p66 || mmxForm else { throw invalid }
            let m = try modrm()
            guard m.memory == nil else { throw invalid }
            let pop: PackedOp
            switch (op, m.reg & 7) {
            case (0x71, 2): pop = .psrlw
            case (0x71, 4): pop = .psraw
            case (0x71, 6): pop = .psllw
            case (0x72, 2): pop = .psrld
            case (0x72, 4): pop = .psrad
            case (0x72, 6): pop = .pslld
            case (0x73, 2): pop = .psrlq
            case (0x73, 3): pop = .psrldq
            case (0x73, 6): pop = .psllq
            case (0x73, 7): pop = .pslldq
            default: throw invalid
            }
            let imm = try imm8() & 0xFF
            if !p66 {
                guard pop != .psrldq && pop != .pslldq else { throw invalid }
                return make(.mmx(.shiftImmediate(pop)), 8, [.mmx(m.rm & 7), .immediate(imm)])
            }
            return make(.packedShiftImmediate(pop), 16, [.xmm(m.rm), .immediate(imm)])
        case 0x80...0x8F:
            let rel = try imm32()
            return make(.jcc, 8, [.immediate(start &+ UInt64(offset) &+ rel)], cc: op & 15)
        case 0x90...0x9F:
            let m = try modrm()
            return make(.setcc, 1, [rmOperand(m, size: 1)], cc: op & 15)
        case 0xA2: return make(.cpuid, 8, [])
        case 0xA3, 0xAB, 0xB3, 0xBB:
            let m = try modrm()
            let mn: Mnemonic = op == 0xA3 ? .bt : (op == 0xAB ? .bts : (op == 0xB3 ? .btr : .btc))
            return make(mn, size, [rmOperand(m, size: size), gpr(m.reg, size: size)])
        case 0xBA:
            let m = try modrm()
            let mn: Mnemonic
            switch m.reg & 7 {
            case 4: mn = .bt
            case 5: mn = .bts
            case 6: mn = .btr
            case 7: mn = .btc
            default: throw invalid
            }
            return make(mn, size, [rmOperand(m, size: size), .immediate(try imm8() & 0xFF)])
        case 0xA4, 0xA5, 0xAC, 0xAD:
            let m = try modrm()
            let count: Operand = op & 1 == 0 ? .immediate(try imm8() & 0xFF) : .register(1, size: 1)
            return make(op < 0xAC ? .shld : .shrd, size, [rmOperand(m, size: size), gpr(m.reg, size: size), count])
        case 0xAE:
            let m = try modrm()
            if m.memory == nil {
                switch m.reg & 7 {
                case 5, 6, 7: return make(.fence, 8, [])
                default: throw invalid
                }
            }
            switch m.reg & 7 {
            case 0, 1:
                // NP 0F AE /0 and /1: F2/F3 select other instructions (none implemented).
                guard !prefixes.rep && !prefixes.repne else { throw invalid }
                return make(m.reg & 7 == 0 ? .fxsave : .fxrstor, 8, [rmOperand(m, size: 8)])
            case 2: return make(.ldmxcsr, 4, [rmOperand(m, size: 4)])
            case 3: return make(.stmxcsr, 4, [rmOperand(m, size: 4)])
            case 7: return make(.nop, 8, []) // CLFLUSH: no cache to flush
            default: throw invalid
            }
        case 0xAF:
            let m = try modrm()
            return make(.imul, size, [gpr(m.reg, size: size), rmOperand(m, size: size)])
        case 0xB0, 0xB1:
            let s = op == 0xB0 ? 1 : size
            let m = try modrm()
            return make(.cmpxchg, s, [rmOperand(m, size: s), gpr(m.reg, size: s)])
        case 0xB6, 0xB7, 0xBE, 0xBF:
            let m = try modrm()
            let src = op & 1 == 0 ? 1 : 2
            return make(op < 0xB8 ? .movzx : .movsx, size, [gpr(m.reg, size: size), rmOperand(m, size: src)], source: src)
        case 0xB8:
            guard pF3 else { throw invalid }
            let m = try modrm()
            return make(.popcnt, size, [gpr(m.reg, size: size), rmOperand(m, size: size)])
        case 0xBC, 0xBD:
            let m = try modrm()
            // LZCNT (F3 0F BD) is advertised (ABM); without BMI1, F3 0F BC executes as BSF, as on
            // CPUs without TZCNT.
            if op == 0xBD && pF3 { return make(.lzcnt, size, [gpr(m.reg, size: size), rmOperand(m, size: size)]) }
            return make(op == 0xBC ? .bsf : .bsr, size, [gpr(m.reg, size: size), rmOperand(m, size: size)])
        case 0xC0, 0xC1:
            let s = op == 0xC0 ? 1 : size
            let m = try modrm()
            return make(.xadd, s, [rmOperand(m, size: s), gpr(m.reg, size: s)])
        case 0xC7:
            let m = try modrm()
            guard m.reg & 7 == 1, m.memory != nil else { throw invalid }
            return make(rexW ? .cmpxchg16b : .cmpxchg8b, rexW ? 16 : 8, [rmOperand(m, size: 8)])
        case 0xC8...0xCF:
            return make(.bswap, size, [.register(Int(op & 7) + rexB, size: size)])
        default:
            throw invalid
        }
    }
}
