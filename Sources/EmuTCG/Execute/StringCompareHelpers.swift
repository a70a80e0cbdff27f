/// SSE4.2's PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM and CRC32.
enum StringCompareHelpers {
    typealias V = (UInt64, UInt64)

    /// Element `i` of a 128-bit value as bytes or words, signed or not.
    @inline(__always) static func element(_ v: V, _ i: Int, words: Bool, signed: Bool) -> Int {
        let bits = words ? 16 : 8
        let bit = i * bits
        let raw = ((bit < 64 ? v.0 : v.1) >> UInt64(bit % 64)) & (words ? 0xFFFF : 0xFF)
        if signed { return words ? Int(Int16(truncatingIfNeeded: raw)) : Int(Int8(truncatingIfNeeded: raw)) }
        return Int(raw)
    }

    /// Length of an implicit string: the index of its first zero element, or `n`.
    static func implicitLength(_ v: V, n: Int, words: Bool) -> Int {
        for i in 0..<n where element(v, i, words: words, signed: false) == 0 { return i }
        return n
    }

    /// Length of an explicit string: |register| saturated to `n` (`size` 4 or 8 bytes).
    static func explicitLength(_ r: UInt64, size: Int, n: Int) -> Int {
        let v = size == 8 ? Int64(bitPattern: r) : Int64(Int32(truncatingIfNeeded: r))
        let magnitude = v.magnitude
        return magnitude >= UInt64(n) ? n : Int(magnitude)
    }

    /// Runs one PCMPxSTRx: `a` is the first operand (XMM register), `b` the second. Writes ECX
    /// (index forms) or XMM0 (mask forms) and the flags into `s`.
    static func compare(_ s: UnsafeMutablePointer<UInt64>, a: V, b: V, explicit: Bool, index: Bool, imm: UInt8, size: Int) {
        let words = imm & 1 != 0, signed = imm & 2 != 0
        let n = words ? 8 : 16
        let la = explicit ? explicitLength(s[0], size: size, n: n) : implicitLength(a, n: n, words: words)
        let lb = explicit ? explicitLength(s[2], size: size, n: n) : implicitLength(b, n: n, words: words)
        let ea = (0..<n).map { element(a, $0, words: words, signed: signed) }
        let eb = (0..<n).map { element(b, $0, words: words, signed: signed) }
        var result1 = 0
        switch (imm >> 2) & 3 {
        case 0: // equal any: b[j] equals some valid a[i]
            for j in 0..<lb where (0..<la).contains(where: { ea[$0] == eb[j] }) { result1 |= 1 << j }
        case 1: // ranges: a holds (low, high) pairs
            for j in 0..<lb {
                var k = 0
                while k + 1 < la {
                    if ea[k] <= eb[j] && eb[j] <= ea[k + 1] { result1 |= 1 << j; break }
                    k += 2
                }
            }
        case 2: // equal each: invalid on both sides counts as equal
            for i in 0..<n {
                let va = i < la, vb = i < lb
                if (va && vb && ea[i] == eb[i]) || (!va && !vb) { result1 |= 1 << i }
            }
        default: // equal ordered: a occurs in b starting at j (a's invalid tail always matches)
            for j in 0..<n {
                var match = true
                var i = 0
                while i < n - j {
                    if i >= la { break }
                    if j + i >= lb || ea[i] != eb[j + i] { match = false; break }
                    i += 1
                }
                if match { result1 |= 1 << j }
            }
        }
        let all = (1 << n) - 1
        var result2: Int
        switch (imm >> 4) & 3 {
        case 1: result2 = ~result1 & all
        case 3: result2 = result1 ^ ((1 << lb) - 1)
        default: result2 = result1
        }
        if index {
            let i = result2 == 0 ? n : (imm & 0x40 != 0 ? (Int.bitWidth - 1 - result2.leadingZeroBitCount) : result2.trailingZeroBitCount)
            s[1] = UInt64(i)
        } else {
            var m: V = (0, 0)
            if imm & 0x40 == 0 {
                m = (UInt64(result2), 0)
            } else {
                let bits = words ? 16 : 8
                for e in 0..<n where result2 & (1 << e) != 0 {
                    let bit = e * bits, field: UInt64 = (words ? 0xFFFF : 0xFF) << UInt64(bit % 64)
                    if bit < 64 { m.0 |= field } else { m.1 |= field }
                }
            }
            s[StateSlot.xmm(0)] = m.0
            s[StateSlot.xmm(0) + 1] = m.1
        }
        var f: UInt64 = 0
        if result2 != 0 { f |= RFlags.cf }
        if lb < n { f |= RFlags.zf }
        if la < n { f |= RFlags.sf }
        if result2 & 1 != 0 { f |= RFlags.of }
        s[StateSlot.ccOp] = ConditionCodeOp.eflags.encoded(size: 8)
        s[StateSlot.ccSrc] = f
    }

    /// CRC32 (the Castagnoli polynomial, bit-reflected, as the instruction computes it) of the
    /// low `bytes` bytes of `value`, continuing from `crc`.
    static func crc32c(_ crc: UInt64, _ value: UInt64, bytes: Int) -> UInt64 {
        var c = UInt32(truncatingIfNeeded: crc)
        for k in 0..<bytes {
            c ^= UInt32((value >> UInt64(8 * k)) & 0xFF)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        }
        return UInt64(c)
    }
}
