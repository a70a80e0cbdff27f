import CEmuTCGTestSupport
import Testing
@testable import EmuTCG

/// SSE floating point under random MXCSR values: every arithmetic, compare, round, dot-product
/// and conversion form runs on the host CPU and under EmuTCG with the same MXCSR (random rounding
/// control, FTZ, DAZ and sticky flags; exceptions masked) and operands (random bits, so overflow,
/// underflow, denormals and NaNs are common, plus SIMDDifferentialTests' special values); the XMM
/// and general registers, the arithmetic flags and the MXCSR afterwards (the sticky exception
/// flags PE UE OE ZE DE IE) must match.
@Suite struct MXCSRDifferentialTests {
    /// One form: prefix, opcode bytes after 0F, an immediate's range, general-register roles.
    struct Form: CustomStringConvertible, Sendable {
        var name: String
        var prefix: UInt8?
        var opcode: [UInt8]
        /// Immediates are drawn from 0..<immediates (0: none).
        var immediates = 0
        var wide = false
        /// The ModRM reg field names a general register (destination of CVT*2SI).
        var gprInReg = false
        /// The ModRM r/m field names a general register (source of CVTSI2S*).
        var gprInRM = false
        var description: String { name }

        /// General registers a form may name: never RSP, RDX, RSI, RDI (the harness's pointers).
        static let safeGPRs = [0, 1, 3, 5, 8, 9, 10, 11, 12, 13, 14, 15]

        func encode(reg: Int, rm: Int, immediate: UInt8) -> [UInt8] {
            let r = gprInReg ? Self.safeGPRs[reg % Self.safeGPRs.count] : reg
            let m = gprInRM ? Self.safeGPRs[rm % Self.safeGPRs.count] : rm
            var bytes: [UInt8] = prefix.map { [$0] } ?? []
            let rex = UInt8(0x40 | (wide ? 8 : 0) | (r >> 3) << 2 | (m >> 3))
            if rex != 0x40 { bytes.append(rex) }
            bytes += [0x0F] + opcode + [UInt8(0xC0 | (r & 7) << 3 | (m & 7))]
            if immediates > 0 { bytes.append(UInt8(truncatingIfNeeded: Int(immediate) % immediates)) }
            return bytes
        }
    }

    static let shapes: [(String, UInt8?)] = [("ps", nil), ("pd", 0x66), ("ss", 0xF3), ("sd", 0xF2)]

    static let arithmetic: [Form] = [("add", 0x58), ("mul", 0x59), ("sub", 0x5C), ("min", 0x5D), ("div", 0x5E),
                                     ("max", 0x5F), ("sqrt", 0x51)].flatMap { op in
        shapes.map { Form(name: op.0 + $0.0, prefix: $0.1, opcode: [op.1]) }
    } + shapes.map { Form(name: "cmp" + $0.0, prefix: $0.1, opcode: [0xC2], immediates: 8) }

    static let sse3And41: [Form] = [
        Form(name: "addsubps", prefix: 0xF2, opcode: [0xD0]), Form(name: "addsubpd", prefix: 0x66, opcode: [0xD0]),
        Form(name: "haddps", prefix: 0xF2, opcode: [0x7C]), Form(name: "haddpd", prefix: 0x66, opcode: [0x7C]),
        Form(name: "hsubps", prefix: 0xF2, opcode: [0x7D]), Form(name: "hsubpd", prefix: 0x66, opcode: [0x7D]),
        Form(name: "roundps", prefix: 0x66, opcode: [0x3A, 0x08], immediates: 16),
        Form(name: "roundpd", prefix: 0x66, opcode: [0x3A, 0x09], immediates: 16),
        Form(name: "roundss", prefix: 0x66, opcode: [0x3A, 0x0A], immediates: 16),
        Form(name: "roundsd", prefix: 0x66, opcode: [0x3A, 0x0B], immediates: 16),
        Form(name: "dpps", prefix: 0x66, opcode: [0x3A, 0x40], immediates: 256),
        Form(name: "dppd", prefix: 0x66, opcode: [0x3A, 0x41], immediates: 256),
    ]

