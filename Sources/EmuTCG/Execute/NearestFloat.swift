/// The fast path of SSE floating point for the common MXCSR (round to nearest, every exception
/// masked, no FTZ or DAZ): results computed in Swift, whose arithmetic is IEEE round-to-nearest
/// too, and the only flag such operands can raise, precision (PE), found from the exact error
/// (TwoSum for addition, a fused multiply-add residual for multiplication, division and square
/// root). Anything else gives nil and goes to the host path (`FloatHelpers.run`): NaN, infinite
/// or denormal operands, results that overflow, underflow or come close enough to the denormal
/// range for the residual to lose bits, division by zero, negative square roots, out-of-range
/// integer conversions. `MXCSRDifferentialTests` checks both paths against the host CPU.
enum NearestFloat {
    typealias V = (UInt64, UInt64)

    /// The MXCSR control bits (flags cleared) this path is for: 0x1F80.
    static let control: UInt64 = 0x1F80

    /// Whether `x` (normal) lies far enough above the denormal range for residuals to stay exact
    /// and non-vanishing: an exponent of at least that of the least normal plus the significand
    /// width plus 2 (biased: significand width + 3).
    @inline(__always) static func wellAboveDenormals<T: BinaryFloatingPoint>(_ x: T) -> Bool {
        x.exponentBitPattern >= T.RawExponent(T.significandBitCount + 3)
    }

    @inline(__always) static func plain<T: BinaryFloatingPoint>(_ x: T) -> Bool { x.isNormal || x.isZero }

    /// One lane of ADD, SUB, MUL, DIV or SQRT (of `b`); sets `inexact` when rounding happened.
    @inline(__always)
    static func lane<T: BinaryFloatingPoint>(_ op: FloatOp, _ a: T, _ b: T, inexact: inout Bool) -> T? {
        guard plain(a), plain(b) else { return nil }
        switch op {
        case .add, .sub:
            let y = op == .add ? b : -b
            let r = a + y
            guard r.isFinite else { return nil }
            let back = r - a
            if (a - (r - back)) + (y - back) != 0 { inexact = true }
            return r
        case .mul:
            let r = a * b
            if r.isZero { return a.isZero || b.isZero ? r : nil }
            guard r.isFinite, wellAboveDenormals(r) else { return nil }
            if (-r).addingProduct(a, b) != 0 { inexact = true }
            return r
        case .div:
            guard !b.isZero else { return nil }
            if a.isZero { return a / b }
            let r = a / b
            guard r.isFinite, wellAboveDenormals(r), wellAboveDenormals(a) else { return nil }
            if a.addingProduct(-r, b) != 0 { inexact = true }
            return r
        case .sqrt:
            if b.isZero { return b }
            guard b > 0, wellAboveDenormals(b) else { return nil }
            let r = b.squareRoot()
            if b.addingProduct(-r, r) != 0 { inexact = true }
            return r
        default:
            return nil
        }
    }

    /// CMPPS/PD/SS/SD predicates 0–7 on ordered operands.
    @inline(__always) static func compare<T: BinaryFloatingPoint>(_ a: T, _ b: T, _ predicate: UInt8) -> Bool {
        switch predicate & 7 {
        case 0: return a == b
        case 1: return a < b
        case 2: return a <= b
        case 3: return false
        case 4: return a != b
        case 5: return !(a < b)
        case 6: return !(a <= b)
        default: return true
        }
    }

    /// One lane of any supported operation on doubles given as bits.
    @inline(__always)
    static func doubleLane(_ op: FloatOp, _ x: UInt64, _ y: UInt64, _ predicate: UInt8, _ inexact: inout Bool) -> UInt64? {
        let a = Double(bitPattern: x), b = Double(bitPattern: y)
        switch op {
        case .min, .max, .compare:
            guard plain(a), plain(b) else { return nil }
            switch op {
            case .min: return a < b ? x : y // equal (±0 included): the second operand
            case .max: return a > b ? x : y
            default: return compare(a, b, predicate) ? ~0 : 0
            }
        default:
            return lane(op, a, b, inexact: &inexact)?.bitPattern
        }
    }

