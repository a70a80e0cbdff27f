/// A label in an `X86Assembler`'s code: bound once to an offset, jumped to any number of times.
public struct HostLabel: Hashable, Sendable {
    let id: Int
}

/// Emits x86-64 machine code into a byte array: the encodings the host-code back end uses,
/// with REX, ModRM, SIB and displacements chosen as GNU `as` chooses them, and labels whose
/// 32-bit jump displacements are filled in by `finish()`.
///
/// Operand sizes are in bytes (1, 2, 4, 8). Register operands of size 1 are the low bytes
/// (`spl`, `bpl`, `sil`, `dil` get an empty REX prefix, as the ISA requires).
public struct X86Assembler {
    /// The code so far.
    public private(set) var bytes: [UInt8] = []
    var labelOffsets: [Int?] = []
    /// (offset of the rel32 field, label) to resolve in `finish()`.
    var fixups: [(Int, HostLabel)] = []

    /// An empty assembler.
    public init() {}

    /// Current offset (where the next instruction goes).
    public var offset: Int { bytes.count }

    // MARK: labels

    /// A fresh unbound label.
    public mutating func label() -> HostLabel {
        labelOffsets.append(nil)
        return HostLabel(id: labelOffsets.count - 1)
    }

    /// Binds `label` to the current offset.
    public mutating func bind(_ label: HostLabel) {
        labelOffsets[label.id] = bytes.count
    }

    /// The offset `label` is bound to, if bound.
    public func offset(of label: HostLabel) -> Int? { labelOffsets[label.id] }

    /// Resolves every jump to a label; returns the code, or nil when a jumped-to label was
    /// never bound.
    public mutating func finish() -> [UInt8]? {
        for (at, label) in fixups {
            guard let target = labelOffsets[label.id] else { return nil }
            write32(at: at, Int32(truncatingIfNeeded: target - (at + 4)))
        }
        fixups.removeAll()
        return bytes
    }

