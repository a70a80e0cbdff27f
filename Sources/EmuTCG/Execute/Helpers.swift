#if canImport(Glibc)
import Glibc
#endif

/// The back end's helper routines: instructions that work on the guest state directly.
/// A host-code back end calls the same functions.
enum Helpers {
    static func cpuid(_ s: UnsafeMutablePointer<UInt64>) {
        let (a, b, c, d) = CPUID.query(leaf: UInt32(truncatingIfNeeded: s[0]), subleaf: UInt32(truncatingIfNeeded: s[1]))
        s[0] = UInt64(a); s[3] = UInt64(b); s[1] = UInt64(c); s[2] = UInt64(d)
    }

    static func rdtsc(_ s: UnsafeMutablePointer<UInt64>) {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let t = UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
        s[0] = t & 0xFFFF_FFFF
        s[2] = t >> 32
    }

    static func divide(_ s: UnsafeMutablePointer<UInt64>, divisor: UInt64, size: Int, signed: Bool, pc: UInt64) throws(GuestException) {
        let mask = sizeMask(size)
        let d = divisor & mask
        guard d != 0 else { throw .divideError(pc: pc) }
        if size == 8 {
            if signed {
                let dividend = (high: Int64(bitPattern: s[2]), low: s[0])
                let sd = Int64(bitPattern: d)
                // Overflow when the quotient does not fit: check with the magnitude.
                let negative = dividend.high < 0
                var mag = (high: UInt64(bitPattern: dividend.high), low: dividend.low)
                if negative { // two's complement negate 128-bit
                    mag.low = ~mag.low &+ 1
                    mag.high = ~mag.high &+ (mag.low == 0 ? 1 : 0)
                }
                let dm = sd < 0 ? UInt64(0) &- UInt64(bitPattern: sd) : UInt64(sd)
                guard mag.high < dm else { throw .divideError(pc: pc) }
                let (q, r) = dm.dividingFullWidth((mag.high, mag.low))
                let quotientNegative = negative != (sd < 0)
                let limit: UInt64 = quotientNegative ? 1 << 63 : (1 << 63) - 1
                guard q <= limit else { throw .divideError(pc: pc) }
                s[0] = quotientNegative ? 0 &- q : q
                s[2] = negative ? 0 &- r : r
            } else {
                guard s[2] < d else { throw .divideError(pc: pc) }
                let (q, r) = d.dividingFullWidth((s[2], s[0]))
                s[0] = q; s[2] = r
            }
            return
        }
        let bits = UInt64(size * 8)
        let dividend: UInt64 = size == 1 ? s[0] & 0xFFFF : (s[0] & mask) | ((s[2] & mask) << bits)
        if signed {
            let total = Int64(bitPattern: size == 1 ? UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: dividend)))
                                          : (size == 2 ? UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: dividend))) : dividend))
            let dv = Int64(bitPattern: d << (64 - bits)) >> Int64(64 - bits)
            let q = total / dv, r = total % dv
            let maxQ = Int64(1) << Int64(bits - 1)
            guard q < maxQ && q >= -maxQ else { throw .divideError(pc: pc) }
            store(s, size: size, q: UInt64(bitPattern: q) & mask, r: UInt64(bitPattern: r) & mask)
        } else {
            let q = dividend / d, r = dividend % d
            guard q <= mask else { throw .divideError(pc: pc) }
            store(s, size: size, q: q, r: r)
        }
    }

    static func store(_ s: UnsafeMutablePointer<UInt64>, size: Int, q: UInt64, r: UInt64) {
        switch size {
        case 1: s[0] = (s[0] & ~0xFFFF) | q | (r << 8)
        case 2:
            s[0] = (s[0] & ~0xFFFF) | q
            s[2] = (s[2] & ~0xFFFF) | r
        default:
            s[0] = q; s[2] = r
        }
    }

    /// ROL/ROR/RCL/RCR; flags CF and OF updated (OF as for count 1), others kept.
    static func rotate(_ s: UnsafeMutablePointer<UInt64>, _ kind: Mnemonic, size: Int, value: UInt64, count rawCount: UInt64) -> UInt64 {
        let bits = UInt64(size * 8)
        let mask = sizeMask(size)
        var count = rawCount & (size == 8 ? 63 : 31)
        let v = value & mask
        var flags = LazyFlags.compute(s)
        var r = v
        switch kind {
        case .rol, .ror:
            if count == 0 { return v }
            count %= bits
            if count != 0 {
                r = kind == .rol ? ((v << count) | (v >> (bits - count))) & mask : ((v >> count) | (v << (bits - count))) & mask
            }
            let cf: UInt64 = kind == .rol ? r & 1 : (r >> (bits - 1)) & 1
            let of: UInt64 = kind == .rol ? ((r >> (bits - 1)) & 1) ^ cf : ((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1
            flags = (flags & ~(RFlags.cf | RFlags.of)) | cf | (of << 11)
        default:
            count %= bits + 1
            if count == 0 { return v }
            var carry = flags & 1
            for _ in 0..<count {
                if kind == .rcl {
                    let out = (r >> (bits - 1)) & 1
                    r = ((r << 1) | carry) & mask
                    carry = out
                } else {
                    let out = r & 1
                    r = (r >> 1) | (carry << (bits - 1))
                    carry = out
                }
            }
            let of: UInt64 = kind == .rcl ? ((r >> (bits - 1)) & 1) ^ carry : ((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1
            flags = (flags & ~(RFlags.cf | RFlags.of)) | carry | (of << 11)
        }
        s[StateSlot.ccOp] = ConditionCodeOp.eflags.encoded(size: 8)
        s[StateSlot.ccSrc] = flags
        return r
    }

    /// SHLD/SHRD.
    static func doubleShift(_ s: UnsafeMutablePointer<UInt64>, left: Bool, size: Int, dst: UInt64, src: UInt64, count rawCount: UInt64) -> UInt64 {
        let bits = UInt64(size * 8)
        let mask = sizeMask(size)
        let count = rawCount & (size == 8 ? 63 : 31)
        let d = dst & mask, sv = src & mask
        if count == 0 { return d }
        var r: UInt64, cf: UInt64
        if count >= bits { return d } // undefined for 16-bit operands with count > 16; leave as is
        if left {
            r = ((d << count) | (sv >> (bits - count))) & mask
            cf = (d >> (bits - count)) & 1
        } else {
            r = ((d >> count) | (sv << (bits - count))) & mask
            cf = (d >> (count - 1)) & 1
        }
        var f = LazyFlags.compute(op: ConditionCodeOp.logic.encoded(size: size), dst: r, src: 0, src2: 0)
        f |= cf
        if ((r ^ d) >> (bits - 1)) & 1 != 0 { f |= RFlags.of }
        s[StateSlot.ccOp] = ConditionCodeOp.eflags.encoded(size: 8)
        s[StateSlot.ccSrc] = f
        return r
    }

    static func popFlags(_ s: UnsafeMutablePointer<UInt64>, _ v: UInt64) {
        s[StateSlot.ccOp] = ConditionCodeOp.eflags.encoded(size: 8)
        s[StateSlot.ccSrc] = v & RFlags.arithmetic
        s[StateSlot.df] = v & RFlags.df != 0 ? 1 : 0
        s[StateSlot.otherFlags] = v & (RFlags.ac | RFlags.id)
    }

    /// Bytes a REP STOS/MOVS fast path handles between two looks at the stop request.
    static let stringChunkBytes: UInt64 = 1 << 20

    /// The REP-able string instructions. A repeated one runs to the end unless `stop` becomes
    /// pending: then, after at least one iteration (or one fast-path chunk), it stops at an
    /// iteration boundary and throws `.interrupted` with RCX, RSI and RDI describing the rest, so
    /// executing it again resumes it. A fault midway leaves them at the faulting iteration.
    static func string(_ s: UnsafeMutablePointer<UInt64>, _ m: GuestAddressSpace, _ kind: Mnemonic, size: Int,
                       rep: Bool, repne: Bool, addressSize: Int, stop: StopRequest, pc: UInt64) throws(GuestException) {
        let step: UInt64 = s[StateSlot.df] != 0 ? 0 &- UInt64(size) : UInt64(size)
        let amask: UInt64 = addressSize == 4 ? 0xFFFF_FFFF : ~0
        let repeated = rep || repne
        let compares = kind == .cmps || kind == .scas
        // Fast path: REP STOS/MOVS forward over plain memory, a chunk at a time.
        if repeated && !compares && step == UInt64(size) && addressSize == 8 && (kind == .stos || kind == .movs) {
            while s[1] != 0 {
                let chunk = min(s[1], stringChunkBytes / UInt64(size))
                let total = chunk * UInt64(size)
                guard let dst = m.hostPointer(s[7], length: total, access: .write) else { break }
                if kind == .stos {
                    let v = s[0]
                    if size == 1 {
                        dst.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: v), count: Int(total))
                    } else {
                        for i in 0..<Int(chunk) { storeHost(dst + i * size, v, size) }
                    }
                } else {
                    guard let src = m.hostPointer(s[6], length: total, access: .read) else { break }
                    // A forward element copy equals memmove only when the destination does not
                    // start inside the source; that case takes the element loop below.
                    let d = s[7], sa = s[6]
                    guard d <= sa || d >= sa &+ total else { break }
                    if d &+ total <= sa || d >= sa &+ total {
                        memcpy(dst, src, Int(total))
                    } else {
                        for i in 0..<Int(total) { dst.storeBytes(of: src.load(fromByteOffset: i, as: UInt8.self), toByteOffset: i, as: UInt8.self) }
                    }
                    s[6] &+= total
                }
                m.didWrite(s[7], length: total)
                s[7] &+= total
                s[1] -= chunk
                if s[1] != 0 && stop.isPending { throw .interrupted(pc: pc) }
            }
            if s[1] == 0 { return }
        }
        while true {
            if repeated && s[1] & amask == 0 { return }
            let si = s[6] & amask, di = s[7] & amask
            switch kind {
            case .movs:
                let v = try m.load(si, size: size, pc: pc)
                try m.store(di, v, size: size, pc: pc)
                s[6] = s[6] &+ step; s[7] = s[7] &+ step
            case .stos:
                try m.store(di, s[0], size: size, pc: pc)
                s[7] = s[7] &+ step
            case .lods:
                let v = try m.load(si, size: size, pc: pc)
                if size == 4 { s[0] = v } else if size == 8 { s[0] = v } else { s[0] = (s[0] & ~sizeMask(size)) | v }
                s[6] = s[6] &+ step
            case .cmps:
                let a = try m.load(si, size: size, pc: pc)
                let b = try m.load(di, size: size, pc: pc)
                setSub(s, a, b, size)
                s[6] = s[6] &+ step; s[7] = s[7] &+ step
            default: // scas
                let b = try m.load(di, size: size, pc: pc)
                setSub(s, s[0] & sizeMask(size), b, size)
                s[7] = s[7] &+ step
            }
            if !repeated { return }
            s[1] = s[1] &- 1
            if compares {
                let zf = (s[StateSlot.ccDst] & sizeMask(size)) == 0
                if rep && !zf { return }
                if repne && zf { return }
            }
            if s[1] & amask != 0 && stop.isPending { throw .interrupted(pc: pc) }
        }
    }

    static func setSub(_ s: UnsafeMutablePointer<UInt64>, _ a: UInt64, _ b: UInt64, _ size: Int) {
        s[StateSlot.ccOp] = ConditionCodeOp.sub.encoded(size: size)
        s[StateSlot.ccDst] = a &- b
        s[StateSlot.ccSrc] = b
    }

    static func storeHost(_ p: UnsafeMutableRawPointer, _ v: UInt64, _ size: Int) {
        switch size {
        case 2: p.storeBytes(of: UInt16(truncatingIfNeeded: v), as: UInt16.self)
        case 4: p.storeBytes(of: UInt32(truncatingIfNeeded: v), as: UInt32.self)
        default: p.storeBytes(of: v, as: UInt64.self)
        }
    }

    static func loadMXCSR(_ s: UnsafeMutablePointer<UInt64>, _ value: UInt64, pc: UInt64) throws(GuestException) {
        let v = value & 0xFFFF_FFFF
        guard FXSaveArea.isValidMXCSR(v) else { throw .generalProtection(pc: pc) }
        s[StateSlot.mxcsr] = v
    }

    /// FXSAVE: the `FXSaveArea` image into bytes 0…415 at `address` (464…511 and the reserved
    /// bytes untouched). #GP unless 16-byte aligned; a page fault before any byte is written.
    static func fxsave(_ s: UnsafeMutablePointer<UInt64>, _ m: GuestAddressSpace, address: UInt64, pc: UInt64) throws(GuestException) {
        guard address % FXSaveArea.alignment == 0 else { throw .generalProtection(pc: pc) }
        try m.check(address, 8, 2, pc: pc)
        try m.check(address &+ UInt64(FXSaveArea.size - 8), 8, 2, pc: pc)
        let image = FXSaveArea.image(of: s)
        for k in stride(from: 0, to: image.count, by: 8) {
            let word = (0..<8).reduce(UInt64(0)) { $0 | UInt64(image[k + $1]) << (8 * UInt64($1)) }
            try m.store(address &+ UInt64(k), word, size: 8, pc: pc)
        }
    }

    /// FXRSTOR: loads the x87, MXCSR and XMM state from the image at `address`. #GP unless
    /// 16-byte aligned or when its MXCSR has reserved bits; nothing changes on a fault.
    static func fxrstor(_ s: UnsafeMutablePointer<UInt64>, _ m: GuestAddressSpace, address: UInt64, pc: UInt64) throws(GuestException) {
        guard address % FXSaveArea.alignment == 0 else { throw .generalProtection(pc: pc) }
        try m.check(address, 8, 1, pc: pc)
        try m.check(address &+ UInt64(FXSaveArea.size - 8), 8, 1, pc: pc)
        var image = [UInt8](repeating: 0, count: FXSaveArea.writtenSize)
        for k in stride(from: 0, to: image.count, by: 8) {
            let word = try m.load(address &+ UInt64(k), size: 8, pc: pc)
            for j in 0..<8 { image[k + j] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(j))) }
        }
        do { try FXSaveArea.load(image, into: s) } catch { throw .generalProtection(pc: pc) }
    }
}
