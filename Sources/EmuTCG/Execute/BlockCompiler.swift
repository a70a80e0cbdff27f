/// The portable back end: turns IR operations into closures. A host-code back end replaces this
/// type and nothing in front of it.
struct BlockCompiler {
    let memory: GuestAddressSpace
    /// Looked at by helpers that run long (REP string operations) between iterations.
    let stop: StopRequest

    /// Compiles a block into one closure: the op closures are threaded, eight to a link, each
    /// link calling the next directly. (Walking an array of closures instead costs a retain and
    /// release of every closure context and a reabstraction thunk per op.)
    func compile(_ block: IRBlock) -> CompiledBlock {
        // Built back to front; the closures are kept in locals of their concrete type, never in
        // a generic container (that would put a reabstraction thunk in front of every call).
        let ops = block.ops
        var end = ops.count
        var chain: CompiledStep? = nil
        while end > 0 {
            // The tail group takes the remainder, so every group before it is a full eight.
            let count = chain == nil ? (end % 8 == 0 ? min(8, end) : end % 8) : 8
            let start = end - count
            switch (count, chain) {
            case (8, nil):
                let a = step(ops[start + 0]), b = step(ops[start + 1]), c = step(ops[start + 2]), d = step(ops[start + 3]), e = step(ops[start + 4]), f = step(ops[start + 5]), g = step(ops[start + 6]), h = step(ops[start + 7])
                chain = { t, s throws(GuestException) in try a(t, s); try b(t, s); try c(t, s); try d(t, s); try e(t, s); try f(t, s); try g(t, s); try h(t, s) }
            case (7, nil):
                let a = step(ops[start + 0]), b = step(ops[start + 1]), c = step(ops[start + 2]), d = step(ops[start + 3]), e = step(ops[start + 4]), f = step(ops[start + 5]), g = step(ops[start + 6])
                chain = { t, s throws(GuestException) in try a(t, s); try b(t, s); try c(t, s); try d(t, s); try e(t, s); try f(t, s); try g(t, s) }
            case (6, nil):
                let a = step(ops[start + 0]), b = step(ops[start + 1]), c = step(ops[start + 2]), d = step(ops[start + 3]), e = step(ops[start + 4]), f = step(ops[start + 5])
                chain = { t, s throws(GuestException) in try a(t, s); try b(t, s); try c(t, s); try d(t, s); try e(t, s); try f(t, s) }
            case (5, nil):
                let a = step(ops[start + 0]), b = step(ops[start + 1]), c = step(ops[start + 2]), d = step(ops[start + 3]), e = step(ops[start + 4])
                chain = { t, s throws(GuestException) in try a(t, s); try b(t, s); try c(t, s); try d(t, s); try e(t, s) }
            case (4, nil):
                let a = step(ops[start + 0]), b = step(ops[start + 1]), c = step(ops[start + 2]), d = step(ops[start + 3])
                chain = { t, s throws(GuestException) in try a(t, s); try b(t, s); try c(t, s); try d(t, s) }
            case (3, nil):
                let a = step(ops[start + 0]), b = step(ops[start + 1]), c = step(ops[start + 2])
                chain = { t, s throws(GuestException) in try a(t, s); try b(t, s); try c(t, s) }
            case (2, nil):
                let a = step(ops[start + 0]), b = step(ops[start + 1])
                chain = { t, s throws(GuestException) in try a(t, s); try b(t, s) }
            case (1, nil):
                let a = step(ops[start + 0])
                chain = { t, s throws(GuestException) in try a(t, s) }
            case (8, let next?):
                let a = step(ops[start + 0]), b = step(ops[start + 1]), c = step(ops[start + 2]), d = step(ops[start + 3]), e = step(ops[start + 4]), f = step(ops[start + 5]), g = step(ops[start + 6]), h = step(ops[start + 7])
                chain = { t, s throws(GuestException) in try a(t, s); try b(t, s); try c(t, s); try d(t, s); try e(t, s); try f(t, s); try g(t, s); try h(t, s); try next(t, s) }
            default:
                preconditionFailure("block compiler grouping")
            }
            end = start
        }
        return CompiledBlock(start: block.start, end: block.end, instructionCount: block.instructionCount,
                             body: chain ?? { _, _ in }, exit: block.exit)
    }

