import CEmuSystem

/// SSE/SSE2/SSE3/SSE4.1 floating point (arithmetic, compares, rounding, conversions) run on the
/// host's own SSE unit under the guest's MXCSR (`emu_sse_execute` in CEmuSystem). EmuTCG runs on
/// x86-64 hosts only (its x87 is the host's `Float80`), and the host's instruction under the
/// guest's rounding control, DAZ and FTZ gives the architectural result and exception flags by
/// construction, NaN rules included, at the cost of an MXCSR switch per operation.
///
/// Every routine merges the raised flags into the guest's sticky MXCSR flags. When a raised
/// exception is unmasked in the guest's MXCSR, the destination is left unchanged and the routine
/// throws `GuestException.simdFloatingPoint` (#XM; Linux delivers SIGFPE). With the usual MXCSR
/// (nearest, all masked) and ordinary operands, `NearestFloat` computes the result and PE in
/// Swift without touching the host's MXCSR.
enum FloatHelpers {
    typealias V = (UInt64, UInt64)

    /// Whether the guest's MXCSR is the one `NearestFloat` handles.
    @inline(__always) static func nearest(_ st: UnsafeMutablePointer<UInt64>) -> Bool {
        st[StateSlot.mxcsr] & ~0x3F == NearestFloat.control
    }

    /// Records PE from the fast path (masked there, so never #XM).
    @inline(__always) static func precision(_ st: UnsafeMutablePointer<UInt64>, _ inexact: Bool) {
        if inexact { st[StateSlot.mxcsr] |= 0x20 }
    }

    /// Runs `op` with XMM0 = `d`, XMM1 = `s` on the host; returns XMM0 (or the integer in its low
    /// half) and merges the flags, throwing #XM for an unmasked one.
    @inline(__always)
    static func run(_ st: UnsafeMutablePointer<UInt64>, _ op: emu_sse_op, imm: UInt8 = 0, _ d: V, _ s: V, pc: UInt64) throws(GuestException) -> V {
        let (result, raised) = raw(st, op, imm: imm, d, s)
        try merge(st, raised, pc: pc)
        return result
    }

    /// The host operation alone: (XMM0 after it, flags raised).
    @inline(__always)
    static func raw(_ st: UnsafeMutablePointer<UInt64>, _ op: emu_sse_op, imm: UInt8 = 0, _ d: V, _ s: V) -> (V, UInt64) {
        var dst = d, src = s
        let mxcsr = UInt32(truncatingIfNeeded: st[StateSlot.mxcsr])
        let raised = withUnsafeMutableBytes(of: &dst) { dp in
            withUnsafeMutableBytes(of: &src) { sp in
                emu_sse_execute(Int32(op.rawValue), UInt32(imm), mxcsr,
                                dp.baseAddress?.assumingMemoryBound(to: UInt64.self),
                                sp.baseAddress?.assumingMemoryBound(to: UInt64.self))
            }
        }
        return (dst, UInt64(raised))
    }

    /// ORs `raised` into the guest's MXCSR flags; #XM when one of them is unmasked.
    @inline(__always)
    static func merge(_ st: UnsafeMutablePointer<UInt64>, _ raised: UInt64, pc: UInt64) throws(GuestException) {
        guard raised != 0 else { return }
        let mxcsr = st[StateSlot.mxcsr] | raised
        st[StateSlot.mxcsr] = mxcsr
        let unmasked = raised & ~(mxcsr >> 7) & 0x3F
        if unmasked != 0 { throw .simdFloatingPoint(pc: pc, exceptions: unmasked) }
    }

    static func shapeIndex(_ shape: FloatShape) -> UInt32 {
        switch shape {
        case .packedSingle: return 0
        case .packedDouble: return 1
        case .scalarSingle: return 2
        case .scalarDouble: return 3
        }
    }

    /// The host operation for `op` in `shape` (the four shapes are consecutive in `emu_sse_op`).
    static func operation(_ op: FloatOp, _ shape: FloatShape) -> emu_sse_op {
        let first: emu_sse_op
        switch op {
        case .add: first = EMU_SSE_ADDPS
        case .sub: first = EMU_SSE_SUBPS
        case .mul: first = EMU_SSE_MULPS
        case .div: first = EMU_SSE_DIVPS
        case .min: first = EMU_SSE_MINPS
        case .max: first = EMU_SSE_MAXPS
        case .sqrt: first = EMU_SSE_SQRTPS
        case .compare: first = EMU_SSE_CMPPS
        case .round: first = EMU_SSE_ROUNDPS
        case .addSub: return shape == .packedDouble ? EMU_SSE_ADDSUBPD : EMU_SSE_ADDSUBPS
        case .horizontalAdd: return shape == .packedDouble ? EMU_SSE_HADDPD : EMU_SSE_HADDPS
        case .horizontalSub: return shape == .packedDouble ? EMU_SSE_HSUBPD : EMU_SSE_HSUBPS
        case .dotProduct: return shape == .packedDouble ? EMU_SSE_DPPD : EMU_SSE_DPPS
        }
        return emu_sse_op(rawValue: first.rawValue + shapeIndex(shape))
    }