    static let conversions: [Form] = [
        Form(name: "cvtps2pd", prefix: nil, opcode: [0x5A]), Form(name: "cvtpd2ps", prefix: 0x66, opcode: [0x5A]),
        Form(name: "cvtss2sd", prefix: 0xF3, opcode: [0x5A]), Form(name: "cvtsd2ss", prefix: 0xF2, opcode: [0x5A]),
        Form(name: "cvtdq2ps", prefix: nil, opcode: [0x5B]), Form(name: "cvtps2dq", prefix: 0x66, opcode: [0x5B]),
        Form(name: "cvttps2dq", prefix: 0xF3, opcode: [0x5B]), Form(name: "cvttpd2dq", prefix: 0x66, opcode: [0xE6]),
        Form(name: "cvtpd2dq", prefix: 0xF2, opcode: [0xE6]), Form(name: "cvtdq2pd", prefix: 0xF3, opcode: [0xE6]),
        Form(name: "comiss", prefix: nil, opcode: [0x2F]), Form(name: "comisd", prefix: 0x66, opcode: [0x2F]),
        Form(name: "ucomiss", prefix: nil, opcode: [0x2E]), Form(name: "ucomisd", prefix: 0x66, opcode: [0x2E]),
    ] + [false, true].flatMap { wide in
        [Form(name: "cvtsi2ss\(wide ? "q" : "l")", prefix: 0xF3, opcode: [0x2A], wide: wide, gprInRM: true),
         Form(name: "cvtsi2sd\(wide ? "q" : "l")", prefix: 0xF2, opcode: [0x2A], wide: wide, gprInRM: true),
         Form(name: "cvttss2si\(wide ? "q" : "")", prefix: 0xF3, opcode: [0x2C], wide: wide, gprInReg: true),
         Form(name: "cvtss2si\(wide ? "q" : "")", prefix: 0xF3, opcode: [0x2D], wide: wide, gprInReg: true),
         Form(name: "cvttsd2si\(wide ? "q" : "")", prefix: 0xF2, opcode: [0x2C], wide: wide, gprInReg: true),
         Form(name: "cvtsd2si\(wide ? "q" : "")", prefix: 0xF2, opcode: [0x2D], wide: wide, gprInReg: true)]
    }

    /// A random MXCSR with every exception masked: RC, FZ, DAZ and the sticky flags random.
    static func mxcsr<G: RandomNumberGenerator>(_ rng: inout G) -> UInt32 {
        var v: UInt32 = 0x1F80 | UInt32.random(in: 0...3, using: &rng) << 13
        if Bool.random(using: &rng) { v |= 1 << 15 } // FZ
        if Bool.random(using: &rng) { v |= 1 << 6 }  // DAZ
        if Int.random(in: 0..<4, using: &rng) == 0 { v |= UInt32.random(in: 0...0x3F, using: &rng) }
        return v
    }