    func step(_ op: IROp) -> CompiledStep {
        let m = memory
        switch op {
        case .constant(let d, let v):
            let d = Int(d)
            return { t, _ in t[d] = v }
        case .get(let d, let slot):
            let d = Int(d)
            return { t, s in t[d] = s[slot] }
        case .getZeroExtended(let d, let slot, let size):
            let d = Int(d)
            let mask = sizeMask(size)
            return { t, s in t[d] = s[slot] & mask }
        case .put(let slot, let v):
            let v = Int(v)
            return { t, s in s[slot] = t[v] }
        case .putZeroExtended32(let slot, let v):
            let v = Int(v)
            return { t, s in s[slot] = t[v] & 0xFFFF_FFFF }
        case .binaryImmediate(let op, let d, let a, let imm):
            return binaryImmediate(op, Int(d), Int(a), imm)
        case .load(let d, let a, let size, let pc):
            let d = Int(d), a = Int(a)
            return { t, _ throws(GuestException) in t[d] = try m.load(t[a], size: size, pc: pc) }
        case .store(let a, let v, let size, let pc):
            let a = Int(a), v = Int(v)
            return { t, _ throws(GuestException) in try m.store(t[a], t[v], size: size, pc: pc) }
        case .checkAlignment(let a, let alignment, let pc):
            let a = Int(a)
            return { t, _ throws(GuestException) in
                if t[a] & (alignment - 1) != 0 { throw .generalProtection(pc: pc) }
            }
        case .binary(let op, let d, let a, let b):
            return binary(op, Int(d), Int(a), Int(b))
        case .unary(let op, let d, let a):
            let d = Int(d), a = Int(a)
            switch op {
            case .not: return { t, _ in t[d] = ~t[a] }
            case .neg: return { t, _ in t[d] = 0 &- t[a] }
            case .zeroExtend8: return { t, _ in t[d] = t[a] & 0xFF }
            case .zeroExtend16: return { t, _ in t[d] = t[a] & 0xFFFF }
            case .zeroExtend32: return { t, _ in t[d] = t[a] & 0xFFFF_FFFF }
            case .signExtend8: return { t, _ in t[d] = UInt64(bitPattern: Int64(Int8(truncatingIfNeeded: t[a]))) }
            case .signExtend16: return { t, _ in t[d] = UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: t[a]))) }
            case .signExtend32: return { t, _ in t[d] = UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: t[a]))) }
            case .byteSwap32: return { t, _ in t[d] = UInt64(UInt32(truncatingIfNeeded: t[a]).byteSwapped) }
            case .byteSwap64: return { t, _ in t[d] = t[a].byteSwapped }
            case .popCount: return { t, _ in t[d] = UInt64(t[a].nonzeroBitCount) }
            case .countTrailingZeros: return { t, _ in t[d] = UInt64(t[a].trailingZeroBitCount) }
            case .countLeadingZeros: return { t, _ in t[d] = UInt64(t[a].leadingZeroBitCount) }
            }
        case .select(let d, let c, let a, let b):
            let d = Int(d), c = Int(c), a = Int(a), b = Int(b)
            return { t, _ in t[d] = t[c] != 0 ? t[a] : t[b] }
        case .setFlags(let op, let size, let dst, let src, let src2):
            let code = op.encoded(size: size)
            let dst = Int(dst), src = Int(src), src2 = Int(src2)
            return { t, s in
                s[StateSlot.ccOp] = code
                s[StateSlot.ccDst] = t[dst]
                s[StateSlot.ccSrc] = t[src]
                s[StateSlot.ccSrc2] = t[src2]
            }
        case .setFlagsIf(let when, let op, let size, let dst, let src, let src2):
            let code = op.encoded(size: size)
            let when = Int(when), dst = Int(dst), src = Int(src), src2 = Int(src2)
            return { t, s in
                if t[when] != 0 {
                    s[StateSlot.ccOp] = code
                    s[StateSlot.ccDst] = t[dst]
                    s[StateSlot.ccSrc] = t[src]
                    s[StateSlot.ccSrc2] = t[src2]
                }
            }
        case .flags(let d):
            let d = Int(d)
            return { t, s in t[d] = LazyFlags.compute(s) }
        case .condition(let d, let cc):
            let d = Int(d)
            return { t, s in t[d] = LazyFlags.condition(cc, s) ? 1 : 0 }
        case .helper(let h, let args, let result, let pc):
            return helper(h, args.map { Int($0) }, result.map { Int($0) }, pc)
        }
    }

    func binaryImmediate(_ op: IRBinaryOp, _ d: Int, _ a: Int, _ b: UInt64) -> CompiledStep {
        switch op {
        case .add: return { t, _ in t[d] = t[a] &+ b }
        case .sub: return { t, _ in t[d] = t[a] &- b }
        case .and: return { t, _ in t[d] = t[a] & b }
        case .or: return { t, _ in t[d] = t[a] | b }
        case .xor: return { t, _ in t[d] = t[a] ^ b }
        case .shl: let c = b & 63; return { t, _ in t[d] = t[a] << c }
        case .shr: let c = b & 63; return { t, _ in t[d] = t[a] >> c }
        case .sar: let c = Int64(b & 63); return { t, _ in t[d] = UInt64(bitPattern: Int64(bitPattern: t[a]) >> c) }
        case .mul: return { t, _ in t[d] = t[a] &* b }
        case .mulHighUnsigned: return { t, _ in t[d] = t[a].multipliedFullWidth(by: b).high }
        case .mulHighSigned:
            let sb = Int64(bitPattern: b)
            return { t, _ in t[d] = UInt64(bitPattern: Int64(bitPattern: t[a]).multipliedFullWidth(by: sb).high) }
        case .equal: return { t, _ in t[d] = t[a] == b ? 1 : 0 }
        case .notEqual: return { t, _ in t[d] = t[a] != b ? 1 : 0 }
        case .lessUnsigned: return { t, _ in t[d] = t[a] < b ? 1 : 0 }
        case .lessSigned: let sb = Int64(bitPattern: b); return { t, _ in t[d] = Int64(bitPattern: t[a]) < sb ? 1 : 0 }
        }
    }

    func binary(_ op: IRBinaryOp, _ d: Int, _ a: Int, _ b: Int) -> CompiledStep {
        switch op {
        case .add: return { t, _ in t[d] = t[a] &+ t[b] }
        case .sub: return { t, _ in t[d] = t[a] &- t[b] }
        case .and: return { t, _ in t[d] = t[a] & t[b] }
        case .or: return { t, _ in t[d] = t[a] | t[b] }
        case .xor: return { t, _ in t[d] = t[a] ^ t[b] }
        case .shl: return { t, _ in t[d] = t[a] << (t[b] & 63) }
        case .shr: return { t, _ in t[d] = t[a] >> (t[b] & 63) }
        case .sar: return { t, _ in t[d] = UInt64(bitPattern: Int64(bitPattern: t[a]) >> Int64(t[b] & 63)) }
        case .mul: return { t, _ in t[d] = t[a] &* t[b] }
        case .mulHighUnsigned: return { t, _ in t[d] = t[a].multipliedFullWidth(by: t[b]).high }
        case .mulHighSigned:
            return { t, _ in t[d] = UInt64(bitPattern: Int64(bitPattern: t[a]).multipliedFullWidth(by: Int64(bitPattern: t[b])).high) }
        case .equal: return { t, _ in t[d] = t[a] == t[b] ? 1 : 0 }
        case .notEqual: return { t, _ in t[d] = t[a] != t[b] ? 1 : 0 }
        case .lessUnsigned: return { t, _ in t[d] = t[a] < t[b] ? 1 : 0 }
        case .lessSigned: return { t, _ in t[d] = Int64(bitPattern: t[a]) < Int64(bitPattern: t[b]) ? 1 : 0 }
        }
    }

    func helper(_ h: IRHelper, _ args: [Int], _ result: Int?, _ pc: UInt64) -> CompiledStep {
        let m = memory
        let a0 = args.count > 0 ? args[0] : 0, a1 = args.count > 1 ? args[1] : 0, a2 = args.count > 2 ? args[2] : 0
        let a3 = args.count > 3 ? args[3] : 0
        let r = result ?? 0
        switch h {
        case .cpuid:
            return { _, s in Helpers.cpuid(s) }
        case .rdtsc:
            return { _, s in Helpers.rdtsc(s) }
        case .divide(let size, let signed):
            return { t, s throws(GuestException) in try Helpers.divide(s, divisor: t[a0], size: size, signed: signed, pc: pc) }
        case .rotate(let kind, let size):
            return { t, s in t[r] = Helpers.rotate(s, kind, size: size, value: t[a0], count: t[a1]) }
        case .rotateWithoutFlags(let left, let size):
            let bits = UInt64(size * 8), mask = sizeMask(size), countMask: UInt64 = size == 8 ? 63 : 31
            return { t, _ in
                let v = t[a0] & mask
                let c = (t[a1] & countMask) % bits
                t[r] = c == 0 ? v : (left ? ((v << c) | (v >> (bits - c))) & mask : ((v >> c) | (v << (bits - c))) & mask)
            }
        case .doubleShift(let left, let size):
            return { t, s in t[r] = Helpers.doubleShift(s, left: left, size: size, dst: t[a0], src: t[a1], count: t[a2]) }
        case .string(let kind, let size, let rep, let repne, let addressSize):
            let stop = stop
            return { _, s throws(GuestException) in
                try Helpers.string(s, m, kind, size: size, rep: rep, repne: repne, addressSize: addressSize, stop: stop, pc: pc)
            }
        case .popFlags:
            return { t, s in Helpers.popFlags(s, t[a0]) }
        case .packed(let op, let dst) where op == .pblendvb || op == .blendvps || op == .blendvpd:
            let slot = StateSlot.xmm(dst), mask = StateSlot.xmm(0)
            return { t, s in
                let v = SSE4PackedHelpers.blendVariable(op, (s[slot], s[slot + 1]), (t[a0], t[a1]), mask: (s[mask], s[mask + 1]))
                s[slot] = v.0; s[slot + 1] = v.1
            }
        case .stringCompare(let explicit, let index, let imm, let size):
            return { t, s in
                StringCompareHelpers.compare(s, a: (t[a0], t[a1]), b: (t[a2], t[a3]), explicit: explicit, index: index, imm: imm, size: size)
            }
        case .crc32(let bytes):
            return { t, _ in t[r] = StringCompareHelpers.crc32c(t[a0], t[a1], bytes: bytes) }
        case .packedTest:
            return { t, s in SSE4PackedHelpers.test(s, (t[a0], t[a1]), (t[a2], t[a3])) }
        case .packed(let op, let dst):
            let slot = StateSlot.xmm(dst)
            return { t, s in
                let v = PackedHelpers.apply(op, (s[slot], s[slot + 1]), (t[a0], t[a1]))
                s[slot] = v.0; s[slot + 1] = v.1
            }
        case .packedShift(let op, let dst, let count):
            let slot = StateSlot.xmm(dst)
            return { _, s in
                let v = PackedHelpers.shift(op, (s[slot], s[slot + 1]), count: UInt64(count))
                s[slot] = v.0; s[slot + 1] = v.1
            }
        case .shuffle(let op, let dst, let imm):
            let slot = StateSlot.xmm(dst)
            return { t, s in
                let v = PackedHelpers.shuffle(op, (s[slot], s[slot + 1]), (t[a0], t[a1]), imm: imm)
                s[slot] = v.0; s[slot + 1] = v.1
            }
        case .moveMask(let op):
            return { t, _ in t[r] = PackedHelpers.moveMask(op, (t[a0], t[a1])) }
        case .floatArithmetic(let op, let shape, let dst, let imm):
            let slot = StateSlot.xmm(dst)
            return { t, s throws(GuestException) in
                let v = try FloatHelpers.arithmetic(s, op, shape, (s[slot], s[slot + 1]), (t[a0], t[a1]), immediate: imm, pc: pc)
                s[slot] = v.0; s[slot + 1] = v.1
            }
        case .convertIntegerToFloat(let double, let dst, let sourceSize):
            let slot = StateSlot.xmm(dst)
            return { t, s throws(GuestException) in
                let v = try FloatHelpers.fromInteger(s, double: double, sourceSize: sourceSize, (s[slot], s[slot + 1]), t[a0], pc: pc)
                s[slot] = v.0; s[slot + 1] = v.1
            }
        case .convertFloatToInteger(let double, let truncate, let size):
            return { t, s throws(GuestException) in
                t[r] = try FloatHelpers.toInteger(s, double: double, truncate: truncate, size: size, t[a0], pc: pc)
            }
        case .convertFloat(let conversion, let dst):
            let slot = StateSlot.xmm(dst)
            return { t, s throws(GuestException) in
                let v = try FloatHelpers.convert(s, conversion, (s[slot], s[slot + 1]), (t[a0], t[a1]), pc: pc)
                s[slot] = v.0; s[slot + 1] = v.1
            }
        case .compareScalarFlags(let double, let ordered):
            return { t, s throws(GuestException) in
                try FloatHelpers.compareFlags(s, t[a0], t[a1], double: double, ordered: ordered, pc: pc)
            }
        case .mmx(let op, let mm, let imm):
            return { t, s throws(GuestException) in
                let v = try MMX.execute(s, m, op, mm: mm, immediate: imm, source: t[a0], address: t[a1], pc: pc)
                if op.producesResult { t[r] = v }
            }
        case .x87(let opcode, let modrm):
            let hasAddress = !args.isEmpty
            return { t, s throws(GuestException) in
                try X87.execute(s, m, opcode: opcode, modrm: modrm, address: hasAddress ? t[a0] : 0, pc: pc)
            }
        case .compareExchange16:
            return { t, s throws(GuestException) in try AtomicHelpers.compareExchange16(s, m, address: t[a0], pc: pc) }
        case .loadMXCSR:
            return { t, s throws(GuestException) in try Helpers.loadMXCSR(s, t[a0], pc: pc) }
        case .fxsave:
            return { t, s throws(GuestException) in try Helpers.fxsave(s, m, address: t[a0], pc: pc) }
        case .fxrstor:
            return { t, s throws(GuestException) in try Helpers.fxrstor(s, m, address: t[a0], pc: pc) }
        case .atomic(let operation, let size):
            if operation == .compareExchange {
                return { t, _ throws(GuestException) in
                    t[r] = try AtomicHelpers.readModifyWrite(m, operation, address: t[a0], size: size, operand: t[a1],
                                                             replacement: t[a2], pc: pc)
                }
            }
            return { t, _ throws(GuestException) in
                t[r] = try AtomicHelpers.readModifyWrite(m, operation, address: t[a0], size: size, operand: t[a1],
                                                         replacement: 0, pc: pc)
            }
        case .fence:
            return { _, _ in AtomicHelpers.fence() }
        }
    }
}