    mutating func write32(at: Int, _ v: Int32) {
        let u = UInt32(bitPattern: v)
        for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: u >> (8 * UInt32(i))) }
    }

    // MARK: raw encoding

    mutating func byte(_ b: UInt8) { bytes.append(b) }

    mutating func imm(_ v: Int64, size: Int) {
        var u = UInt64(bitPattern: v)
        for _ in 0..<size { bytes.append(UInt8(truncatingIfNeeded: u)); u >>= 8 }
    }

    /// Prefixes (operand size, REX) and the opcode for an instruction whose ModRM.reg is `reg`
    /// and whose r/m is a register.
    mutating func prefix(size: Int, reg: UInt8, rm: HostRegister, byteRegisters: [UInt8] = [], forceREX: Bool = false) {
        if size == 2 { byte(0x66) }
        var rex: UInt8 = 0
        if size == 8 { rex |= 8 }
        if reg & 8 != 0 { rex |= 4 }
        if rm.extended { rex |= 1 }
        let needsEmpty = forceREX || byteRegisters.contains { $0 >= 4 && $0 <= 7 }
        if rex != 0 || needsEmpty { byte(0x40 | rex) }
    }

    mutating func prefix(size: Int, reg: UInt8, memory m: HostMemory, byteRegisters: [UInt8] = []) {
        if size == 2 { byte(0x66) }
        var rex: UInt8 = 0
        if size == 8 { rex |= 8 }
        if reg & 8 != 0 { rex |= 4 }
        if m.index?.extended == true { rex |= 2 }
        if m.base?.extended == true { rex |= 1 }
        let needsEmpty = byteRegisters.contains { $0 >= 4 && $0 <= 7 }
        if rex != 0 || needsEmpty { byte(0x40 | rex) }
    }

    mutating func modrm(reg: UInt8, rm: HostRegister) {
        byte(0xC0 | (reg & 7) << 3 | rm.low)
    }

    mutating func modrm(reg: UInt8, memory m: HostMemory) {
        let r = (reg & 7) << 3
        let scaleBits: UInt8 = m.scale == 8 ? 3 : m.scale == 4 ? 2 : m.scale == 2 ? 1 : 0
        guard let base = m.base else {
            // Absolute: SIB with no base, disp32.
            byte(0x04 | r)
            byte(scaleBits << 6 | (m.index?.low ?? 4) << 3 | 5)
            imm(Int64(m.displacement), size: 4)
            return
        }
        let d = m.displacement
        let mod: UInt8 = (d == 0 && base.low != 5) ? 0 : (Int32(Int8(truncatingIfNeeded: d)) == d ? 1 : 2)
        if m.index != nil || base.low == 4 {
            byte(mod << 6 | r | 4)
            byte(scaleBits << 6 | (m.index?.low ?? 4) << 3 | base.low)
        } else {
            byte(mod << 6 | r | base.low)
        }
        if mod == 1 { imm(Int64(d), size: 1) } else if mod == 2 { imm(Int64(d), size: 4) }
    }

    /// opcode (+1 for sizes above a byte when `sized`), register-register form.
    mutating func rr(_ opcode: UInt8, size: Int, reg: HostRegister, rm: HostRegister) {
        prefix(size: size, reg: reg.rawValue, rm: rm, byteRegisters: size == 1 ? [reg.rawValue, rm.rawValue] : [])
        byte(size == 1 ? opcode : opcode + 1)
        modrm(reg: reg.rawValue, rm: rm)
    }

    mutating func rm(_ opcode: UInt8, size: Int, reg: HostRegister, memory m: HostMemory) {
        prefix(size: size, reg: reg.rawValue, memory: m, byteRegisters: size == 1 ? [reg.rawValue] : [])
        byte(size == 1 ? opcode : opcode + 1)
        modrm(reg: reg.rawValue, memory: m)
    }

    // MARK: moves

    /// `mov dst, src` (size bytes; a 4-byte move zero-extends into the 64-bit register).
    public mutating func mov(_ dst: HostRegister, _ src: HostRegister, size: Int = 8) {
        rr(0x88, size: size, reg: src, rm: dst)
    }

    /// `mov dst, [m]`.
    public mutating func mov(_ dst: HostRegister, _ m: HostMemory, size: Int = 8) {
        rm(0x8A, size: size, reg: dst, memory: m)
    }

    /// `mov [m], src`.
    public mutating func mov(_ m: HostMemory, _ src: HostRegister, size: Int = 8) {
        rm(0x88, size: size, reg: src, memory: m)
    }

    /// `mov [m], imm` (the immediate sign-extended for size 8).
    public mutating func mov(_ m: HostMemory, immediate v: Int32, size: Int = 8) {
        prefix(size: size, reg: 0, memory: m)
        byte(size == 1 ? 0xC6 : 0xC7)
        modrm(reg: 0, memory: m)
        imm(Int64(v), size: min(size, 4))
    }

    /// Loads a 64-bit constant with the shortest encoding: `xor r32, r32` for zero,
    /// `mov r32, imm32` when it zero-extends, `mov r64, simm32` when it sign-extends, else
    /// `movabs`.
    public mutating func movImmediate(_ dst: HostRegister, _ v: UInt64) {
        if v == 0 {
            alu(.xor, dst, dst, size: 4)
        } else if v <= 0xFFFF_FFFF {
            if dst.extended { byte(0x41) }
            byte(0xB8 + dst.low)
            imm(Int64(v), size: 4)
        } else if Int64(Int32(truncatingIfNeeded: v)) == Int64(bitPattern: v) {
            prefix(size: 8, reg: 0, rm: dst)
            byte(0xC7)
            modrm(reg: 0, rm: dst)
            imm(Int64(bitPattern: v), size: 4)
        } else {
            movabs(dst, v)
        }
    }

    /// `movabs dst, imm64` (always the 10-byte form).
    public mutating func movabs(_ dst: HostRegister, _ v: UInt64) {
        prefix(size: 8, reg: 0, rm: dst)
        byte(0xB8 + dst.low)
        imm(Int64(bitPattern: v), size: 8)
    }

    /// `movzx dst32, src` from a `fromSize`-byte (1 or 2) register.
    public mutating func movzx(_ dst: HostRegister, _ src: HostRegister, from fromSize: Int) {
        prefix(size: 4, reg: dst.rawValue, rm: src, byteRegisters: fromSize == 1 ? [src.rawValue] : [])
        byte(0x0F); byte(fromSize == 1 ? 0xB6 : 0xB7)
        modrm(reg: dst.rawValue, rm: src)
    }

    /// `movzx dst32, byte/word [m]`.
    public mutating func movzx(_ dst: HostRegister, _ m: HostMemory, from fromSize: Int) {
        prefix(size: 4, reg: dst.rawValue, memory: m)
        byte(0x0F); byte(fromSize == 1 ? 0xB6 : 0xB7)
        modrm(reg: dst.rawValue, memory: m)
    }

    /// `movsx dst64, src` from a 1-, 2- or 4-byte register (`movsxd` for 4).
    public mutating func movsx(_ dst: HostRegister, _ src: HostRegister, from fromSize: Int) {
        prefix(size: 8, reg: dst.rawValue, rm: src, byteRegisters: fromSize == 1 ? [src.rawValue] : [])
        if fromSize == 4 { byte(0x63) } else { byte(0x0F); byte(fromSize == 1 ? 0xBE : 0xBF) }
        modrm(reg: dst.rawValue, rm: src)
    }

    /// `lea dst, [m]`.
    public mutating func lea(_ dst: HostRegister, _ m: HostMemory) {
        prefix(size: 8, reg: dst.rawValue, memory: m)
        byte(0x8D)
        modrm(reg: dst.rawValue, memory: m)
    }

    // MARK: arithmetic

    /// `op dst, src` (register-register; ADD/OR/ADC/SBB/AND/SUB/XOR/CMP).
    public mutating func alu(_ op: HostALU, _ dst: HostRegister, _ src: HostRegister, size: Int = 8) {
        rr(op.rawValue << 3, size: size, reg: src, rm: dst)
    }

    /// `op dst, [m]`.
    public mutating func alu(_ op: HostALU, _ dst: HostRegister, _ m: HostMemory, size: Int = 8) {
        rm(op.rawValue << 3 | 2, size: size, reg: dst, memory: m)
    }

    /// `op dst, imm` (sign-extended 8-bit form when it fits; size 1 takes an 8-bit immediate).
    public mutating func alu(_ op: HostALU, _ dst: HostRegister, immediate v: Int32, size: Int = 8) {
        prefix(size: size, reg: 0, rm: dst, byteRegisters: size == 1 ? [dst.rawValue] : [])
        if size == 1 && dst == .rax {
            byte(op.rawValue << 3 | 4); imm(Int64(v), size: 1)
        } else if size == 1 {
            byte(0x80); modrm(reg: op.rawValue, rm: dst); imm(Int64(v), size: 1)
        } else if Int32(Int8(truncatingIfNeeded: v)) == v {
            byte(0x83); modrm(reg: op.rawValue, rm: dst); imm(Int64(v), size: 1)
        } else if dst == .rax {
            byte(op.rawValue << 3 | 5); imm(Int64(v), size: min(size, 4))
        } else {
            byte(0x81); modrm(reg: op.rawValue, rm: dst); imm(Int64(v), size: min(size, 4))
        }
    }

    /// `op size [m], imm`.
    public mutating func alu(_ op: HostALU, _ m: HostMemory, immediate v: Int32, size: Int = 8) {
        prefix(size: size, reg: 0, memory: m)
        if size == 1 {
            byte(0x80); modrm(reg: op.rawValue, memory: m); imm(Int64(v), size: 1)
        } else if Int32(Int8(truncatingIfNeeded: v)) == v {
            byte(0x83); modrm(reg: op.rawValue, memory: m); imm(Int64(v), size: 1)
        } else {
            byte(0x81); modrm(reg: op.rawValue, memory: m); imm(Int64(v), size: min(size, 4))
        }
    }

    /// `test a, b`.
    public mutating func test(_ a: HostRegister, _ b: HostRegister, size: Int = 8) {
        rr(0x84, size: size, reg: b, rm: a)
    }

    /// `test a, imm`.
    public mutating func test(_ a: HostRegister, immediate v: Int32, size: Int = 8) {
        prefix(size: size, reg: 0, rm: a, byteRegisters: size == 1 ? [a.rawValue] : [])
        if a == .rax {
            byte(size == 1 ? 0xA8 : 0xA9)
        } else {
            byte(size == 1 ? 0xF6 : 0xF7); modrm(reg: 0, rm: a)
        }
        imm(Int64(v), size: min(size, 4))
    }

    /// `test byte/…/qword [m], imm`.
    public mutating func test(_ m: HostMemory, immediate v: Int32, size: Int = 1) {
        prefix(size: size, reg: 0, memory: m)
        byte(size == 1 ? 0xF6 : 0xF7)
        modrm(reg: 0, memory: m)
        imm(Int64(v), size: min(size, 4))
    }

    /// Group-3 unary: `not` (/2), `neg` (/3), `mul` (/4), `imul` (/5) of a register.
    mutating func group3(_ digit: UInt8, _ r: HostRegister, size: Int) {
        prefix(size: size, reg: 0, rm: r, byteRegisters: size == 1 ? [r.rawValue] : [])
        byte(size == 1 ? 0xF6 : 0xF7)
        modrm(reg: digit, rm: r)
    }

    /// `not r`.
    public mutating func not(_ r: HostRegister, size: Int = 8) { group3(2, r, size: size) }
    /// `neg r`.
    public mutating func neg(_ r: HostRegister, size: Int = 8) { group3(3, r, size: size) }
    /// `mul r`: RDX:RAX = RAX × r, unsigned.
    public mutating func mul(_ r: HostRegister, size: Int = 8) { group3(4, r, size: size) }
    /// `imul r`: RDX:RAX = RAX × r, signed.
    public mutating func imulWide(_ r: HostRegister, size: Int = 8) { group3(5, r, size: size) }

    /// `imul dst, src` (size 2, 4 or 8).
    public mutating func imul(_ dst: HostRegister, _ src: HostRegister, size: Int = 8) {
        prefix(size: size, reg: dst.rawValue, rm: src)
        byte(0x0F); byte(0xAF)
        modrm(reg: dst.rawValue, rm: src)
    }

    /// `imul dst, src, imm` (size 2, 4 or 8).
    public mutating func imul(_ dst: HostRegister, _ src: HostRegister, immediate v: Int32, size: Int = 8) {
        prefix(size: size, reg: dst.rawValue, rm: src)
        if Int32(Int8(truncatingIfNeeded: v)) == v {
            byte(0x6B); modrm(reg: dst.rawValue, rm: src); imm(Int64(v), size: 1)
        } else {
            byte(0x69); modrm(reg: dst.rawValue, rm: src); imm(Int64(v), size: min(size, 4))
        }
    }

    /// `shift r, imm` (the one-bit form for a count of 1, as `as` chooses).
    public mutating func shift(_ op: HostShift, _ r: HostRegister, immediate count: UInt8, size: Int = 8) {
        prefix(size: size, reg: 0, rm: r, byteRegisters: size == 1 ? [r.rawValue] : [])
        if count == 1 {
            byte(size == 1 ? 0xD0 : 0xD1); modrm(reg: op.rawValue, rm: r)
        } else {
            byte(size == 1 ? 0xC0 : 0xC1); modrm(reg: op.rawValue, rm: r); byte(count)
        }
    }

    /// `shift r, cl`.
    public mutating func shiftByCL(_ op: HostShift, _ r: HostRegister, size: Int = 8) {
        prefix(size: size, reg: 0, rm: r, byteRegisters: size == 1 ? [r.rawValue] : [])
        byte(size == 1 ? 0xD2 : 0xD3)
        modrm(reg: op.rawValue, rm: r)
    }

    /// `bswap r` (size 4 or 8).
    public mutating func bswap(_ r: HostRegister, size: Int = 8) {
        prefix(size: size, reg: 0, rm: r)
        byte(0x0F); byte(0xC8 + r.low)
    }

    /// `setcc r8`.
    public mutating func setcc(_ cc: HostCondition, _ r: HostRegister) {
        prefix(size: 4, reg: 0, rm: r, byteRegisters: [r.rawValue])
        byte(0x0F); byte(0x90 | cc.rawValue)
        modrm(reg: 0, rm: r)
    }

    /// `cmovcc dst, src` (size 2, 4 or 8).
    public mutating func cmov(_ cc: HostCondition, _ dst: HostRegister, _ src: HostRegister, size: Int = 8) {
        prefix(size: size, reg: dst.rawValue, rm: src)
        byte(0x0F); byte(0x40 | cc.rawValue)
        modrm(reg: dst.rawValue, rm: src)
    }

    // MARK: stack and control flow

    /// `push r`.
    public mutating func push(_ r: HostRegister) {
        if r.extended { byte(0x41) }
        byte(0x50 + r.low)
    }

    /// `pop r`.
    public mutating func pop(_ r: HostRegister) {
        if r.extended { byte(0x41) }
        byte(0x58 + r.low)
    }

    /// `ret`.
    public mutating func ret() { byte(0xC3) }

    /// `call r`.
    public mutating func call(_ r: HostRegister) {
        if r.extended { byte(0x41) }
        byte(0xFF); modrm(reg: 2, rm: r)
    }

    /// `jmp r`.
    public mutating func jmp(_ r: HostRegister) {
        if r.extended { byte(0x41) }
        byte(0xFF); modrm(reg: 4, rm: r)
    }

    /// `jmp label` (always rel32, so the jump can be patched later); returns the offset of
    /// its rel32 field.
    @discardableResult
    public mutating func jmp(_ target: HostLabel) -> Int {
        byte(0xE9)
        let at = bytes.count
        imm(0, size: 4)
        fixups.append((at, target))
        return at
    }

    /// `jcc label` (always rel32); returns the offset of its rel32 field.
    @discardableResult
    public mutating func jcc(_ cc: HostCondition, _ target: HostLabel) -> Int {
        byte(0x0F); byte(0x80 | cc.rawValue)
        let at = bytes.count
        imm(0, size: 4)
        fixups.append((at, target))
        return at
    }

    /// `jmp rel32` with a displacement the caller patches later; returns its field's offset.
    public mutating func jmpPatchable() -> Int {
        byte(0xE9)
        let at = bytes.count
        imm(0, size: 4)
        return at
    }
}
