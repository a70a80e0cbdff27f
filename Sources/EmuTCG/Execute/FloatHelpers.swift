/// SSE/SSE2 floating point on 128-bit values held as two 64-bit halves. Arithmetic uses the
/// host's IEEE operations in round-to-nearest (MXCSR's reset mode; other rounding modes and
/// exception flags are not modelled yet).
enum FloatHelpers {
    typealias V = (UInt64, UInt64)

    @inline(__always) static func singles(_ v: V) -> [Float] {
        [Float(bitPattern: UInt32(truncatingIfNeeded: v.0)), Float(bitPattern: UInt32(truncatingIfNeeded: v.0 >> 32)),
         Float(bitPattern: UInt32(truncatingIfNeeded: v.1)), Float(bitPattern: UInt32(truncatingIfNeeded: v.1 >> 32))]
    }
    @inline(__always) static func pack(_ f: [Float]) -> V {
        (UInt64(f[0].bitPattern) | UInt64(f[1].bitPattern) << 32, UInt64(f[2].bitPattern) | UInt64(f[3].bitPattern) << 32)
    }

    static func compare<T: BinaryFloatingPoint>(_ a: T, _ b: T, _ predicate: UInt8) -> Bool {
        switch predicate & 7 {
        case 0: return a == b
        case 1: return a < b
        case 2: return a <= b
        case 3: return a.isNaN || b.isNaN
        case 4: return !(a == b)
        case 5: return !(a < b)
        case 6: return !(a <= b)
        default: return !(a.isNaN || b.isNaN)
        }
    }

    static func apply(_ op: FloatOp, _ a: Double, _ b: Double, _ predicate: UInt8) -> Double {
        switch op {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        case .min: return a < b ? a : b
        case .max: return a > b ? a : b
        case .sqrt: return b.squareRoot()
        case .compare: return Double(bitPattern: compare(a, b, predicate) ? ~0 : 0)
        case .addSub, .horizontalAdd, .horizontalSub: return a + b // handled by `horizontal`
        case .round: return roundX86(b, mode: predicate)
        case .dotProduct: return a * b // handled by `dotProduct`
        }
    }

    static func apply(_ op: FloatOp, _ a: Float, _ b: Float, _ predicate: UInt8) -> Float {
        switch op {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        case .min: return a < b ? a : b
        case .max: return a > b ? a : b
        case .sqrt: return b.squareRoot()
        case .compare: return Float(bitPattern: compare(a, b, predicate) ? ~0 : 0)
        case .addSub, .horizontalAdd, .horizontalSub: return a + b // handled by `horizontal`
        case .round: return roundX86(b, mode: predicate)
        case .dotProduct: return a * b // handled by `dotProduct`
        }
    }

    /// `a + b` or `a - b` with the x86 NaN rule made explicit: a NaN first operand wins (quieted),
    /// else a NaN second operand (the host's own instruction might commute the operands).
    @inline(__always) static func x86AddOrSub<T: BinaryFloatingPoint>(_ a: T, _ b: T, subtract: Bool) -> T {
        if a.isNaN { return quieted(a) }
        if b.isNaN { return quieted(b) }
        return subtract ? a - b : a + b
    }

    @inline(__always) static func quieted<T: BinaryFloatingPoint>(_ x: T) -> T {
        x.isSignalingNaN ? T(sign: x.sign, exponentBitPattern: x.exponentBitPattern,
                             significandBitPattern: x.significandBitPattern | (1 << (T.significandBitCount - 1))) : x
    }

    /// ROUND*: mode 0 nearest-even, 1 down, 2 up, 3 toward zero; a NaN comes back quieted.
    @inline(__always) static func roundX86<T: BinaryFloatingPoint>(_ x: T, mode: UInt8) -> T {
        if x.isNaN { return quieted(x) }
        switch mode & 3 {
        case 0: return x.rounded(.toNearestOrEven)
        case 1: return x.rounded(.down)
        case 2: return x.rounded(.up)
        default: return x.rounded(.towardZero)
        }
    }

