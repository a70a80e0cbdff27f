/// A decoded ModRM byte (and SIB and displacement, for a memory operand).
struct ModRM {
    var mod: UInt8
    /// The reg field, extended by REX.R.
    var reg: Int
    /// The r/m field, extended by REX.B (the register of a register form).
    var rm: Int
    /// The memory operand of a memory form (mod ≠ 3).
    var memory: MemoryOperand?
}

extension DecodeCursor {
    /// Reads ModRM, then SIB and displacement as the ModRM byte asks.
    mutating func modrm() throws(DecodeError) -> ModRM {
        let b = try byte()
        let mod = b >> 6
        let reg = Int((b >> 3) & 7) + rexR
        let rmLow = Int(b & 7)
        if mod == 3 { return ModRM(mod: 3, reg: reg, rm: rmLow + rexB, memory: nil) }
        var mem = MemoryOperand(segment: prefixes.segment, addressSize: addressSize)
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
            switch mode {
            case .long64:
                mem.ripRelative = true
                pendingRIPRelative = true
            }
        } else {
            mem.base = rmLow + rexB
        }
        if mod == 1 { mem.displacement = Int64(bitPattern: try imm8()) }
        if mod == 2 { mem.displacement = Int64(bitPattern: try imm32()) }
        return ModRM(mod: mod, reg: reg, rm: rmLow + rexB, memory: mem)
    }

    /// A ModRM byte read as two registers whatever its mod field (MOV to/from control and debug
    /// registers): (reg + REX.R, r/m + REX.B), with no SIB or displacement.
    mutating func registerPair() throws(DecodeError) -> (reg: Int, rm: Int) {
        let b = try byte()
        return (Int((b >> 3) & 7) + rexR, Int(b & 7) + rexB)
    }

    /// The ModRM byte that comes next, without consuming it (x87 instructions keep it whole).
    func peekByte() throws(DecodeError) -> UInt8 {
        guard offset < 15 else { throw .invalidOpcode(address: start) }
        let at = start &+ UInt64(offset)
        guard let b = fetch(at) else { throw .fetchFault(address: at) }
        return b
    }

    /// The r/m operand at `size` (1 handles AH…BH without REX).
    func rmOperand(_ m: ModRM, size: Int) -> Operand {
        if let mem = m.memory { return .memory(mem) }
        return gpr(m.rm, size: size)
    }

    /// General register `index` at `size`; byte registers 4–7 are AH…BH without a REX prefix.
    func gpr(_ index: Int, size: Int) -> Operand {
        if size == 1 && prefixes.rex == 0 && index >= 4 && index < 8 { return .highByte(index - 4) }
        return .register(index, size: size)
    }

    /// The r/m operand of an SSE instruction: an XMM register or memory.
    func xmmOrMemory(_ m: ModRM) -> Operand {
        if let mem = m.memory { return .memory(mem) }
        return .xmm(m.rm)
    }

    /// The r/m operand of an MMX instruction: MM0–7 (REX.B is ignored) or memory.
    func mmOrMemory(_ m: ModRM) -> Operand {
        if let mem = m.memory { return .memory(mem) }
        return .mmx(m.rm & 7)
    }

    /// The r/m operand of PINSR*: a general register read at 32 bits (64 for `bytes` 8) or memory.
    func laneSource(_ m: ModRM, bytes: Int) -> Operand {
        m.memory.map { .memory($0) } ?? .register(m.rm, size: bytes == 8 ? 8 : 4)
    }
}