    /// Runs each form `cases` times; returns the differences.
    /// With `nearest`, MXCSR is always 0x1F80 plus random sticky flags: the fast path's case.
    static func differences(_ forms: [Form], cases: Int, seed: UInt64, nearest: Bool = false) throws -> [String] {
        let machine = try TestMachine()
        guard let page = emu_native_code_page() else { return ["no executable page"] }
        var rng = SeededGenerator(seed: seed)
        var failures: [String] = []
        // cmp rdx, rdx (known flags) ; stmxcsr [rdx] ; ldmxcsr [rdi] ; <form> ; stmxcsr [rsi] ;
        // ldmxcsr [rdx]
        let before: [UInt8] = [0x48, 0x39, 0xD2, 0x0F, 0xAE, 0x1A, 0x0F, 0xAE, 0x17], after: [UInt8] = [0x0F, 0xAE, 0x1E, 0x0F, 0xAE, 0x12]
        for form in forms {
            for _ in 0..<cases {
                let code = before + form.encode(reg: Int.random(in: 0...15, using: &rng), rm: Int.random(in: 0...15, using: &rng),
                                                immediate: UInt8.random(in: 0...255, using: &rng)) + after
                var control = mxcsr(&rng)
                if nearest { control = 0x1F80 | (control & 0x3F) }
                var regs = (0..<16).map { _ in SIMDDifferentialTests.lane(&rng) }
                var xmm = (0..<32).map { _ in SIMDDifferentialTests.lane(&rng) }
                if Bool.random(using: &rng) { // fully random bits: any exponent
                    for k in 0..<32 where Bool.random(using: &rng) { xmm[k] = UInt64.random(in: 0...UInt64.max, using: &rng) }
                }
                regs[4] = 0
                // Host: MXCSR words at page+2048 (in), +2052 (out), +2056 (the host's own).
                let native = code + [0xC3]
                page.copyMemory(from: native, byteCount: native.count)
                (page + 2048).storeBytes(of: control, as: UInt32.self)
                var hostRegs = regs, hostXMM = xmm, hostFlags: UInt64 = 0
                hostRegs[7] = UInt64(UInt(bitPattern: page + 2048))
                hostRegs[6] = UInt64(UInt(bitPattern: page + 2052))
                hostRegs[2] = UInt64(UInt(bitPattern: page + 2056))
                hostRegs.withUnsafeMutableBufferPointer { r in
                    hostXMM.withUnsafeMutableBufferPointer { x in emu_native_exec_xmm(page, r.baseAddress, &hostFlags, x.baseAddress) }
                }
                let hostMXCSR = UInt64((page + 2052).load(as: UInt32.self))
                // Guest: the same words in the data page.
                machine.load(code)
                for r in 0..<16 where r != 4 { machine.cpu[gpr: r] = regs[r] }
                for x in 0..<16 { machine.cpu.setXMM(x, low: xmm[2 * x], high: xmm[2 * x + 1]) }
                machine.cpu[gpr: 7] = TestMachine.data
                machine.cpu[gpr: 6] = TestMachine.data + 4
                machine.cpu[gpr: 2] = TestMachine.data + 8
                try machine.memory.store(TestMachine.data, UInt64(control), size: 4, pc: 0)
                let stop = machine.executor.run()
                let hex = code.dropFirst(before.count).dropLast(after.count).map { String($0, radix: 16) }.joined(separator: " ")
                let context = "\(form) [\(hex)] mxcsr \(String(control, radix: 16))"
                guard stop == .syscall(at: TestMachine.code + UInt64(code.count)) else {
                    failures.append("\(context): stopped with \(stop)"); continue
                }
                var diff: String?
                let guestMXCSR = try machine.memory.load(TestMachine.data + 4, size: 4, pc: 0)
                if guestMXCSR != hostMXCSR {
                    diff = "mxcsr after: host \(String(hostMXCSR, radix: 16)) emu \(String(guestMXCSR, radix: 16))"
                }
                for x in 0..<16 where diff == nil {
                    let emu = machine.cpu.xmm(x)
                    if emu.low != hostXMM[2 * x] || emu.high != hostXMM[2 * x + 1] {
                        diff = "xmm\(x): host \(String(hostXMM[2 * x + 1], radix: 16)):\(String(hostXMM[2 * x], radix: 16)) "
                            + "emu \(String(emu.high, radix: 16)):\(String(emu.low, radix: 16))"
                    }
                }
                for r in 0..<16 where r != 4 && r != 2 && r != 6 && r != 7 && diff == nil && machine.cpu[gpr: r] != hostRegs[r] {
                    diff = "r\(r): host \(String(hostRegs[r], radix: 16)) emu \(String(machine.cpu[gpr: r], radix: 16))"
                }
                if diff == nil && machine.cpu.rflags & RFlags.arithmetic != hostFlags & RFlags.arithmetic {
                    diff = "flags: host \(String(hostFlags & RFlags.arithmetic, radix: 16)) emu \(String(machine.cpu.rflags & RFlags.arithmetic, radix: 16))"
                }
                if let diff { failures.append("\(context): \(diff)") }
            }
        }
        return failures
    }