    @inline(__always) static func x86Mul<T: BinaryFloatingPoint>(_ a: T, _ b: T) -> T {
        if a.isNaN { return quieted(a) }
        if b.isNaN { return quieted(b) }
        return a * b
    }

    /// DPPS/DPPD in the SDM's order: masked products (+0 where unselected), pairwise sums, the
    /// total broadcast to the lanes selected by the low immediate bits (+0 elsewhere).
    static func dotProduct(double: Bool, _ d: V, _ s: V, imm: UInt8) -> V {
        if double {
            let x = [Double(bitPattern: d.0), Double(bitPattern: d.1)], y = [Double(bitPattern: s.0), Double(bitPattern: s.1)]
            let p = (0..<2).map { imm & (0x10 << UInt8($0)) != 0 ? x86Mul(x[$0], y[$0]) : 0.0 }
            let total = x86AddOrSub(p[0], p[1], subtract: false)
            return (imm & 1 != 0 ? total.bitPattern : 0, imm & 2 != 0 ? total.bitPattern : 0)
        }
        let x = singles(d), y = singles(s)
        let p = (0..<4).map { imm & (0x10 << UInt8($0)) != 0 ? x86Mul(x[$0], y[$0]) : Float(0) }
        let total = x86AddOrSub(x86AddOrSub(p[0], p[1], subtract: false), x86AddOrSub(p[2], p[3], subtract: false), subtract: false)
        return pack((0..<4).map { imm & (1 << UInt8($0)) != 0 ? total : Float(0) })
    }

    /// ADDSUBPS/PD, HADDPS/PD, HSUBPS/PD (SSE3), lane by lane as the SDM orders the operands.
    static func horizontal(_ op: FloatOp, double: Bool, _ d: V, _ s: V) -> V {
        let subtract = op == .horizontalSub
        if double {
            let x = [Double(bitPattern: d.0), Double(bitPattern: d.1)], y = [Double(bitPattern: s.0), Double(bitPattern: s.1)]
            if op == .addSub {
                return (x86AddOrSub(x[0], y[0], subtract: true).bitPattern, x86AddOrSub(x[1], y[1], subtract: false).bitPattern)
            }
            return (x86AddOrSub(x[0], x[1], subtract: subtract).bitPattern, x86AddOrSub(y[0], y[1], subtract: subtract).bitPattern)
        }
        let x = singles(d), y = singles(s)
        if op == .addSub {
            return pack((0..<4).map { x86AddOrSub(x[$0], y[$0], subtract: $0 & 1 == 0) })
        }
        return pack([x86AddOrSub(x[0], x[1], subtract: subtract), x86AddOrSub(x[2], x[3], subtract: subtract),
                     x86AddOrSub(y[0], y[1], subtract: subtract), x86AddOrSub(y[2], y[3], subtract: subtract)])
    }

    static func arithmetic(_ op: FloatOp, _ shape: FloatShape, _ d: V, _ s: V, predicate: UInt8) -> V {
        if op == .dotProduct { return dotProduct(double: shape == .packedDouble, d, s, imm: predicate) }
        if op == .addSub || op == .horizontalAdd || op == .horizontalSub {
            return horizontal(op, double: shape == .packedDouble, d, s)
        }
        switch shape {
        case .scalarDouble:
            return (apply(op, Double(bitPattern: d.0), Double(bitPattern: s.0), predicate).bitPattern, d.1)
        case .packedDouble:
            return (apply(op, Double(bitPattern: d.0), Double(bitPattern: s.0), predicate).bitPattern,
                    apply(op, Double(bitPattern: d.1), Double(bitPattern: s.1), predicate).bitPattern)
        case .scalarSingle:
            let r = apply(op, Float(bitPattern: UInt32(truncatingIfNeeded: d.0)), Float(bitPattern: UInt32(truncatingIfNeeded: s.0)), predicate)
            return ((d.0 & ~0xFFFF_FFFF) | UInt64(r.bitPattern), d.1)
        case .packedSingle:
            let x = singles(d), y = singles(s)
            return pack((0..<4).map { apply(op, x[$0], y[$0], predicate) })
        }
    }