    /// An arithmetic, compare or round operation: XMM `d` op= `s`.
    static func arithmetic(_ st: UnsafeMutablePointer<UInt64>, _ op: FloatOp, _ shape: FloatShape, _ d: V, _ s: V,
                           immediate: UInt8, pc: UInt64) throws(GuestException) -> V {
        if nearest(st), let (v, inexact) = NearestFloat.arithmetic(op, shape, d, s, predicate: immediate) {
            precision(st, inexact)
            return v
        }
        switch op {
        case .compare:
            return try run(st, operation(op, shape), imm: immediate & 7, d, s, pc: pc)
        case .round:
            return try run(st, operation(op, shape), imm: immediate & 15, d, s, pc: pc)
        case .dotProduct:
            return try run(st, operation(op, shape), imm: immediate, d, s, pc: pc)
        default:
            return try run(st, operation(op, shape), d, s, pc: pc)
        }
    }

    /// CVTSI2SS/SD of a 32- or 64-bit signed integer into the low lane of `d`.
    static func fromInteger(_ st: UnsafeMutablePointer<UInt64>, double: Bool, sourceSize: Int, _ d: V, _ value: UInt64, pc: UInt64) throws(GuestException) -> V {
        if nearest(st) {
            let (v, inexact) = NearestFloat.fromInteger(double: double, sourceSize: sourceSize, d, value)
            precision(st, inexact)
            return v
        }
        let op: emu_sse_op
        switch (double, sourceSize == 8) {
        case (false, false): op = EMU_SSE_CVTSI2SSL
        case (false, true): op = EMU_SSE_CVTSI2SSQ
        case (true, false): op = EMU_SSE_CVTSI2SDL
        case (true, true): op = EMU_SSE_CVTSI2SDQ
        }
        return try run(st, op, d, (value, 0), pc: pc)
    }

    /// CVT(T)SS2SI/CVT(T)SD2SI of the low lane of `s` into a `size`-byte integer (zero-extended).
    static func toInteger(_ st: UnsafeMutablePointer<UInt64>, double: Bool, truncate: Bool, size: Int, _ s: UInt64, pc: UInt64) throws(GuestException) -> UInt64 {
        if nearest(st), let (v, inexact) = NearestFloat.toInteger(double: double, truncate: truncate, size: size, s) {
            precision(st, inexact)
            return v
        }
        let op: emu_sse_op
        switch (double, truncate, size == 8) {
        case (false, false, false): op = EMU_SSE_CVTSS2SI32
        case (false, false, true): op = EMU_SSE_CVTSS2SI64
        case (false, true, false): op = EMU_SSE_CVTTSS2SI32
        case (false, true, true): op = EMU_SSE_CVTTSS2SI64
        case (true, false, false): op = EMU_SSE_CVTSD2SI32
        case (true, false, true): op = EMU_SSE_CVTSD2SI64
        case (true, true, false): op = EMU_SSE_CVTTSD2SI32
        case (true, true, true): op = EMU_SSE_CVTTSD2SI64
        }
        return try run(st, op, (0, 0), (s, 0), pc: pc).0
    }

    /// Conversions between float formats and packed integers: XMM `d` = convert(`s`).
    static func convert(_ st: UnsafeMutablePointer<UInt64>, _ c: FloatConversion, _ d: V, _ s: V, pc: UInt64) throws(GuestException) -> V {
        if nearest(st), let (v, inexact) = NearestFloat.convert(c, d, s) {
            precision(st, inexact)
            return v
        }
        let op: emu_sse_op
        switch c {
        case .scalarDoubleToSingle: op = EMU_SSE_CVTSD2SS
        case .scalarSingleToDouble: op = EMU_SSE_CVTSS2SD
        case .packedSingleToDouble: op = EMU_SSE_CVTPS2PD
        case .packedDoubleToSingle: op = EMU_SSE_CVTPD2PS
        case .packedInt32ToDouble: op = EMU_SSE_CVTDQ2PD
        case .packedInt32ToSingle: op = EMU_SSE_CVTDQ2PS
        case .packedSingleToInt32: op = EMU_SSE_CVTPS2DQ
        case .packedSingleToInt32Truncating: op = EMU_SSE_CVTTPS2DQ
        case .packedDoubleToInt32: op = EMU_SSE_CVTPD2DQ
        case .packedDoubleToInt32Truncating: op = EMU_SSE_CVTTPD2DQ
        }
        return try run(st, op, d, s, pc: pc)
    }

    /// (U)COMISS/SD: ZF, PF, CF from the comparison (OF, SF, AF clear). COMIS* raise invalid for
    /// any NaN, UCOMIS* only for a signalling one.
    static func compareFlags(_ st: UnsafeMutablePointer<UInt64>, _ a: UInt64, _ b: UInt64, double: Bool, ordered: Bool, pc: UInt64) throws(GuestException) {
        let op: emu_sse_op
        switch (double, ordered) {
        case (false, true): op = EMU_SSE_COMISS
        case (true, true): op = EMU_SSE_COMISD
        case (false, false): op = EMU_SSE_UCOMISS
        case (true, false): op = EMU_SSE_UCOMISD
        }
        let flags = try run(st, op, (a, 0), (b, 0), pc: pc).0 & (RFlags.zf | RFlags.pf | RFlags.cf)
        st[StateSlot.ccOp] = ConditionCodeOp.eflags.encoded(size: 8)
        st[StateSlot.ccSrc] = flags
    }
}
