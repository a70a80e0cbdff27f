/// The 0F 38 opcode map: SSSE3 (MMX forms without a prefix, SSE forms with 66), SSE4.1 and
/// SSE4.2 (66 only; CRC32 with F2).
let threeByte38Map: OpcodeMap = {
    var map = OpcodeMap()
    let ssse3: [(UInt8, PackedOp)] = [
        (0x00, .pshufb), (0x01, .phaddw), (0x02, .phaddd), (0x03, .phaddsw), (0x04, .pmaddubsw), (0x05, .phsubw),
        (0x06, .phsubd), (0x07, .phsubsw), (0x08, .psignb), (0x09, .psignw), (0x0A, .psignd), (0x0B, .pmulhrsw),
        (0x1C, .pabsb), (0x1D, .pabsw), (0x1E, .pabsd),
    ]
    for (op, pop) in ssse3 { map.set(op, to: .mmxOrXMM(pop)) }
    let sse4: [(UInt8, PackedOp)] = [
        (0x10, .pblendvb), (0x14, .blendvps), (0x15, .blendvpd), (0x28, .pmuldq), (0x29, .pcmpeqq), (0x2B, .packusdw),
        (0x37, .pcmpgtq), (0x38, .pminsb), (0x39, .pminsd), (0x3A, .pminuw), (0x3B, .pminud), (0x3C, .pmaxsb),
        (0x3D, .pmaxsd), (0x3E, .pmaxuw), (0x3F, .pmaxud), (0x40, .pmulld), (0x41, .phminposuw),
    ]
    for (op, pop) in sse4 { map.set(op, to: OpcodeRow(operandSize: .xmmPacked(pop))) }
    map.set(0x17, to: OpcodeRow(operandSize: .ptest))
    // PMOVSX*/PMOVZX*: the source is 8, 4, 2, 8, 4 or 8 bytes of memory.
    let extensions: [(PackedOp, PackedOp, Int)] = [
        (.pmovsxbw, .pmovzxbw, 8), (.pmovsxbd, .pmovzxbd, 4), (.pmovsxbq, .pmovzxbq, 2),
        (.pmovsxwd, .pmovzxwd, 8), (.pmovsxwq, .pmovzxwq, 4), (.pmovsxdq, .pmovzxdq, 8),
    ]
    for (k, (signed, unsigned, source)) in extensions.enumerated() {
        map.set(0x20 + UInt8(k), to: OpcodeRow(operandSize: .packedExtend(signed, source: source)))
        map.set(0x30 + UInt8(k), to: OpcodeRow(operandSize: .packedExtend(unsigned, source: source)))
    }
    // MOVNTDQA: an aligned 128-bit load (the non-temporal hint means nothing here).
    map.set(0x2A, to: OpcodeRow(operandSize: .xmmLoadFromMemory(.alignedMove128)))
    map.set(0xF0, 0xF1, to: OpcodeRow(repne: .crc32))
    return map
}()

/// The 0F 3A opcode map: SSSE3, SSE4.1 and SSE4.2 instructions with an immediate byte (66 forms;
/// PALIGNR also without a prefix, on MMX registers).
let threeByte3AMap: OpcodeMap = {
    var map = OpcodeMap()
    map.set(0x08, to: OpcodeRow(operandSize: .floatArithmetic(.round, .packedSingle)))
    map.set(0x09, to: OpcodeRow(operandSize: .floatArithmetic(.round, .packedDouble)))
    map.set(0x0A, to: OpcodeRow(operandSize: .floatArithmetic(.round, .scalarSingle)))
    map.set(0x0B, to: OpcodeRow(operandSize: .floatArithmetic(.round, .scalarDouble)))
    map.set(0x0C, to: OpcodeRow(operandSize: .xmmShuffle(.blendps)))
    map.set(0x0D, to: OpcodeRow(operandSize: .xmmShuffle(.blendpd)))
    map.set(0x0E, to: OpcodeRow(operandSize: .xmmShuffle(.pblendw)))
    map.set(0x0F, to: OpcodeRow(none: .mmxShuffle(.palignr), operandSize: .xmmShuffle(.palignr)))
    // PEXTRB, PEXTRW, PEXTRD/Q, EXTRACTPS; PINSRB, INSERTPS, PINSRD/Q.
    map.set(0x14, to: OpcodeRow(operandSize: .extractLane(bytes: 1, widenedByREXW: false)))
    map.set(0x15, to: OpcodeRow(operandSize: .extractLane(bytes: 2, widenedByREXW: false)))
    map.set(0x16, to: OpcodeRow(operandSize: .extractLane(bytes: 4, widenedByREXW: true)))
    map.set(0x17, to: OpcodeRow(operandSize: .extractLane(bytes: 4, widenedByREXW: false)))
    map.set(0x20, to: OpcodeRow(operandSize: .insertLane(bytes: 1, widenedByREXW: false)))
    map.set(0x21, to: OpcodeRow(operandSize: .insertps))
    map.set(0x22, to: OpcodeRow(operandSize: .insertLane(bytes: 4, widenedByREXW: true)))
    map.set(0x40, to: OpcodeRow(operandSize: .floatArithmetic(.dotProduct, .packedSingle)))
    map.set(0x41, to: OpcodeRow(operandSize: .floatArithmetic(.dotProduct, .packedDouble)))
    map.set(0x42, to: OpcodeRow(operandSize: .xmmShuffle(.mpsadbw)))
    map.set(0x60, to: OpcodeRow(operandSize: .stringCompare(explicit: true, index: false)))
    map.set(0x61, to: OpcodeRow(operandSize: .stringCompare(explicit: true, index: true)))
    map.set(0x62, to: OpcodeRow(operandSize: .stringCompare(explicit: false, index: false)))
    map.set(0x63, to: OpcodeRow(operandSize: .stringCompare(explicit: false, index: true)))
    return map
}()

extension DecodeCursor {
    /// The 0F 38 map.
    mutating func threeByte38() throws(DecodeError) -> Instruction {
        let op = try byte()
        return try decode(threeByte38Map.form(op, prefixes.mandatory), opcode: op)
    }

    /// The 0F 3A map.
    mutating func threeByte3A() throws(DecodeError) -> Instruction {
        let op = try byte()
        return try decode(threeByte3AMap.form(op, prefixes.mandatory), opcode: op)
    }
}