    @Test(arguments: arithmetic)
    func arithmeticMatchesTheHostUnderRandomMXCSR(_ form: Form) throws {
        let failures = try Self.differences([form], cases: 300, seed: 0x3C5A)
        #expect(failures.isEmpty, "\(failures.count) differ; first: \(failures.prefix(3))")
    }

    @Test(arguments: sse3And41)
    func sse3AndSSE41FloatMatchTheHostUnderRandomMXCSR(_ form: Form) throws {
        let failures = try Self.differences([form], cases: 300, seed: 0x3C5B)
        #expect(failures.isEmpty, "\(failures.count) differ; first: \(failures.prefix(3))")
    }

    @Test(arguments: conversions)
    func conversionsMatchTheHostUnderRandomMXCSR(_ form: Form) throws {
        let failures = try Self.differences([form], cases: 300, seed: 0x3C5C)
        #expect(failures.isEmpty, "\(failures.count) differ; first: \(failures.prefix(3))")
    }

    /// The usual MXCSR (nearest, all masked, no FTZ/DAZ), where `NearestFloat` computes results
    /// and PE in Swift for ordinary operands and the host takes the rest: every form again.
    @Test(arguments: arithmetic + sse3And41 + conversions)
    func theNearestFastPathMatchesTheHost(_ form: Form) throws {
        let failures = try Self.differences([form], cases: 300, seed: 0x3C5D, nearest: true)
        #expect(failures.isEmpty, "\(failures.count) differ; first: \(failures.prefix(3))")
    }

    /// An exception unmasked in MXCSR is #XM at the instruction: the destination keeps its value,
    /// the flag is set; masked, the same operation gives the default result.
    @Test func unmaskedExceptionsRaiseSIMDFloatingPoint() throws {
        let m = try TestMachine()
        // divsd xmm0, xmm1 with ZE unmasked (bit 9 clear): 1.0 / 0.0.
        m.load([0xF2, 0x0F, 0x5E, 0xC1])
        m.cpu.slots[StateSlot.mxcsr] = 0x1F80 & ~(1 << 9)
        m.cpu.setXMM(0, low: (1.0).bitPattern, high: 7)
        m.cpu.setXMM(1, low: 0, high: 0)
        #expect(m.executor.run() == .exception(.simdFloatingPoint(pc: TestMachine.code, exceptions: 0x04)))
        #expect(m.cpu.xmm(0) == ((1.0).bitPattern, 7))
        #expect(m.cpu.slots[StateSlot.mxcsr] == (0x1F80 & ~(1 << 9)) | 0x04)
        // Masked: +infinity and ZE set.
        m.load([0xF2, 0x0F, 0x5E, 0xC1])
        m.cpu.slots[StateSlot.mxcsr] = 0x1F80
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 4))
        #expect(m.cpu.xmm(0) == (Double.infinity.bitPattern, 7) && m.cpu.slots[StateSlot.mxcsr] == 0x1F84)
        // cvtsd2si eax, xmm1 of a NaN with IE unmasked: #XM, EAX unchanged.
        m.load([0xF2, 0x0F, 0x2D, 0xC1])
        m.cpu.slots[StateSlot.mxcsr] = 0x1F80 & ~(1 << 7)
        m.cpu.setXMM(1, low: Double.nan.bitPattern, high: 0)
        m.cpu[gpr: 0] = 0x1234
        #expect(m.executor.run() == .exception(.simdFloatingPoint(pc: TestMachine.code, exceptions: 0x01)))
        #expect(m.cpu[gpr: 0] == 0x1234)
    }
}
