/// SSE/SSE2 packed integer and logic operations on 128-bit values held as two 64-bit halves.
enum PackedHelpers {
    typealias V = (UInt64, UInt64)

    @inline(__always) static func bytes(_ v: V) -> SIMD16<UInt8> { unsafeBitCast(SIMD2<UInt64>(v.0, v.1), to: SIMD16<UInt8>.self) }
    @inline(__always) static func halves<T: SIMD>(_ x: T) -> V {
        let w = unsafeBitCast(x, to: SIMD2<UInt64>.self)
        return (w[0], w[1])
    }
    @inline(__always) static func lanes<T: SIMD>(_ v: V, _: T.Type) -> T { unsafeBitCast(SIMD2<UInt64>(v.0, v.1), to: T.self) }

    static func mask<T: SIMD>(_ m: SIMDMask<T.MaskStorage>, _: T.Type) -> V where T.Scalar: FixedWidthInteger {
        halves(T(repeating: 0).replacing(with: T(repeating: ~0), where: m))
    }

    /// dst = op(dst, src).
    static func apply(_ op: PackedOp, _ d: V, _ s: V) -> V {
        switch op {
        case .pxor: return (d.0 ^ s.0, d.1 ^ s.1)
        case .por: return (d.0 | s.0, d.1 | s.1)
        case .pand: return (d.0 & s.0, d.1 & s.1)
        case .pandn: return (~d.0 & s.0, ~d.1 & s.1)
        case .pcmpeqb: return mask(lanes(d, SIMD16<UInt8>.self) .== lanes(s, SIMD16<UInt8>.self), SIMD16<UInt8>.self)
        case .pcmpeqw: return mask(lanes(d, SIMD8<UInt16>.self) .== lanes(s, SIMD8<UInt16>.self), SIMD8<UInt16>.self)
        case .pcmpeqd: return mask(lanes(d, SIMD4<UInt32>.self) .== lanes(s, SIMD4<UInt32>.self), SIMD4<UInt32>.self)
        case .pcmpgtb: return mask(lanes(d, SIMD16<Int8>.self) .> lanes(s, SIMD16<Int8>.self), SIMD16<Int8>.self)
        case .pcmpgtw: return mask(lanes(d, SIMD8<Int16>.self) .> lanes(s, SIMD8<Int16>.self), SIMD8<Int16>.self)
        case .pcmpgtd: return mask(lanes(d, SIMD4<Int32>.self) .> lanes(s, SIMD4<Int32>.self), SIMD4<Int32>.self)
        case .pminub: return halves(pointwiseMin(lanes(d, SIMD16<UInt8>.self), lanes(s, SIMD16<UInt8>.self)))
        case .pmaxub: return halves(pointwiseMax(lanes(d, SIMD16<UInt8>.self), lanes(s, SIMD16<UInt8>.self)))
        case .pminsw: return halves(pointwiseMin(lanes(d, SIMD8<Int16>.self), lanes(s, SIMD8<Int16>.self)))
        case .pmaxsw: return halves(pointwiseMax(lanes(d, SIMD8<Int16>.self), lanes(s, SIMD8<Int16>.self)))
        case .pmuludq: return ((d.0 & 0xFFFF_FFFF) &* (s.0 & 0xFFFF_FFFF), (d.1 & 0xFFFF_FFFF) &* (s.1 & 0xFFFF_FFFF))
        case .pmullw: return halves(lanes(d, SIMD8<UInt16>.self) &* lanes(s, SIMD8<UInt16>.self))
        case .pmulhw, .pmulhuw, .pmaddwd:
            let x = lanes(d, SIMD8<Int16>.self), y = lanes(s, SIMD8<Int16>.self)
            let ux = lanes(d, SIMD8<UInt16>.self), uy = lanes(s, SIMD8<UInt16>.self)
            if op == .pmaddwd {
                var r = SIMD4<Int32>()
                for i in 0..<4 { r[i] = Int32(x[2 * i]) &* Int32(y[2 * i]) &+ Int32(x[2 * i + 1]) &* Int32(y[2 * i + 1]) }
                return halves(r)
            }
            var r = SIMD8<UInt16>()
            for i in 0..<8 {
                r[i] = op == .pmulhw ? UInt16(truncatingIfNeeded: (Int32(x[i]) * Int32(y[i])) >> 16)
                                     : UInt16(truncatingIfNeeded: (UInt32(ux[i]) * UInt32(uy[i])) >> 16)
            }
            return halves(r)
        case .psadbw:
            let x = bytes(d), y = bytes(s)
            var lo: UInt64 = 0, hi: UInt64 = 0
            for i in 0..<8 { lo += UInt64(x[i] > y[i] ? x[i] - y[i] : y[i] - x[i]) }
            for i in 8..<16 { hi += UInt64(x[i] > y[i] ? x[i] - y[i] : y[i] - x[i]) }
            return (lo, hi)
        case .pavgb:
            let x = bytes(d), y = bytes(s)
            var r = SIMD16<UInt8>()
            for i in 0..<16 { r[i] = UInt8((UInt16(x[i]) + UInt16(y[i]) + 1) >> 1) }
            return halves(r)
        case .pavgw:
            let x = lanes(d, SIMD8<UInt16>.self), y = lanes(s, SIMD8<UInt16>.self)
            var r = SIMD8<UInt16>()
            for i in 0..<8 { r[i] = UInt16((UInt32(x[i]) + UInt32(y[i]) + 1) >> 1) }
            return halves(r)
        case .paddusb, .psubusb, .paddsb, .psubsb:
            let x = bytes(d), y = bytes(s)
            var r = SIMD16<UInt8>()
            for i in 0..<16 {
                switch op {
                case .paddusb: r[i] = UInt8(min(255, Int(x[i]) + Int(y[i])))
                case .psubusb: r[i] = UInt8(max(0, Int(x[i]) - Int(y[i])))
                case .paddsb: r[i] = UInt8(bitPattern: Int8(max(-128, min(127, Int(Int8(bitPattern: x[i])) + Int(Int8(bitPattern: y[i]))))))
                default: r[i] = UInt8(bitPattern: Int8(max(-128, min(127, Int(Int8(bitPattern: x[i])) - Int(Int8(bitPattern: y[i]))))))
                }
            }
            return halves(r)
        case .paddusw, .psubusw, .paddsw, .psubsw:
            let x = lanes(d, SIMD8<UInt16>.self), y = lanes(s, SIMD8<UInt16>.self)
            var r = SIMD8<UInt16>()
            for i in 0..<8 {
                switch op {
                case .paddusw: r[i] = UInt16(min(65535, Int(x[i]) + Int(y[i])))
                case .psubusw: r[i] = UInt16(max(0, Int(x[i]) - Int(y[i])))
                case .paddsw: r[i] = UInt16(bitPattern: Int16(max(-32768, min(32767, Int(Int16(bitPattern: x[i])) + Int(Int16(bitPattern: y[i]))))))
                default: r[i] = UInt16(bitPattern: Int16(max(-32768, min(32767, Int(Int16(bitPattern: x[i])) - Int(Int16(bitPattern: y[i]))))))
                }
            }
            return halves(r)
        case .packsswb, .packuswb:
            let x = lanes(d, SIMD8<Int16>.self), y = lanes(s, SIMD8<Int16>.self)
            var r = SIMD16<UInt8>()
            for i in 0..<16 {
                let v = Int(i < 8 ? x[i] : y[i - 8])
                r[i] = op == .packsswb ? UInt8(bitPattern: Int8(max(-128, min(127, v)))) : UInt8(max(0, min(255, v)))
            }
            return halves(r)
        case .packssdw:
            let x = lanes(d, SIMD4<Int32>.self), y = lanes(s, SIMD4<Int32>.self)
            var r = SIMD8<UInt16>()
            for i in 0..<8 { r[i] = UInt16(bitPattern: Int16(max(-32768, min(32767, Int(i < 4 ? x[i] : y[i - 4]))))) }
            return halves(r)
        case .paddb: return halves(lanes(d, SIMD16<UInt8>.self) &+ lanes(s, SIMD16<UInt8>.self))
        case .paddw: return halves(lanes(d, SIMD8<UInt16>.self) &+ lanes(s, SIMD8<UInt16>.self))
        case .paddd: return halves(lanes(d, SIMD4<UInt32>.self) &+ lanes(s, SIMD4<UInt32>.self))
        case .paddq: return (d.0 &+ s.0, d.1 &+ s.1)
        case .psubb: return halves(lanes(d, SIMD16<UInt8>.self) &- lanes(s, SIMD16<UInt8>.self))
        case .psubw: return halves(lanes(d, SIMD8<UInt16>.self) &- lanes(s, SIMD8<UInt16>.self))
        case .psubd: return halves(lanes(d, SIMD4<UInt32>.self) &- lanes(s, SIMD4<UInt32>.self))
        case .psubq: return (d.0 &- s.0, d.1 &- s.1)
        case .punpcklbw: return interleave(d, s, element: 1, high: false)
        case .punpcklwd: return interleave(d, s, element: 2, high: false)
        case .punpckldq, .unpcklps: return interleave(d, s, element: 4, high: false)
        case .unpckhps: return interleave(d, s, element: 4, high: true)
        case .unpckhpd: return (d.1, s.1)
        case .punpcklqdq: return (d.0, s.0)
        case .punpckhbw: return interleave(d, s, element: 1, high: true)
        case .punpckhwd: return interleave(d, s, element: 2, high: true)
        case .punpckhdq: return interleave(d, s, element: 4, high: true)
        case .punpckhqdq: return (d.1, s.1)
        case .psrlw, .psraw, .psllw, .psrld, .psrad, .pslld, .psrlq, .psllq, .psrldq, .pslldq:
            return shift(op, d, count: s.1 != 0 ? UInt64.max : s.0)
        case .pshufb, .phaddw, .phaddd, .phaddsw, .phsubw, .phsubd, .phsubsw, .pmaddubsw, .pmulhrsw,
             .psignb, .psignw, .psignd, .pabsb, .pabsw, .pabsd:
            return SupplementalPackedHelpers.apply(op, d, s)
        case .pminsb, .pminsd, .pminuw, .pminud, .pmaxsb, .pmaxsd, .pmaxuw, .pmaxud, .pmulld, .pmuldq,
             .pcmpeqq, .pcmpgtq, .packusdw, .phminposuw,
             .pmovsxbw, .pmovsxbd, .pmovsxbq, .pmovsxwd, .pmovsxwq, .pmovsxdq,
             .pmovzxbw, .pmovzxbd, .pmovzxbq, .pmovzxwd, .pmovzxwq, .pmovzxdq:
            return SSE4PackedHelpers.apply(op, d, s)
        case .pblendvb, .blendvps, .blendvpd, .pblendw, .blendps, .blendpd, .mpsadbw:
            return d // need XMM0 or an immediate: see `BlockCompiler` and `shuffle`
        case .pshufd, .pshuflw, .pshufhw, .shufps, .shufpd, .pmovmskb, .movmskps, .movmskpd, .palignr:
            return d
        }
    }

