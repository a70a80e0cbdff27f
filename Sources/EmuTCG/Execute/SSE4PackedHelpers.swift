/// SSE4.1 and SSE4.2 packed integer operations, blends and PTEST on 128-bit values held as two
/// 64-bit halves (destination first, as `PackedHelpers.apply`).
enum SSE4PackedHelpers {
    typealias V = (UInt64, UInt64)

    @inline(__always) static func lanes<T: SIMD>(_ v: V, _ t: T.Type) -> T { PackedHelpers.lanes(v, t) }
    @inline(__always) static func halves<T: SIMD>(_ x: T) -> V { PackedHelpers.halves(x) }

    /// dst = op(dst, src) for the two-operand SSE4 operations.
    static func apply(_ op: PackedOp, _ d: V, _ s: V) -> V {
        switch op {
        case .pminsb: return halves(pointwiseMin(lanes(d, SIMD16<Int8>.self), lanes(s, SIMD16<Int8>.self)))
        case .pmaxsb: return halves(pointwiseMax(lanes(d, SIMD16<Int8>.self), lanes(s, SIMD16<Int8>.self)))
        case .pminuw: return halves(pointwiseMin(lanes(d, SIMD8<UInt16>.self), lanes(s, SIMD8<UInt16>.self)))
        case .pmaxuw: return halves(pointwiseMax(lanes(d, SIMD8<UInt16>.self), lanes(s, SIMD8<UInt16>.self)))
        case .pminsd: return halves(pointwiseMin(lanes(d, SIMD4<Int32>.self), lanes(s, SIMD4<Int32>.self)))
        case .pmaxsd: return halves(pointwiseMax(lanes(d, SIMD4<Int32>.self), lanes(s, SIMD4<Int32>.self)))
        case .pminud: return halves(pointwiseMin(lanes(d, SIMD4<UInt32>.self), lanes(s, SIMD4<UInt32>.self)))
        case .pmaxud: return halves(pointwiseMax(lanes(d, SIMD4<UInt32>.self), lanes(s, SIMD4<UInt32>.self)))
        case .pmulld: return halves(lanes(d, SIMD4<UInt32>.self) &* lanes(s, SIMD4<UInt32>.self))
        case .pmuldq:
            // Signed 32 × 32 → 64 of dwords 0 and 2.
            let x = lanes(d, SIMD4<Int32>.self), y = lanes(s, SIMD4<Int32>.self)
            return (UInt64(bitPattern: Int64(x[0]) &* Int64(y[0])), UInt64(bitPattern: Int64(x[2]) &* Int64(y[2])))
        case .pcmpeqq: return (d.0 == s.0 ? ~0 : 0, d.1 == s.1 ? ~0 : 0)
        case .pcmpgtq:
            return (Int64(bitPattern: d.0) > Int64(bitPattern: s.0) ? ~0 : 0, Int64(bitPattern: d.1) > Int64(bitPattern: s.1) ? ~0 : 0)
        case .packusdw:
            let x = lanes(d, SIMD4<Int32>.self), y = lanes(s, SIMD4<Int32>.self)
            var r = SIMD8<UInt16>()
            for i in 0..<8 { r[i] = UInt16(max(0, min(65535, i < 4 ? x[i] : y[i - 4]))) }
            return halves(r)
        case .phminposuw:
            let y = lanes(s, SIMD8<UInt16>.self)
            var index = 0
            for i in 1..<8 where y[i] < y[index] { index = i }
            return (UInt64(y[index]) | UInt64(index) << 16, 0)
        case .pmovsxbw, .pmovsxbd, .pmovsxbq, .pmovsxwd, .pmovsxwq, .pmovsxdq,
             .pmovzxbw, .pmovzxbd, .pmovzxbq, .pmovzxwd, .pmovzxwq, .pmovzxdq:
            return extend(op, s)
        default:
            return d
        }
    }

