import CEmuTCGTestSupport
import Testing
@testable import EmuTCG

/// Each ALU instruction runs on the host CPU (CEmuTCGTestSupport's inline assembly) and under
/// EmuTCG with the same inputs and incoming flags; the results and the defined flags must match.
@Suite struct FlagsDifferentialTests {
    enum Op: Int32, CaseIterable {
        case add = 0, or, adc, sbb, and, sub, xor, cmp, shl, shr, sar, imul, rol, ror, neg, inc, dec, rcl, rcr
    }

    /// Machine code for `op rax/eax/ax/al, rbx/ebx/bx/bl` (or CL for shifts).
    func encode(_ op: Op, size: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        if size == 2 { bytes.append(0x66) }
        if size == 8 { bytes.append(0x48) }
        let wide: UInt8 = size == 1 ? 0 : 1
        switch op {
        case .add, .or, .adc, .sbb, .and, .sub, .xor, .cmp:
            bytes += [UInt8(op.rawValue) << 3 | wide, 0xD8] // op r/m=rax, reg=rbx
        case .shl, .shr, .sar, .rol, .ror, .rcl, .rcr:
            let ext: UInt8 = [Op.rol: 0, .ror: 1, .rcl: 2, .rcr: 3, .shl: 4, .shr: 5, .sar: 7][op] ?? 0
            bytes += [0xD2 | wide, 0xC0 | ext << 3]
        case .imul:
            bytes += [0x0F, 0xAF, 0xC3]
        case .neg:
            bytes += [0xF6 | wide, 0xD8]
        case .inc, .dec:
            bytes += [0xFE | wide, op == .inc ? 0xC0 : 0xC8]
        }
        return bytes
    }

    /// Flags the architecture leaves undefined for this case, excluded from the comparison.
    func undefinedFlags(_ op: Op, size: Int, count: UInt64) -> UInt64 {
        let c = count & (size == 8 ? 63 : 31)
        switch op {
        case .and, .or, .xor: return RFlags.af
        case .shl, .shr, .sar:
            if c == 0 { return 0 }
            var u = RFlags.af
            if c > 1 { u |= RFlags.of }
            if c >= UInt64(size * 8) { u |= RFlags.cf | RFlags.of }
            return u
        case .rol, .ror, .rcl, .rcr:
            return c > 1 || c == 0 ? RFlags.of : 0
        case .imul: return RFlags.sf | RFlags.zf | RFlags.af | RFlags.pf
        default: return 0
        }
    }

    static let values: [UInt64] = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000,
                                   0xFFFF_FFFF, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, UInt64.max, 0x1234_5678_9ABC_DEF0]

    @Test(arguments: Op.allCases, ExecutorBackend.allCases)
    func matchesTheHostCPU(_ op: Op, backend: ExecutorBackend) throws {
        let machine = try TestMachine(backend: backend)
        var mismatches: [String] = []
        var rng = SeededGenerator(seed: UInt64(op.rawValue) + 1)
        for size in [1, 2, 4, 8] where !(op == .imul && size == 1) {
            let code = encode(op, size: size)
            var cases: [(UInt64, UInt64)] = []
            for a in Self.values { for b in Self.values { cases.append((a, b)) } }
            for _ in 0..<64 { cases.append((UInt64.random(in: 0...UInt64.max, using: &rng), UInt64.random(in: 0...UInt64.max, using: &rng))) }
            if [.shl, .shr, .sar, .rol, .ror, .rcl, .rcr].contains(op) {
                cases = cases.map { ($0.0, $0.1 % UInt64(size * 8 + 2)) }
            }
            for (a, b) in cases {
                for carryIn: UInt64 in [0, 1] {
                    let flagsIn: UInt64 = 0x202 | carryIn
                    var hostFlags: UInt64 = 0
                    let hostResult = emu_native_alu(op.rawValue, Int32(size), a, b, flagsIn, &hostFlags)
                    machine.load(code)
                    machine.cpu[gpr: 0] = a
                    machine.cpu[gpr: 3] = b
                    machine.cpu[gpr: 1] = b
                    machine.cpu.rflags = flagsIn
                    let stop = machine.executor.run()
                    let mask: UInt64 = size == 8 ? ~0 : (1 << UInt64(size * 8)) - 1
                    let emuResult = machine.cpu[gpr: 0] & mask
                    let compared = RFlags.arithmetic & ~undefinedFlags(op, size: size, count: b)
                    let emuFlags = machine.cpu.rflags & compared
                    if stop != .syscall(at: TestMachine.code + UInt64(code.count)) || emuResult != hostResult & mask
                        || emuFlags != hostFlags & compared {
                        mismatches.append("\(op) size \(size) a=\(String(a, radix: 16)) b=\(String(b, radix: 16)) cf=\(carryIn): "
                            + "host \(String(hostResult & mask, radix: 16))/\(String(hostFlags & compared, radix: 16)) "
                            + "emu \(String(emuResult, radix: 16))/\(String(emuFlags, radix: 16)) \(stop)")
                    }
                }
            }
        }
        #expect(mismatches.count == 0, "first mismatches: \(mismatches.prefix(5))")
    }
}