    /// CVTSD2SI semantics: NaN or out of range gives the "integer indefinite" value.
    static func toInteger(_ x: Double, size: Int, truncate: Bool) -> UInt64 {
        let r = truncate ? x.rounded(.towardZero) : x.rounded(.toNearestOrEven)
        if size == 8 {
            guard !r.isNaN, r >= -9_223_372_036_854_775_808.0, r < 9_223_372_036_854_775_808.0 else { return 1 << 63 }
            return UInt64(bitPattern: Int64(r))
        }
        guard !r.isNaN, r >= -2_147_483_648.0, r < 2_147_483_648.0 else { return 0x8000_0000 }
        return UInt64(UInt32(bitPattern: Int32(r)))
    }

    static func int32(_ x: Double, truncate: Bool) -> UInt32 { UInt32(truncatingIfNeeded: toInteger(x, size: 4, truncate: truncate)) }

    static func convert(_ c: FloatConversion, _ d: V, _ s: V) -> V {
        switch c {
        case .scalarDoubleToSingle:
            return ((d.0 & ~0xFFFF_FFFF) | UInt64(Float(Double(bitPattern: s.0)).bitPattern), d.1)
        case .scalarSingleToDouble:
            return (Double(Float(bitPattern: UInt32(truncatingIfNeeded: s.0))).bitPattern, d.1)
        case .packedSingleToDouble:
            let f = singles(s)
            return (Double(f[0]).bitPattern, Double(f[1]).bitPattern)
        case .packedDoubleToSingle:
            return (UInt64(Float(Double(bitPattern: s.0)).bitPattern) | UInt64(Float(Double(bitPattern: s.1)).bitPattern) << 32, 0)
        case .packedInt32ToDouble:
            return (Double(Int32(truncatingIfNeeded: s.0)).bitPattern, Double(Int32(truncatingIfNeeded: s.0 >> 32)).bitPattern)
        case .packedInt32ToSingle:
            let i = [Int32(truncatingIfNeeded: s.0), Int32(truncatingIfNeeded: s.0 >> 32), Int32(truncatingIfNeeded: s.1), Int32(truncatingIfNeeded: s.1 >> 32)]
            return pack(i.map { Float($0) })
        case .packedSingleToInt32, .packedSingleToInt32Truncating:
            let t = c == .packedSingleToInt32Truncating
            let f = singles(s).map { int32(Double($0), truncate: t) }
            return (UInt64(f[0]) | UInt64(f[1]) << 32, UInt64(f[2]) | UInt64(f[3]) << 32)
        case .packedDoubleToInt32, .packedDoubleToInt32Truncating:
            let t = c == .packedDoubleToInt32Truncating
            return (UInt64(int32(Double(bitPattern: s.0), truncate: t)) | UInt64(int32(Double(bitPattern: s.1), truncate: t)) << 32, 0)
        }
    }

    /// (U)COMISD/SS: unordered → ZF PF CF; less → CF; equal → ZF; greater → none. OF SF AF clear.
    static func compareFlags(_ s: UnsafeMutablePointer<UInt64>, _ a: UInt64, _ b: UInt64, double: Bool) {
        let x = double ? Double(bitPattern: a) : Double(Float(bitPattern: UInt32(truncatingIfNeeded: a)))
        let y = double ? Double(bitPattern: b) : Double(Float(bitPattern: UInt32(truncatingIfNeeded: b)))
        let f: UInt64
        if x.isNaN || y.isNaN { f = RFlags.zf | RFlags.pf | RFlags.cf }
        else if x < y { f = RFlags.cf }
        else if x == y { f = RFlags.zf }
        else { f = 0 }
        s[StateSlot.ccOp] = ConditionCodeOp.eflags.encoded(size: 8)
        s[StateSlot.ccSrc] = f
    }
}