    /// PMOVSX/PMOVZX: the low source elements widened into all destination lanes.
    static func extend(_ op: PackedOp, _ s: V) -> V {
        let b = lanes(s, SIMD16<UInt8>.self), w = lanes(s, SIMD8<UInt16>.self), dw = lanes(s, SIMD4<UInt32>.self)
        switch op {
        case .pmovsxbw: return halves(SIMD8<Int16>((0..<8).map { Int16(Int8(bitPattern: b[$0])) }))
        case .pmovzxbw: return halves(SIMD8<UInt16>((0..<8).map { UInt16(b[$0]) }))
        case .pmovsxbd: return halves(SIMD4<Int32>((0..<4).map { Int32(Int8(bitPattern: b[$0])) }))
        case .pmovzxbd: return halves(SIMD4<UInt32>((0..<4).map { UInt32(b[$0]) }))
        case .pmovsxbq: return (UInt64(bitPattern: Int64(Int8(bitPattern: b[0]))), UInt64(bitPattern: Int64(Int8(bitPattern: b[1]))))
        case .pmovzxbq: return (UInt64(b[0]), UInt64(b[1]))
        case .pmovsxwd: return halves(SIMD4<Int32>((0..<4).map { Int32(Int16(bitPattern: w[$0])) }))
        case .pmovzxwd: return halves(SIMD4<UInt32>((0..<4).map { UInt32(w[$0]) }))
        case .pmovsxwq: return (UInt64(bitPattern: Int64(Int16(bitPattern: w[0]))), UInt64(bitPattern: Int64(Int16(bitPattern: w[1]))))
        case .pmovzxwq: return (UInt64(w[0]), UInt64(w[1]))
        case .pmovsxdq: return (UInt64(bitPattern: Int64(Int32(bitPattern: dw[0]))), UInt64(bitPattern: Int64(Int32(bitPattern: dw[1]))))
        default: return (UInt64(dw[0]), UInt64(dw[1])) // pmovzxdq
        }
    }

    /// PBLENDVB/BLENDVPS/BLENDVPD: each lane from the source where XMM0's lane has its top bit set.
    static func blendVariable(_ op: PackedOp, _ d: V, _ s: V, mask m: V) -> V {
        let width = op == .pblendvb ? 8 : (op == .blendvps ? 32 : 64)
        var select: V = (0, 0)
        for half in 0..<2 {
            let mv = half == 0 ? m.0 : m.1
            var sel: UInt64 = 0
            for lane in stride(from: 0, to: 64, by: width) where (mv >> UInt64(lane + width - 1)) & 1 != 0 {
                sel |= (width == 64 ? ~0 : ((1 << UInt64(width)) - 1)) << UInt64(lane)
            }
            if half == 0 { select.0 = sel } else { select.1 = sel }
        }
        return ((d.0 & ~select.0) | (s.0 & select.0), (d.1 & ~select.1) | (s.1 & select.1))
    }

    /// BLENDPS/BLENDPD/PBLENDW: each lane from the source where its immediate bit is set.
    static func blendImmediate(_ op: PackedOp, _ d: V, _ s: V, imm: UInt8) -> V {
        let lanesCount = op == .pblendw ? 8 : (op == .blendps ? 4 : 2)
        let width = 128 / lanesCount
        var select: V = (0, 0)
        for lane in 0..<lanesCount where (imm >> UInt8(lane)) & 1 != 0 {
            let bit = lane * width
            let field: UInt64 = width == 64 ? ~0 : ((1 << UInt64(width)) - 1) << UInt64(bit % 64)
            if bit < 64 { select.0 |= field } else { select.1 |= field }
        }
        return ((d.0 & ~select.0) | (s.0 & select.0), (d.1 & ~select.1) | (s.1 & select.1))
    }

    /// MPSADBW: eight sums of absolute differences between 4-byte windows of the destination
    /// (starting at byte 0 or 4, immediate bit 2, then sliding) and one source dword (bits 0-1).
    static func multipleSumsOfAbsoluteDifferences(_ d: V, _ s: V, imm: UInt8) -> V {
        let x = PackedHelpers.bytes(d), y = PackedHelpers.bytes(s)
        let dBase = Int(imm & 4), sBase = Int(imm & 3) * 4
        var r = SIMD8<UInt16>()
        for i in 0..<8 {
            var sum = 0
            for k in 0..<4 { sum += abs(Int(x[dBase + i + k]) - Int(y[sBase + k])) }
            r[i] = UInt16(sum)
        }
        return halves(r)
    }

    /// PTEST: ZF = (dst AND src) == 0, CF = (src AND NOT dst) == 0; OF, SF, AF, PF cleared.
    static func test(_ state: UnsafeMutablePointer<UInt64>, _ d: V, _ s: V) {
        var f: UInt64 = 0
        if d.0 & s.0 == 0 && d.1 & s.1 == 0 { f |= RFlags.zf }
        if s.0 & ~d.0 == 0 && s.1 & ~d.1 == 0 { f |= RFlags.cf }
        state[StateSlot.ccOp] = ConditionCodeOp.eflags.encoded(size: 8)
        state[StateSlot.ccSrc] = f
    }
}
