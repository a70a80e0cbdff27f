/// What a decoded instruction does; operands and sizes are in `Instruction`.
public enum Mnemonic: Sendable, Equatable {
    // Integer arithmetic and logic (two operands, destination first).
    case add, or, adc, sbb, and, sub, xor, cmp, test
    case inc, dec, neg, not
    /// One-operand MUL/IMUL (RDX:RAX = RAX * src) and DIV/IDIV.
    case mul, imul1, div, idiv
    /// Two- and three-operand IMUL (destination, source[, immediate]).
    case imul
    case rol, ror, rcl, rcr, shl, shr, sar
    /// Double-precision shifts: destination, source, count (immediate or CL).
    case shld, shrd
    case bt, bts, btr, btc, bsf, bsr, tzcnt, lzcnt, popcnt, bswap
    // Moves.
    case mov, movzx, movsx, movsxd, lea, xchg, cmpxchg, xadd, cmpxchg16b, cmpxchg8b
    /// CMOVcc (condition in `Instruction.condition`).
    case cmov
    /// SETcc.
    case setcc
    /// CBW/CWDE/CDQE by operand size.
    case signExtendAccumulator
    /// CWD/CDQ/CQO by operand size.
    case signExtendIntoDX
    // Stack and control flow.
    case push, pop, pushf, popf, leave
    case jmp, jcc, call, ret, jrcxz, loop
    // Strings (REP prefixes in `Instruction.prefixes`).
    case movs, stos, lods, cmps, scas
    // Flags.
    case clc, stc, cmc, cld, std, lahf, sahf
    // System and miscellany.
    case nop, pause, hlt, int3, ud2, syscall, cpuid, rdtsc, fence
    case ldmxcsr, stmxcsr
    /// FXSAVE/FXRSTOR (REX.W or not: the forms differ only in FIP/FDP, stored as zero).
    case fxsave, fxrstor
    /// An x87 instruction: escape opcode D8 … DF and its ModRM byte (memory operand, if any, in
    /// `operands`).
    case x87(opcode: UInt8, modrm: UInt8)
    // SSE/SSE2 data movement.
    /// 128-bit move (MOVUPS/MOVDQU/…; `alignedMove` for MOVAPS/MOVDQA/MOVNT*).
    case move128, alignedMove128
    /// MOVD/MOVQ from a general register or memory into XMM (zeroing the rest).
    case movdToXMM
    /// MOVD/MOVQ from XMM into a general register or memory.
    case movdFromXMM
    /// MOVQ xmm, xmm/m64 (zeroing the high half) and MOVQ xmm/m64, xmm.
    case movq
    /// MOVSS / MOVSD (scalar moves; register forms merge, loads zero the rest).
    case movss, movsdSSE
    /// MOVLPS/MOVLPD (low 64 bits), MOVHPS/MOVHPD (high 64 bits), MOVHLPS, MOVLHPS.
    case movlp, movhp, movhlps, movlhps
    /// MOVDDUP (SSE3): the low 64 bits of an XMM register or an m64, into both halves.
    case movddup
    /// An MMX instruction: operands as Intel orders them (MM registers as `.mmx`).
    case mmx(MMXOperation)
    /// A packed operation: destination XMM, source XMM or m128.
    case packed(PackedOp)
    /// A packed shift by an immediate (destination XMM, immediate).
    case packedShiftImmediate(PackedOp)
    /// PSHUFD/PSHUFLW/PSHUFHW/SHUFPS: destination, source, immediate.
    case shuffle(PackedOp)
    /// PMOVMSKB / MOVMSKPS / MOVMSKPD: general register destination, XMM source.
    case moveMask(PackedOp)
    /// SSE/SSE2 floating-point arithmetic: destination XMM, source XMM or memory (scalar forms
    /// read 4 or 8 bytes), an immediate for compares.
    case floatArithmetic(FloatOp, FloatShape)
    /// CVTSI2SS/CVTSI2SD: destination XMM, source r/m32 or r/m64 (`sourceSize`).
    case convertIntegerToFloat(double: Bool)
    /// CVT(T)SS2SI/CVT(T)SD2SI: destination r32/r64, source XMM or memory.
    case convertFloatToInteger(double: Bool, truncate: Bool)
    /// Conversions between float formats and packed integers.
    case convertFloat(FloatConversion)
    /// PMOVSX*/PMOVZX* (SSE4.1): destination XMM, source XMM or `sourceSize` bytes of memory.
    case packedExtend(PackedOp)
    /// PEXTRB/W/D/Q, EXTRACTPS: destination r32/r64 (zero-extended) or memory of `operandSize`
    /// bytes, source XMM, immediate lane index.
    case extractLane
    /// PINSRB/W/D/Q: destination XMM, source r32/r64 (its low `operandSize` bytes) or memory,
    /// immediate lane index.
    case insertLane
    /// INSERTPS (SSE4.1): destination XMM, source XMM or m32, immediate (source lane, destination
    /// lane, zero mask).
    case insertps
    /// PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM (SSE4.2): first XMM, second XMM or m128 (no
    /// alignment), immediate; `operandSize` 8 when REX.W makes the explicit lengths RAX/RDX.
    case stringCompare(explicit: Bool, index: Bool)
    /// CRC32 r32/r64, r/m8/16/32/64 (SSE4.2); `sourceSize` is the source's.
    case crc32
    /// PTEST (SSE4.1): ZF when dst AND src is zero, CF when src AND NOT dst is zero.
    case ptest
    /// UCOMISS/UCOMISD/COMISS/COMISD: flags from comparing two scalars.
    case compareScalarFlags(double: Bool, ordered: Bool)
    /// A system instruction (privileged state, ports, segments, far transfers).
    case system(SystemOperation)
}

