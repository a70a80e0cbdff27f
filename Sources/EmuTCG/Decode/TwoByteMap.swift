/// The 0F opcode map: each opcode's form under no prefix, 66, F3 and F2.
let twoByteMap: OpcodeMap = {
    var map = OpcodeMap()
    // System and miscellany.
    map.set(0x05, to: .any(.noOperands(.syscall)))
    map.set(0x0B, to: .any(.noOperands(.ud2)))
    // PREFETCH*, hint NOPs, ENDBR64 (F3 0F 1E FA): all take a ModRM and do nothing.
    map.set(0x0D, to: .any(.hintNop))
    map.set(0x18...0x1F, to: .any(.hintNop))
    map.set(0x31, to: .any(.noOperands(.rdtsc)))
    map.set(0xA2, to: .any(.noOperands(.cpuid)))
    map.set(0x38, to: .any(.escape38))
    map.set(0x3A, to: .any(.escape3A))
    map.set(0xAE, to: .any(.group15))

    // The privileged architecture, ports and segments.
    map.set(0x00, to: .any(.group6))
    map.set(0x01, to: .any(.group7))
    map.set(0x02, to: .any(.selectorQuery(.loadAccessRights)))
    map.set(0x03, to: .any(.selectorQuery(.loadSegmentLimit)))
    map.set(0x06, to: .any(.noOperands(.system(.clearTaskSwitched))))
    map.set(0x07, to: .any(.systemReturn))
    map.set(0x08, to: .any(.noOperands(.system(.invalidateCaches))))
    map.set(0x09, to: .any(.noOperands(.system(.writeBackAndInvalidateCaches))))
    map.set(0x20, to: .any(.controlRegisterMove(toControl: false)))
    map.set(0x21, to: .any(.debugRegisterMove(toDebug: false)))
    map.set(0x22, to: .any(.controlRegisterMove(toControl: true)))
    map.set(0x23, to: .any(.debugRegisterMove(toDebug: true)))
    map.set(0x30, to: .any(.noOperands(.system(.writeMSR))))
    map.set(0x32, to: .any(.noOperands(.system(.readMSR))))
    map.set(0xA0, to: .any(.segmentPush(.fs)))
    map.set(0xA1, to: .any(.segmentPop(.fs)))
    map.set(0xA8, to: .any(.segmentPush(.gs)))
    map.set(0xA9, to: .any(.segmentPop(.gs)))

    // Integer.
    map.set(0x40...0x4F, to: .any(.conditionalMove))
    map.set(0x80...0x8F, to: .any(.conditionalJump))
    map.set(0x90...0x9F, to: .any(.conditionalSet))
    map.set(0xA3, to: .any(.rmReg(.bt, byte: false)))
    map.set(0xAB, to: .any(.rmReg(.bts, byte: false)))
    map.set(0xB3, to: .any(.rmReg(.btr, byte: false)))
    map.set(0xBB, to: .any(.rmReg(.btc, byte: false)))
    map.set(0xBA, to: .any(.bitTestGroup))
    map.set(0xA4, to: .any(.doubleShift(.shld, immediateCount: true)))
    map.set(0xA5, to: .any(.doubleShift(.shld, immediateCount: false)))
    map.set(0xAC, to: .any(.doubleShift(.shrd, immediateCount: true)))
    map.set(0xAD, to: .any(.doubleShift(.shrd, immediateCount: false)))
    map.set(0xAF, to: .any(.regRM(.imul)))
    map.set(0xB0, to: .any(.rmReg(.cmpxchg, byte: true)))
    map.set(0xB1, to: .any(.rmReg(.cmpxchg, byte: false)))
    map.set(0xB6, to: .any(.extend(.movzx, source: 1)))
    map.set(0xB7, to: .any(.extend(.movzx, source: 2)))
    map.set(0xBE, to: .any(.extend(.movsx, source: 1)))
    map.set(0xBF, to: .any(.extend(.movsx, source: 2)))
    // Without F3, 0F B8 is JMPE (IA-64 only).
    map.set(0xB8, to: OpcodeRow(rep: .regRM(.popcnt)))
    // F3 0F BC executes as BSF (no BMI1, so no TZCNT); F3 0F BD is LZCNT (ABM is advertised).
    map.set(0xBC, to: .any(.regRM(.bsf)))
    map.set(0xBD, to: OpcodeRow(none: .regRM(.bsr), operandSize: .regRM(.bsr), rep: .regRM(.lzcnt), repne: .regRM(.bsr)))
    map.set(0xC0, to: .any(.rmReg(.xadd, byte: true)))
    map.set(0xC1, to: .any(.rmReg(.xadd, byte: false)))
    map.set(0xC7, to: .any(.group9))
    map.set(0xC8...0xCF, to: .any(.byteSwap))

    // SSE/SSE2 data movement.
    map.set(0x10, to: OpcodeRow(none: .xmmMove(.move128, store: false), operandSize: .xmmMove(.move128, store: false),
                                rep: .xmmMove(.movss, store: false), repne: .xmmMove(.movsdSSE, store: false)))
    map.set(0x11, to: OpcodeRow(none: .xmmMove(.move128, store: true), operandSize: .xmmMove(.move128, store: true),
                                rep: .xmmMove(.movss, store: true), repne: .xmmMove(.movsdSSE, store: true)))
    map.set(0x12, to: OpcodeRow(none: .halfLoad(high: false, registerForm: true), operandSize: .halfLoad(high: false, registerForm: false),
                                rep: .duplicateDwords(selector: 0xA0), repne: .duplicateLow))
    map.set(0x13, to: OpcodeRow(none: .halfStore(high: false), operandSize: .halfStore(high: false)))
    map.set(0x16, to: OpcodeRow(none: .halfLoad(high: true, registerForm: true), operandSize: .halfLoad(high: true, registerForm: false),
                                rep: .duplicateDwords(selector: 0xF5)))
    map.set(0x17, to: OpcodeRow(none: .halfStore(high: true), operandSize: .halfStore(high: true)))
    map.set(0x28, to: OpcodeRow(none: .xmmMove(.alignedMove128, store: false), operandSize: .xmmMove(.alignedMove128, store: false)))
    map.set(0x29, to: OpcodeRow(none: .xmmMove(.alignedMove128, store: true), operandSize: .xmmMove(.alignedMove128, store: true)))
    map.set(0x2B, to: OpcodeRow(none: .xmmStoreToMemory(.alignedMove128), operandSize: .xmmStoreToMemory(.alignedMove128)))
    map.set(0x6E, to: OpcodeRow(none: .mmxFromGPR, operandSize: .movdToXMM, rep: .operandSizeFormIf66, repne: .operandSizeFormIf66))
    map.set(0x7E, to: OpcodeRow(none: .mmxToGPR, operandSize: .movdFromXMM, rep: .movqLoad, repne: .operandSizeFormIf66))
    map.set(0x6F, to: OpcodeRow(none: .mmxLoad, operandSize: .xmmMove(.alignedMove128, store: false), rep: .xmmMove(.move128, store: false),
                                repne: .operandSizeFormIf66))
    map.set(0x7F, to: OpcodeRow(none: .mmxStore(registerForm: true), operandSize: .xmmMove(.alignedMove128, store: true),
                                rep: .xmmMove(.move128, store: true), repne: .operandSizeFormIf66))
    map.set(0xD6, to: OpcodeRow(operandSize: .movqStore, rep: .mmToXMM, repne: .xmmToMM))
    map.set(0xE7, to: OpcodeRow(none: .mmxStore(registerForm: false), operandSize: .xmmStoreToMemory(.alignedMove128),
                                rep: .operandSizeFormIf66, repne: .operandSizeFormIf66))
    map.set(0x50, to: OpcodeRow(none: .xmmMoveMask(.movmskps), operandSize: .xmmMoveMask(.movmskpd)))
    map.set(0xD7, to: OpcodeRow(none: .mmxMoveMask, operandSize: .xmmMoveMask(.pmovmskb)))
    map.set(0xF7, to: OpcodeRow(none: .mmxMaskMove))
    map.set(0x77, to: OpcodeRow(none: .emms))
    map.set(0xC4, to: OpcodeRow(none: .mmxInsertWord, operandSize: .insertLane(bytes: 2, widenedByREXW: false)))
    map.set(0xC5, to: OpcodeRow(none: .mmxExtractWord, operandSize: .extractWordToGPR))

    // SSE/SSE2 floating point (SSE3's horizontal and alternating forms among them).
    for (op, fop): (UInt8, FloatOp) in [(0x51, .sqrt), (0x58, .add), (0x59, .mul), (0x5C, .sub), (0x5D, .min),
                                         (0x5E, .div), (0x5F, .max), (0xC2, .compare)] {
        map.set(op, to: .float(fop))
    }
    map.set(0x7C, to: OpcodeRow(operandSize: .floatArithmetic(.horizontalAdd, .packedDouble), repne: .floatArithmetic(.horizontalAdd, .packedSingle)))
    map.set(0x7D, to: OpcodeRow(operandSize: .floatArithmetic(.horizontalSub, .packedDouble), repne: .floatArithmetic(.horizontalSub, .packedSingle)))
    map.set(0xD0, to: OpcodeRow(operandSize: .floatArithmetic(.addSub, .packedDouble), repne: .floatArithmetic(.addSub, .packedSingle)))
    // LDDQU (SSE3): an unaligned 128-bit load.
    map.set(0xF0, to: OpcodeRow(repne: .xmmLoadFromMemory(.move128)))
    map.set(0x2E, to: OpcodeRow(none: .compareScalarFlags(double: false, ordered: false), operandSize: .compareScalarFlags(double: true, ordered: false)))
    map.set(0x2F, to: OpcodeRow(none: .compareScalarFlags(double: false, ordered: true), operandSize: .compareScalarFlags(double: true, ordered: true)))
    map.set(0x2A, to: OpcodeRow(none: .convertMMToXMM(.packedInt32ToSingle), operandSize: .convertMMToXMM(.packedInt32ToDouble),
                                rep: .convertIntegerToFloat(double: false), repne: .convertIntegerToFloat(double: true)))
    map.set(0x2C, to: OpcodeRow(none: .convertXMMToMM(.packedSingleToInt32Truncating, source: 8),
                                operandSize: .convertXMMToMM(.packedDoubleToInt32Truncating, source: 16),
                                rep: .convertFloatToInteger(double: false, truncate: true),
                                repne: .convertFloatToInteger(double: true, truncate: true)))
    map.set(0x2D, to: OpcodeRow(none: .convertXMMToMM(.packedSingleToInt32, source: 8),
                                operandSize: .convertXMMToMM(.packedDoubleToInt32, source: 16),
                                rep: .convertFloatToInteger(double: false, truncate: false),
                                repne: .convertFloatToInteger(double: true, truncate: false)))
    map.set(0x5A, to: OpcodeRow(none: .convertFloat(.packedSingleToDouble), operandSize: .convertFloat(.packedDoubleToSingle),
                                rep: .convertFloat(.scalarSingleToDouble), repne: .convertFloat(.scalarDoubleToSingle)))
    map.set(0x5B, to: OpcodeRow(none: .convertFloat(.packedInt32ToSingle), operandSize: .convertFloat(.packedSingleToInt32),
                                rep: .convertFloat(.packedSingleToInt32Truncating), repne: .invalidAfterModRM))
    map.set(0xE6, to: OpcodeRow(none: .invalidAfterModRM, operandSize: .convertFloat(.packedDoubleToInt32Truncating), rep: .convertFloat(.packedInt32ToDouble),
                                repne: .convertFloat(.packedDoubleToInt32)))

    // SSE/SSE2 packed operations on floats' bits and shuffles.
    map.set(0x14, to: OpcodeRow(none: .xmmPacked(.unpcklps), operandSize: .xmmPacked(.punpcklqdq)))
    map.set(0x15, to: OpcodeRow(none: .xmmPacked(.unpckhps), operandSize: .xmmPacked(.unpckhpd)))
    map.set(0x54, to: OpcodeRow(none: .xmmPacked(.pand), operandSize: .xmmPacked(.pand)))
    map.set(0x55, to: OpcodeRow(none: .xmmPacked(.pandn), operandSize: .xmmPacked(.pandn)))
    map.set(0x56, to: OpcodeRow(none: .xmmPacked(.por), operandSize: .xmmPacked(.por)))
    map.set(0x57, to: OpcodeRow(none: .xmmPacked(.pxor), operandSize: .xmmPacked(.pxor)))
    map.set(0xC6, to: OpcodeRow(none: .xmmShuffle(.shufps), operandSize: .xmmShuffle(.shufpd)))
    map.set(0x70, to: OpcodeRow(none: .mmxShuffle(.pshuflw), operandSize: .xmmShuffle(.pshufd), rep: .xmmShuffle(.pshufhw),
                                repne: .xmmShuffle(.pshuflw)))
    map.set(0x71...0x73, to: OpcodeRow(none: .packedShiftGroup(xmm: false), operandSize: .packedShiftGroup(xmm: true),
                                       rep: .operandSizeFormIf66, repne: .operandSizeFormIf66))

    // MMX/SSE2 packed integer operations: the MMX form without a prefix, the SSE2 form with 66.
    let packed: [(UInt8, PackedOp)] = [
        (0x60, .punpcklbw), (0x61, .punpcklwd), (0x62, .punpckldq), (0x63, .packsswb), (0x64, .pcmpgtb),
        (0x65, .pcmpgtw), (0x66, .pcmpgtd), (0x67, .packuswb), (0x68, .punpckhbw), (0x69, .punpckhwd),
        (0x6A, .punpckhdq), (0x6B, .packssdw), (0x74, .pcmpeqb), (0x75, .pcmpeqw), (0x76, .pcmpeqd),
        (0xD1, .psrlw), (0xD2, .psrld), (0xD3, .psrlq), (0xD4, .paddq), (0xD5, .pmullw), (0xD8, .psubusb),
        (0xD9, .psubusw), (0xDA, .pminub), (0xDB, .pand), (0xDC, .paddusb), (0xDD, .paddusw), (0xDE, .pmaxub),
        (0xDF, .pandn), (0xE0, .pavgb), (0xE1, .psraw), (0xE2, .psrad), (0xE3, .pavgw), (0xE4, .pmulhuw),
        (0xE5, .pmulhw), (0xE8, .psubsb), (0xE9, .psubsw), (0xEA, .pminsw), (0xEB, .por), (0xEC, .paddsb),
        (0xED, .paddsw), (0xEE, .pmaxsw), (0xEF, .pxor), (0xF1, .psllw), (0xF2, .pslld), (0xF3, .psllq),
        (0xF4, .pmuludq), (0xF5, .pmaddwd), (0xF6, .psadbw), (0xF8, .psubb), (0xF9, .psubw), (0xFA, .psubd),
        (0xFB, .psubq), (0xFC, .paddb), (0xFD, .paddw), (0xFE, .paddd),
    ]
    for (op, pop) in packed { map.set(op, to: .mmxOrXMM(pop)) }
    // PUNPCKLQDQ and PUNPCKHQDQ have no MMX form.
    map.set(0x6C, to: OpcodeRow(operandSize: .xmmPacked(.punpcklqdq)))
    map.set(0x6D, to: OpcodeRow(operandSize: .xmmPacked(.punpckhqdq)))
    return map
}()

extension DecodeCursor {
    /// The 0F map: the form the opcode and mandatory prefix select.
    mutating func twoByte() throws(DecodeError) -> Instruction {
        let op = try byte()
        return try decode(twoByteMap.form(op, prefixes.mandatory), opcode: op)
    }
}
