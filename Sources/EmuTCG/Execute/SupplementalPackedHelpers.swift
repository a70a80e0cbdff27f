/// SSSE3 packed integer operations on 128-bit values held as two 64-bit halves (destination
/// first, as `PackedHelpers.apply`).
enum SupplementalPackedHelpers {
    typealias V = (UInt64, UInt64)

    @inline(__always) static func sat16(_ v: Int32) -> Int16 { Int16(max(-32768, min(32767, v))) }

    /// dst = op(dst, src) for the SSSE3 operations without an immediate.
    static func apply(_ op: PackedOp, _ d: V, _ s: V) -> V {
        switch op {
        case .pshufb:
            let x = PackedHelpers.bytes(d), y = PackedHelpers.bytes(s)
            var r = SIMD16<UInt8>()
            for i in 0..<16 { r[i] = y[i] & 0x80 != 0 ? 0 : x[Int(y[i] & 15)] }
            return PackedHelpers.halves(r)
        case .phaddw, .phsubw, .phaddsw, .phsubsw:
            let x = PackedHelpers.lanes(d, SIMD8<Int16>.self), y = PackedHelpers.lanes(s, SIMD8<Int16>.self)
            var r = SIMD8<Int16>()
            for i in 0..<8 {
                let v = i < 4 ? x : y, k = (i & 3) * 2
                switch op {
                case .phaddw: r[i] = v[k] &+ v[k + 1]
                case .phsubw: r[i] = v[k] &- v[k + 1]
                case .phaddsw: r[i] = sat16(Int32(v[k]) + Int32(v[k + 1]))
                default: r[i] = sat16(Int32(v[k]) - Int32(v[k + 1]))
                }
            }
            return PackedHelpers.halves(r)
        case .phaddd, .phsubd:
            let x = PackedHelpers.lanes(d, SIMD4<Int32>.self), y = PackedHelpers.lanes(s, SIMD4<Int32>.self)
            var r = SIMD4<Int32>()
            for i in 0..<4 {
                let v = i < 2 ? x : y, k = (i & 1) * 2
                r[i] = op == .phaddd ? v[k] &+ v[k + 1] : v[k] &- v[k + 1]
            }
            return PackedHelpers.halves(r)
        case .pmaddubsw:
            // Destination bytes unsigned, source bytes signed; pairs summed with signed saturation.
            let x = PackedHelpers.bytes(d), y = PackedHelpers.lanes(s, SIMD16<Int8>.self)
            var r = SIMD8<Int16>()
            for i in 0..<8 {
                r[i] = sat16(Int32(x[2 * i]) * Int32(y[2 * i]) + Int32(x[2 * i + 1]) * Int32(y[2 * i + 1]))
            }
            return PackedHelpers.halves(r)
        case .pmulhrsw:
            let x = PackedHelpers.lanes(d, SIMD8<Int16>.self), y = PackedHelpers.lanes(s, SIMD8<Int16>.self)
            var r = SIMD8<Int16>()
            for i in 0..<8 { r[i] = Int16(truncatingIfNeeded: (((Int32(x[i]) * Int32(y[i])) >> 14) + 1) >> 1) }
            return PackedHelpers.halves(r)
        case .psignb:
            return sign(PackedHelpers.lanes(d, SIMD16<Int8>.self), PackedHelpers.lanes(s, SIMD16<Int8>.self))
        case .psignw:
            return sign(PackedHelpers.lanes(d, SIMD8<Int16>.self), PackedHelpers.lanes(s, SIMD8<Int16>.self))
        case .psignd:
            return sign(PackedHelpers.lanes(d, SIMD4<Int32>.self), PackedHelpers.lanes(s, SIMD4<Int32>.self))
        case .pabsb: return absolute(PackedHelpers.lanes(s, SIMD16<Int8>.self))
        case .pabsw: return absolute(PackedHelpers.lanes(s, SIMD8<Int16>.self))
        case .pabsd: return absolute(PackedHelpers.lanes(s, SIMD4<Int32>.self))
        default:
            return d
        }
    }

    /// PSIGN: each destination lane negated, zeroed or kept by the sign of the source lane.
    static func sign<T: SIMD>(_ x: T, _ y: T) -> V where T.Scalar: FixedWidthInteger & SignedInteger {
        var r = x
        for i in r.indices { r[i] = y[i] < 0 ? 0 &- x[i] : (y[i] == 0 ? 0 : x[i]) }
        return PackedHelpers.halves(r)
    }

    /// PABS: the magnitude, so the most negative value stays itself (its unsigned magnitude).
    static func absolute<T: SIMD>(_ y: T) -> V where T.Scalar: FixedWidthInteger & SignedInteger {
        var r = y
        for i in r.indices { r[i] = y[i] < 0 ? 0 &- y[i] : y[i] }
        return PackedHelpers.halves(r)
    }

    /// PALIGNR: the 32-byte concatenation destination:source shifted right by `imm` bytes, low 16.
    static func alignRight(_ d: V, _ s: V, imm: UInt8) -> V {
        let x = PackedHelpers.bytes(s), y = PackedHelpers.bytes(d)
        var r = SIMD16<UInt8>()
        for i in 0..<16 {
            let k = i + Int(imm)
            r[i] = k < 16 ? x[k] : (k < 32 ? y[k - 16] : 0)
        }
        return PackedHelpers.halves(r)
    }
}