/// Floating-point operations of SSE/SSE2.
public enum FloatOp: Sendable, Equatable {
    case add, sub, mul, div, min, max, sqrt
    /// CMPccPS/PD/SS/SD with the predicate in the immediate.
    case compare
    /// ROUNDSS/SD/PS/PD (SSE4.1): the immediate's mode (bits 0-1) or MXCSR's (bit 2 set).
    case round
    /// DPPS/DPPD (SSE4.1): products selected by immediate bits 4-7, summed, broadcast to the lanes
    /// selected by bits 0-3.
    case dotProduct
    /// ADDSUBPS/PD (SSE3): even lanes subtract, odd lanes add.
    case addSub
    /// HADDPS/PD and HSUBPS/PD (SSE3): adjacent pairs of the destination, then of the source.
    case horizontalAdd, horizontalSub
}

/// Which lanes a floating-point operation works on.
public enum FloatShape: Sendable, Equatable {
    case scalarSingle, scalarDouble, packedSingle, packedDouble

    /// Bytes read from a memory source.
    public var memorySize: Int {
        switch self {
        case .scalarSingle: return 4
        case .scalarDouble: return 8
        default: return 16
        }
    }
}

/// SSE2 conversions between float formats and packed integers.
public enum FloatConversion: Sendable, Equatable {
    case scalarDoubleToSingle, scalarSingleToDouble
    case packedSingleToDouble, packedDoubleToSingle
    case packedInt32ToDouble, packedInt32ToSingle
    case packedSingleToInt32, packedSingleToInt32Truncating
    case packedDoubleToInt32, packedDoubleToInt32Truncating

    /// Bytes read from a memory source.
    public var memorySize: Int {
        switch self {
        case .scalarDoubleToSingle, .packedSingleToDouble, .packedInt32ToDouble: return 8
        case .scalarSingleToDouble: return 4
        default: return 16
        }
    }
}

/// The packed SSE/SSE2 operations implemented.
public enum PackedOp: Sendable, Equatable {
    case pxor, por, pand, pandn
    case pcmpeqb, pcmpeqw, pcmpeqd, pcmpgtb, pcmpgtw, pcmpgtd
    case pminub, pmaxub, pminsw, pmaxsw
    case pmuludq, pmullw, pmulhw, pmulhuw, pmaddwd, psadbw, pavgb, pavgw
    case paddusb, paddusw, psubusb, psubusw, paddsb, paddsw, psubsb, psubsw
    case packsswb, packuswb, packssdw
    case paddb, paddw, paddd, paddq, psubb, psubw, psubd, psubq
    case punpcklbw, punpcklwd, punpckldq, punpcklqdq, punpckhbw, punpckhwd, punpckhdq, punpckhqdq
    case unpcklps, unpckhps, unpckhpd, shufpd
    case psrlw, psraw, psllw, psrld, psrad, pslld, psrlq, psllq, psrldq, pslldq
    case pshufd, pshuflw, pshufhw, shufps
    case pmovmskb, movmskps, movmskpd
    // SSSE3 (PALIGNR goes through `shuffle` for its immediate).
    case pshufb, phaddw, phaddd, phaddsw, phsubw, phsubd, phsubsw, pmaddubsw, pmulhrsw
    case psignb, psignw, psignd, pabsb, pabsw, pabsd, palignr
    // SSE4.1 / SSE4.2 integer operations (immediate blends go through `shuffle`; the variable
    // blends read XMM0 as their mask; the extensions read only the low 2, 4 or 8 source bytes).
    case pminsb, pminsd, pminuw, pminud, pmaxsb, pmaxsd, pmaxuw, pmaxud, pmulld, pmuldq
    case pcmpeqq, pcmpgtq, packusdw, phminposuw
    case pblendvb, blendvps, blendvpd, pblendw, blendps, blendpd
    case pmovsxbw, pmovsxbd, pmovsxbq, pmovsxwd, pmovsxwq, pmovsxdq
    case pmovzxbw, pmovzxbd, pmovzxbq, pmovzxwd, pmovzxwq, pmovzxdq
    /// MPSADBW (immediate through `shuffle`).
    case mpsadbw
}