    static func interleave(_ a: V, _ b: V, element: Int, high: Bool) -> V {
        let x = bytes(a), y = bytes(b)
        var r = SIMD16<UInt8>()
        let pairs = 16 / element / 2
        let startLane = high ? pairs : 0
        for i in 0..<pairs {
            for k in 0..<element {
                r[(2 * i) * element + k] = x[(startLane + i) * element + k]
                r[(2 * i + 1) * element + k] = y[(startLane + i) * element + k]
            }
        }
        return halves(r)
    }

    static func shift(_ op: PackedOp, _ d: V, count: UInt64) -> V {
        switch op {
        case .psrldq, .pslldq:
            let n = Int(min(count, 16))
            let x = bytes(d)
            var r = SIMD16<UInt8>()
            for i in 0..<16 {
                if op == .psrldq { if i + n < 16 { r[i] = x[i + n] } }
                else if i - n >= 0 { r[i] = x[i - n] }
            }
            return halves(r)
        case .psrlq, .psllq:
            if count > 63 { return (0, 0) }
            return op == .psrlq ? (d.0 >> count, d.1 >> count) : (d.0 << count, d.1 << count)
        case .psrld, .pslld, .psrad:
            var x = lanes(d, SIMD4<UInt32>.self)
            for i in 0..<4 {
                switch op {
                case .psrld: x[i] = count > 31 ? 0 : x[i] >> UInt32(count)
                case .pslld: x[i] = count > 31 ? 0 : x[i] << UInt32(count)
                default: x[i] = UInt32(bitPattern: Int32(bitPattern: x[i]) >> Int32(min(count, 31)))
                }
            }
            return halves(x)
        default:
            var x = lanes(d, SIMD8<UInt16>.self)
            for i in 0..<8 {
                switch op {
                case .psrlw: x[i] = count > 15 ? 0 : x[i] >> UInt16(count)
                case .psllw: x[i] = count > 15 ? 0 : x[i] << UInt16(count)
                default: x[i] = UInt16(bitPattern: Int16(bitPattern: x[i]) >> Int16(min(count, 15)))
                }
            }
            return halves(x)
        }
    }