    /// One lane of any supported operation on singles given as the low 32 bits.
    @inline(__always)
    static func singleLane(_ op: FloatOp, _ x: UInt64, _ y: UInt64, _ predicate: UInt8, _ inexact: inout Bool) -> UInt64? {
        let a = Float(bitPattern: UInt32(truncatingIfNeeded: x)), b = Float(bitPattern: UInt32(truncatingIfNeeded: y))
        switch op {
        case .min, .max, .compare:
            guard plain(a), plain(b) else { return nil }
            switch op {
            case .min: return UInt64((a < b ? a : b).bitPattern)
            case .max: return UInt64((a > b ? a : b).bitPattern)
            default: return compare(a, b, predicate) ? 0xFFFF_FFFF : 0
            }
        default:
            return lane(op, a, b, inexact: &inexact).map { UInt64($0.bitPattern) }
        }
    }

    /// ADD/SUB/MUL/DIV/SQRT/MIN/MAX/CMP in `shape`, or nil for the host path. The Bool is PE.
    static func arithmetic(_ op: FloatOp, _ shape: FloatShape, _ d: V, _ s: V, predicate: UInt8) -> (V, Bool)? {
        var inexact = false
        switch shape {
        case .scalarDouble:
            guard let low = doubleLane(op, d.0, s.0, predicate, &inexact) else { return nil }
            return ((low, d.1), inexact)
        case .packedDouble:
            guard let low = doubleLane(op, d.0, s.0, predicate, &inexact),
                  let high = doubleLane(op, d.1, s.1, predicate, &inexact) else { return nil }
            return ((low, high), inexact)
        case .scalarSingle:
            guard let l0 = singleLane(op, d.0, s.0, predicate, &inexact) else { return nil }
            return (((d.0 & ~0xFFFF_FFFF) | l0, d.1), inexact)
        case .packedSingle:
            guard let l0 = singleLane(op, d.0, s.0, predicate, &inexact), let l1 = singleLane(op, d.0 >> 32, s.0 >> 32, predicate, &inexact),
                  let l2 = singleLane(op, d.1, s.1, predicate, &inexact), let l3 = singleLane(op, d.1 >> 32, s.1 >> 32, predicate, &inexact) else {
                return nil
            }
            return ((l0 | l1 << 32, l2 | l3 << 32), inexact)
        }
    }

    /// CVT(T)SS2SI/SD2SI in range, or nil (NaN, infinity, denormal, out of range: the host).
    static func toInteger(double: Bool, truncate: Bool, size: Int, _ s: UInt64) -> (UInt64, Bool)? {
        let x = double ? Double(bitPattern: s) : Double(Float(bitPattern: UInt32(truncatingIfNeeded: s)))
        guard plain(x) else { return nil }
        let r = truncate ? x.rounded(.towardZero) : x.rounded(.toNearestOrEven)
        let value: UInt64
        if size == 8 {
            guard r >= -9_223_372_036_854_775_808.0, r < 9_223_372_036_854_775_808.0 else { return nil }
            value = UInt64(bitPattern: Int64(r))
        } else {
            guard r >= -2_147_483_648.0, r < 2_147_483_648.0 else { return nil }
            value = UInt64(UInt32(bitPattern: Int32(r)))
        }
        return (value, r != x)
    }

    /// CVTSI2SS/SD: always in range; PE when the integer has more bits than the significand.
    static func fromInteger(double: Bool, sourceSize: Int, _ d: V, _ raw: UInt64) -> (V, Bool) {
        let value = sourceSize == 8 ? Int64(bitPattern: raw) : Int64(Int32(truncatingIfNeeded: raw))
        if double {
            let r = Double(value)
            return ((r.bitPattern, d.1), Int64(exactly: r) != value)
        }
        let r = Float(value)
        return (((d.0 & ~0xFFFF_FFFF) | UInt64(r.bitPattern), d.1), Int64(exactly: r) != value)
    }

    /// CVTSD2SS and CVTSS2SD on plain operands; nil for the rest and other conversions.
    static func convert(_ c: FloatConversion, _ d: V, _ s: V) -> (V, Bool)? {
        switch c {
        case .scalarDoubleToSingle:
            let x = Double(bitPattern: s.0)
            guard plain(x) else { return nil }
            let r = Float(x)
            guard x.isZero || (r.isFinite && wellAboveDenormals(r)) else { return nil }
            return (((d.0 & ~0xFFFF_FFFF) | UInt64(r.bitPattern), d.1), Double(r) != x)
        case .scalarSingleToDouble:
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: s.0))
            guard plain(x) else { return nil }
            return ((Double(x).bitPattern, d.1), false)
        default:
            return nil
        }
    }
}
