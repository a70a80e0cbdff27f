/// What an MMX instruction does (the no-prefix 0F forms on MM0–7, plus MOVQ2DQ/MOVDQ2Q).
///
/// Every MMX operation (EMMS aside) sets the x87 TOP to 0 and marks all eight registers valid;
/// see `MMX`. The MM register an operation works on is the `IRHelper.mmx` destination.
public enum MMXOperation: Sendable, Equatable {
    /// mm = op(mm, mm/m64): the SSE lane operation on 64 bits.
    case packed(PackedOp)
    /// A packed shift of mm by an immediate (0F 71/72/73).
    case shiftImmediate(PackedOp)
    /// PSHUFW (`.pshuflw` semantics on the source) or PALIGNR: mm, mm/m64, imm8.
    case shuffle(PackedOp)
    /// mm = source, zero-extended: MOVD/MOVQ mm, r/m32/64; MOVQ mm, mm/m64; MOVDQ2Q mm, xmm.
    case load
    /// The MM register's value to a destination: MOVD/MOVQ r/m, mm; MOVQ/MOVNTQ m64, mm;
    /// MOVQ2DQ xmm, mm.
    case store
    /// EMMS: every x87 register empty.
    case emms
    /// PMOVMSKB r32, mm.
    case moveMask
    /// PEXTRW r32, mm, imm8.
    case extractWord
    /// PINSRW mm, r32/m16, imm8.
    case insertWord
    /// MASKMOVQ mm1, mm2: the bytes of mm1 whose mm2 byte has its top bit set, stored at [RDI].
    case maskMove
    /// CVTPI2PS/CVTPI2PD xmm, mm/m64 (the `IRHelper.mmx` destination is the XMM register): two
    /// int32 lanes converted by the SSE helper; CVTPI2PS keeps the XMM register's high half. Only
    /// an MM source switches the x87 to MMX state.
    case convertToXMM(FloatConversion, fromRegister: Bool)
    /// CVT(T)PS2PI mm, xmm/m64 and CVT(T)PD2PI mm, xmm/m128: two int32 lanes into mm; the
    /// source is args [low, high].
    case convertFromXMM(FloatConversion)

    /// Whether the operation produces a value for a destination that is not an MM register.
    public var producesResult: Bool {
        switch self {
        case .store, .moveMask, .extractWord: return true
        default: return false
        }
    }
}