    static func shuffle(_ op: PackedOp, _ d: V, _ s: V, imm: UInt8) -> V {
        switch op {
        case .pshufd, .shufps:
            let src = lanes(s, SIMD4<UInt32>.self), dst = lanes(d, SIMD4<UInt32>.self)
            var r = SIMD4<UInt32>()
            for i in 0..<4 {
                let sel = Int((imm >> (2 * UInt8(i))) & 3)
                r[i] = (op == .shufps && i < 2) ? dst[sel] : src[sel]
            }
            return halves(r)
        case .shufpd:
            return (imm & 1 == 0 ? d.0 : d.1, imm & 2 == 0 ? s.0 : s.1)
        case .pshuflw, .pshufhw:
            let src = lanes(s, SIMD8<UInt16>.self)
            var r = src
            let base = op == .pshuflw ? 0 : 4
            for i in 0..<4 { r[base + i] = src[base + Int((imm >> (2 * UInt8(i))) & 3)] }
            return halves(r)
        case .palignr:
            return SupplementalPackedHelpers.alignRight(d, s, imm: imm)
        case .pblendw, .blendps, .blendpd:
            return SSE4PackedHelpers.blendImmediate(op, d, s, imm: imm)
        case .mpsadbw:
            return SSE4PackedHelpers.multipleSumsOfAbsoluteDifferences(d, s, imm: imm)
        default:
            return d
        }
    }

    static func moveMask(_ op: PackedOp, _ s: V) -> UInt64 {
        var m: UInt64 = 0
        switch op {
        case .pmovmskb:
            let b = bytes(s)
            for i in 0..<16 where b[i] & 0x80 != 0 { m |= 1 << UInt64(i) }
        case .movmskps:
            let x = lanes(s, SIMD4<UInt32>.self)
            for i in 0..<4 where x[i] & 0x8000_0000 != 0 { m |= 1 << UInt64(i) }
        default:
            m = (s.0 >> 63) | ((s.1 >> 63) << 1)
        }
        return m
    }
}
