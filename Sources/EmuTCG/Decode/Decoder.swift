/// Decodes x86 instructions from any byte source, by the rules of one `DecodeMode`.
///
/// Every byte comes through `fetch`, which returns nil for an address the guest may not execute;
/// the decoder never reads more than 15 bytes and returns `DecodeError` for anything it does not
/// implement, so a hostile byte stream produces an error, never a trap.
public struct Decoder: Sendable {
    /// The mode whose encodings are decoded.
    public var mode: DecodeMode

    /// A decoder for `mode` (64-bit mode unless told otherwise).
    public init(mode: DecodeMode = .long64) {
        self.mode = mode
    }

    /// Decodes the instruction at `address`.
    /// - Throws: `DecodeError.invalidOpcode` for undefined/unimplemented encodings or more than
    ///   15 bytes; `DecodeError.fetchFault` when `fetch` returns nil.
    public func decode(at address: UInt64, fetch: (UInt64) -> UInt8?) throws(DecodeError) -> Instruction {
        try withoutActuallyEscaping(fetch) { (f) throws(DecodeError) -> Instruction in
            var c = DecodeCursor(start: address, mode: mode, fetch: f)
            return try c.decode()
        }
    }
}

/// The decoder's position in one instruction: the bytes consumed so far and the prefixes seen.
/// The opcode maps, prefix and ModRM readers and operand forms are its extensions, one file each.
struct DecodeCursor {
    let start: UInt64
    let mode: DecodeMode
    let fetch: (UInt64) -> UInt8?
    var offset = 0
    var prefixes = Prefixes()
    /// Displacement of a RIP-relative operand still to be resolved once the length is known.
    var pendingRIPRelative = false

    init(start: UInt64, mode: DecodeMode, fetch: @escaping (UInt64) -> UInt8?) {
        self.start = start
        self.mode = mode
        self.fetch = fetch
    }

    /// The next instruction byte (the 16th is #UD: an instruction is at most 15 bytes).
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
    /// An unsigned imm8 (shuffle selectors, lane indices, shift counts).
    mutating func immByte() throws(DecodeError) -> UInt64 { try imm8() & 0xFF }

    /// The target of a relative branch whose displacement has just been read.
    func relativeTarget(_ displacement: UInt64) -> UInt64 { start &+ UInt64(offset) &+ displacement }

    var invalid: DecodeError { .invalidOpcode(address: start) }

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

    /// Prefixes, then the one-byte map or (after 0F) the two-byte map and its escapes.
    mutating func decode() throws(DecodeError) -> Instruction {
        let op = try readPrefixes()
        let decoded = op == 0x0F ? try twoByte() : try oneByte(op)
        let insn = finish(decoded)
        if prefixes.lock && !DecodeCursor.lockable(insn) { throw invalid }
        return insn
    }

    /// Whether a LOCK prefix is allowed: a read-modify-write instruction with a memory destination.
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
}
