import CEmuTCGTestSupport
import Testing
@testable import EmuTCG

/// Each SIMD instruction beyond SSE2, register forms between random XMM registers, runs on the
/// host CPU and under EmuTCG from the same XMM0…XMM15, general registers and flags; all sixteen
/// XMM registers, the general registers and the arithmetic flags must match. Operands mix random
/// bits with special floats (zeros, infinities, quiet and signalling NaNs with distinct payloads,
/// denormals) so NaN propagation and operand order are checked too.
@Suite struct SIMDDifferentialTests {
    /// One encoding: mandatory prefix (or nil), opcode bytes after 0F, optional immediate.
    struct Form: CustomStringConvertible, Sendable {
        var name: String
        var prefix: UInt8?
        var opcode: [UInt8]
        var immediate = false
        /// REX.W (PEXTRQ/PINSRQ).
        var wide = false
        /// Which ModRM field names a general register (never RSP, so native runs stay safe).
        var gprInReg = false, gprInRM = false
        /// String operands: XMM bytes from a small alphabet with zeros, RAX/RDX short lengths.
        var strings = false
        /// A 66 before the mandatory prefix (CRC32 r32, r/m16).
        var operandSizePrefix = false
        var description: String { name }

        func encode(destination: Int, source: Int, immediate imm: UInt8, memorySource: Bool = false) -> [UInt8] {
            if memorySource {
                // [RDI] as the r/m operand.
                var bytes: [UInt8] = (operandSizePrefix ? [0x66] : []) + (prefix.map { [$0] } ?? [])
                let rex = UInt8(0x40 | (wide ? 8 : 0) | (destination >> 3) << 2)
                if rex != 0x40 { bytes.append(rex) }
                bytes += [0x0F] + opcode + [UInt8((destination & 7) << 3 | 7)]
                if immediate { bytes.append(imm) }
                return bytes
            }
            var bytes: [UInt8] = (operandSizePrefix ? [0x66] : []) + (prefix.map { [$0] } ?? [])
            let destination = gprInReg && destination == 4 ? 5 : destination
            let source = gprInRM && source == 4 ? 5 : source
            let rex = UInt8(0x40 | (wide ? 8 : 0) | (destination >> 3) << 2 | (source >> 3))
            if rex != 0x40 { bytes.append(rex) }
            bytes += [0x0F] + opcode + [UInt8(0xC0 | (destination & 7) << 3 | (source & 7))]
            if immediate { bytes.append(imm) }
            return bytes
        }
    }

    static let sse3: [Form] = [
        Form(name: "addsubps", prefix: 0xF2, opcode: [0xD0]),
        Form(name: "addsubpd", prefix: 0x66, opcode: [0xD0]),
        Form(name: "haddps", prefix: 0xF2, opcode: [0x7C]),
        Form(name: "haddpd", prefix: 0x66, opcode: [0x7C]),
        Form(name: "hsubps", prefix: 0xF2, opcode: [0x7D]),
        Form(name: "hsubpd", prefix: 0x66, opcode: [0x7D]),
        Form(name: "movddup", prefix: 0xF2, opcode: [0x12]),
        Form(name: "movsldup", prefix: 0xF3, opcode: [0x12]),
        Form(name: "movshdup", prefix: 0xF3, opcode: [0x16]),
    ]

    static let ssse3: [Form] = [
        ("pshufb", 0x00), ("phaddw", 0x01), ("phaddd", 0x02), ("phaddsw", 0x03), ("pmaddubsw", 0x04),
        ("phsubw", 0x05), ("phsubd", 0x06), ("phsubsw", 0x07), ("psignb", 0x08), ("psignw", 0x09),
        ("psignd", 0x0A), ("pmulhrsw", 0x0B), ("pabsb", 0x1C), ("pabsw", 0x1D), ("pabsd", 0x1E),
    ].map { Form(name: $0.0, prefix: 0x66, opcode: [0x38, $0.1]) }
        + [Form(name: "palignr", prefix: 0x66, opcode: [0x3A, 0x0F], immediate: true)]

    /// SSE4.1 (and SSE4.2's PCMPGTQ) register forms implemented so far.
    static let sse4: [Form] = [
        ("pblendvb", 0x10), ("blendvps", 0x14), ("blendvpd", 0x15), ("ptest", 0x17),
        ("pmovsxbw", 0x20), ("pmovsxbd", 0x21), ("pmovsxbq", 0x22), ("pmovsxwd", 0x23), ("pmovsxwq", 0x24), ("pmovsxdq", 0x25),
        ("pmuldq", 0x28), ("pcmpeqq", 0x29), ("packusdw", 0x2B),
        ("pmovzxbw", 0x30), ("pmovzxbd", 0x31), ("pmovzxbq", 0x32), ("pmovzxwd", 0x33), ("pmovzxwq", 0x34), ("pmovzxdq", 0x35),
        ("pcmpgtq", 0x37), ("pminsb", 0x38), ("pminsd", 0x39), ("pminuw", 0x3A), ("pminud", 0x3B),
        ("pmaxsb", 0x3C), ("pmaxsd", 0x3D), ("pmaxuw", 0x3E), ("pmaxud", 0x3F), ("pmulld", 0x40), ("phminposuw", 0x41),
    ].map { Form(name: $0.0, prefix: 0x66, opcode: [0x38, $0.1]) }
        + [Form(name: "pextrb", prefix: 0x66, opcode: [0x3A, 0x14], immediate: true, gprInRM: true),
           Form(name: "pextrw", prefix: 0x66, opcode: [0x3A, 0x15], immediate: true, gprInRM: true),
           Form(name: "pextrd", prefix: 0x66, opcode: [0x3A, 0x16], immediate: true, gprInRM: true),
           Form(name: "pextrq", prefix: 0x66, opcode: [0x3A, 0x16], immediate: true, wide: true, gprInRM: true),
           Form(name: "extractps", prefix: 0x66, opcode: [0x3A, 0x17], immediate: true, gprInRM: true),
           Form(name: "pinsrb", prefix: 0x66, opcode: [0x3A, 0x20], immediate: true, gprInRM: true),
           Form(name: "pinsrd", prefix: 0x66, opcode: [0x3A, 0x22], immediate: true, gprInRM: true),
           Form(name: "pinsrq", prefix: 0x66, opcode: [0x3A, 0x22], immediate: true, wide: true, gprInRM: true),
           Form(name: "pinsrw (SSE2)", prefix: 0x66, opcode: [0xC4], immediate: true, gprInRM: true),
           Form(name: "pextrw (SSE2)", prefix: 0x66, opcode: [0xC5], immediate: true, gprInReg: true),
           Form(name: "insertps", prefix: 0x66, opcode: [0x3A, 0x21], immediate: true),
           Form(name: "dpps", prefix: 0x66, opcode: [0x3A, 0x40], immediate: true),
           Form(name: "dppd", prefix: 0x66, opcode: [0x3A, 0x41], immediate: true),
           Form(name: "mpsadbw", prefix: 0x66, opcode: [0x3A, 0x42], immediate: true)]
        + [("roundps", 0x08), ("roundpd", 0x09), ("roundss", 0x0A), ("roundsd", 0x0B),
           ("blendps", 0x0C), ("blendpd", 0x0D), ("pblendw", 0x0E)]
        .map { Form(name: $0.0, prefix: 0x66, opcode: [0x3A, $0.1], immediate: true) }

    /// SSE4.2: the string compares with many immediates, and CRC32 of every source width.
    static let sse42: [Form] = [
        Form(name: "pcmpestrm", prefix: 0x66, opcode: [0x3A, 0x60], immediate: true, strings: true),
        Form(name: "pcmpestri", prefix: 0x66, opcode: [0x3A, 0x61], immediate: true, strings: true),
        Form(name: "pcmpestri rex.w", prefix: 0x66, opcode: [0x3A, 0x61], immediate: true, wide: true, strings: true),
        Form(name: "pcmpistrm", prefix: 0x66, opcode: [0x3A, 0x62], immediate: true, strings: true),
        Form(name: "pcmpistri", prefix: 0x66, opcode: [0x3A, 0x63], immediate: true, strings: true),
        Form(name: "crc32 r32, r8", prefix: 0xF2, opcode: [0x38, 0xF0], gprInReg: true, gprInRM: true),
        Form(name: "crc32 r32, r16", prefix: 0xF2, opcode: [0x38, 0xF1], gprInReg: true, gprInRM: true, operandSizePrefix: true),
        Form(name: "crc32 r32, r32", prefix: 0xF2, opcode: [0x38, 0xF1], gprInReg: true, gprInRM: true),
        Form(name: "crc32 r64, r64", prefix: 0xF2, opcode: [0x38, 0xF1], wide: true, gprInReg: true, gprInRM: true),
    ]

    /// Integer lanes at the saturation and sign edges.
    static let specialIntegers: [UInt64] = [0x8000_8000_8000_8000, 0x7FFF_7FFF_7FFF_7FFF, 0x8080_8080_7F7F_7F7F,
                                            0xFF00_00FF_8001_7FFE, 0x8000_0000_7FFF_FFFF, 0xFFFF_FFFF_0000_0000,
                                            0x0102_0304_8586_8788, 0x0F0E_0D0C_0B0A_0908]

    static let specialSingles: [UInt32] = [0, 0x8000_0000, 0x3F80_0000, 0xBFC0_0000, 0x7F80_0000, 0xFF80_0000,
                                           0x7FC0_0000, 0xFFC1_2345, 0x7FA0_0001, 0xFF80_0F00, 0x0000_0001, 0x807F_FFFF,
                                           0x7F7F_FFFF, 0x4B00_0000, 0x3F00_0000, 0xCB80_0001]
    static let specialDoubles: [UInt64] = [0, 1 << 63, 0x3FF0_0000_0000_0000, 0xC00C_0000_0000_0000, 0x7FF0_0000_0000_0000,
                                           0xFFF0_0000_0000_0000, 0x7FF8_0000_0000_0000, 0xFFF8_0000_1234_5678,
                                           0x7FF4_0000_0000_0001, 0xFFF0_0000_0000_0F00, 1, 0x800F_FFFF_FFFF_FFFF,
                                           0x7FEF_FFFF_FFFF_FFFF, 0x4330_0000_0000_0000, 0x3FE0_0000_0000_0000]

    /// 64 random bits shaped as two singles, one double or raw bits.
    static func lane<G: RandomNumberGenerator>(_ rng: inout G) -> UInt64 {
        func single(_ rng: inout G) -> UInt64 {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: return UInt64(specialSingles.randomElement(using: &rng) ?? 0)
            case 1: return UInt64(Float.random(in: -1000...1000, using: &rng).bitPattern)
            default: return UInt64.random(in: 0...0xFFFF_FFFF, using: &rng)
            }
        }
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return specialDoubles.randomElement(using: &rng) ?? 0
        case 5: return specialIntegers.randomElement(using: &rng) ?? 0
        case 1: return Double.random(in: -1e6...1e6, using: &rng).bitPattern
        case 2: return UInt64.random(in: 0...UInt64.max, using: &rng)
        default: return single(&rng) | single(&rng) << 32
        }
    }

    /// Runs every form `cases` times from random state; returns the differences found.
    static func differences(_ forms: [Form], cases: Int, seed: UInt64, memorySource: Bool = false) throws -> [String] {
        let machine = try TestMachine()
        guard let page = emu_native_code_page() else { return ["no executable page"] }
        var rng = SeededGenerator(seed: seed)
        var failures: [String] = []
        for form in forms {
            for _ in 0..<cases {
                let destination = Int.random(in: 0...15, using: &rng), source = Int.random(in: 0...15, using: &rng)
                let code = form.encode(destination: destination, source: source, immediate: UInt8.random(in: 0...255, using: &rng),
                                       memorySource: memorySource)
                // With a memory source: 16 random bytes at a 16-byte-aligned address in [RDI]
                // (host: the code page's second half; guest: the data page).
                let memory = (0..<2).map { _ in lane(&rng) }
                var regs = (0..<16).map { _ in UInt64.random(in: 0...UInt64.max, using: &rng) }
                regs[4] = 0
                var xmm = (0..<32).map { _ in lane(&rng) }
                if form.strings {
                    let alphabet: [UInt64] = [0, 0x61, 0x62, 0x63, 0x7A, 0x80, 0xFF, 0x61]
                    let zeroOdds = Int.random(in: 2...40, using: &rng)
                    xmm = (0..<32).map { _ in
                        (0..<8).reduce(UInt64(0)) { acc, k in
                            let c = Int.random(in: 0..<zeroOdds, using: &rng) == 0 ? 0 : (alphabet.randomElement(using: &rng) ?? 0x61)
                            return acc | c << UInt64(8 * k)
                        }
                    }
                    regs[0] = UInt64(bitPattern: Int64.random(in: -20...20, using: &rng))
                    regs[2] = UInt64(bitPattern: Int64.random(in: -20...20, using: &rng))
                    if Int.random(in: 0..<8, using: &rng) == 0 { regs[0] = UInt64.random(in: 0...UInt64.max, using: &rng) }
                }
                // CMP RAX, RBX then STC: flags that an instruction must keep or overwrite.
                let full: [UInt8] = [0x48, 0x39, 0xD8, 0xF9] + code
                let native = full + [0xC3]
                page.copyMemory(from: native, byteCount: native.count)
                let hostData = page + 2048
                hostData.storeBytes(of: memory[0], toByteOffset: 0, as: UInt64.self)
                hostData.storeBytes(of: memory[1], toByteOffset: 8, as: UInt64.self)
                if memorySource { regs[7] = UInt64(UInt(bitPattern: hostData)) }
                var hostRegs = regs, hostXMM = xmm
                var hostFlags: UInt64 = 0
                hostRegs.withUnsafeMutableBufferPointer { r in
                    hostXMM.withUnsafeMutableBufferPointer { x in emu_native_exec_xmm(page, r.baseAddress, &hostFlags, x.baseAddress) }
                }
                machine.load(full)
                for r in 0..<16 where r != 4 { machine.cpu[gpr: r] = regs[r] }
                for x in 0..<16 { machine.cpu.setXMM(x, low: xmm[2 * x], high: xmm[2 * x + 1]) }
                let guestData = TestMachine.data + 0x800
                if memorySource {
                    machine.cpu[gpr: 7] = guestData
                    hostRegs[7] = guestData
                    try machine.memory.store(guestData, memory[0], size: 8, pc: 0)
                    try machine.memory.store(guestData + 8, memory[1], size: 8, pc: 0)
                }
                let stop = machine.executor.run()
                let hex = code.map { String($0, radix: 16) }.joined(separator: " ")
                let context = "\(form) [\(hex)] xmm\(destination), xmm\(source)"
                guard stop == .syscall(at: TestMachine.code + UInt64(full.count)) else {
                    failures.append("\(context): stopped with \(stop)"); continue
                }
                var diff: String?
                for x in 0..<16 where diff == nil {
                    let emu = machine.cpu.xmm(x)
                    if emu.low != hostXMM[2 * x] || emu.high != hostXMM[2 * x + 1] {
                        diff = "xmm\(x): in \(String(xmm[2 * source + 1], radix: 16)):\(String(xmm[2 * source], radix: 16)) / "
                            + "\(String(xmm[2 * destination + 1], radix: 16)):\(String(xmm[2 * destination], radix: 16)); "
                            + "host \(String(hostXMM[2 * x + 1], radix: 16)):\(String(hostXMM[2 * x], radix: 16)) "
                            + "emu \(String(emu.high, radix: 16)):\(String(emu.low, radix: 16))"
                    }
                }
                for r in 0..<16 where r != 4 && diff == nil && machine.cpu[gpr: r] != hostRegs[r] {
                    diff = "r\(r): host \(String(hostRegs[r], radix: 16)) emu \(String(machine.cpu[gpr: r], radix: 16))"
                }
                let flags = RFlags.arithmetic
                if diff == nil && machine.cpu.rflags & flags != hostFlags & flags {
                    diff = "flags: host \(String(hostFlags & flags, radix: 16)) emu \(String(machine.cpu.rflags & flags, radix: 16))"
                }
                if let diff { failures.append("\(context): \(diff)") }
            }
        }
        return failures
    }

    /// The same forms with an aligned m128 (or narrower) source in memory: each reads exactly its
    /// operand size, as the host CPU does.
    @Test func memorySourcesMatchTheHostCPU() throws {
        let forms = (Self.sse3 + Self.ssse3 + Self.sse4 + Self.sse42).filter { !$0.gprInReg && !$0.gprInRM }
        let failures = try Self.differences(forms, cases: 40, seed: 0x3E3, memorySource: true)
        #expect(failures.isEmpty, "\(failures.count) differ; first: \(failures.prefix(3))")
    }

    @Test(arguments: sse3)
    func sse3MatchesTheHostCPU(_ form: Form) throws {
        let failures = try Self.differences([form], cases: 400, seed: 0x55E3)
        #expect(failures.isEmpty, "\(failures.count) differ; first: \(failures.prefix(3))")
    }

    @Test(arguments: ssse3)
    func ssse3MatchesTheHostCPU(_ form: Form) throws {
        let failures = try Self.differences([form], cases: 400, seed: 0x55E3 + 3)
        #expect(failures.isEmpty, "\(failures.count) differ; first: \(failures.prefix(3))")
    }

    @Test(arguments: sse4)
    func sse4MatchesTheHostCPU(_ form: Form) throws {
        let failures = try Self.differences([form], cases: 400, seed: 0x55E4)
        #expect(failures.isEmpty, "\(failures.count) differ; first: \(failures.prefix(3))")
    }

    @Test(arguments: sse42)
    func sse42MatchesTheHostCPU(_ form: Form) throws {
        let failures = try Self.differences([form], cases: 1500, seed: 0x55E42)
        #expect(failures.isEmpty, "\(failures.count) differ; first: \(failures.prefix(3))")
    }

    @Test func sse4MemoryFormsAndMXCSRRounding() throws {
        let m = try TestMachine()
        let at = TestMachine.data + 0x205 // misaligned
        let bytes: [UInt8] = [0x80, 0x01, 0xFF, 0x7F, 0x02, 0x90, 0x03, 0x04, 9, 9, 9, 9, 9, 9, 9, 9]
        _ = m.memory.poke(at, bytes)
        // pmovsxbw xmm1, [rdi] reads 8 unaligned bytes; pmovzxbq xmm2, [rdi] reads 2.
        m.load([0x66, 0x0F, 0x38, 0x20, 0x0F, 0x66, 0x0F, 0x38, 0x32, 0x17])
        m.cpu[gpr: 7] = at
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 10))
        #expect(m.cpu.xmm(1) == (0x007F_FFFF_0001_FF80, 0x0004_0003_FF90_0002))
        #expect(m.cpu.xmm(2) == (0x80, 0x01))
        // ptest xmm1, [rdi] and pminud xmm1, [rdi]: m128 must be aligned.
        for code: [UInt8] in [[0x66, 0x0F, 0x38, 0x17, 0x0F], [0x66, 0x0F, 0x38, 0x3B, 0x0F]] {
            m.load(code)
            m.cpu[gpr: 7] = at
            #expect(m.executor.run() == .exception(.generalProtection(pc: TestMachine.code)))
        }
        // roundsd xmm0, xmm1, 4 follows MXCSR.RC: round down (RC = 01) then up (RC = 10).
        for (rc, expected) in [(UInt64(1), -3.0), (UInt64(2), -2.0)] {
            m.load([0x66, 0x0F, 0x3A, 0x0B, 0xC1, 0x04])
            m.cpu.slots[StateSlot.mxcsr] = 0x1F80 | rc << 13
            m.cpu.setXMM(1, low: (-2.5).bitPattern, high: 0)
            m.cpu.setXMM(0, low: 0, high: 0x1234)
            #expect(m.executor.run() == .syscall(at: TestMachine.code + 6))
            #expect(m.cpu.xmm(0) == (expected.bitPattern, 0x1234))
        }
        // pextrb [rdi+16], xmm1, 6 stores one byte; pextrq [rdi+24], xmm1, 1 eight;
        // pinsrw xmm3, [rdi], 7 reads two unaligned bytes; insertps xmm3, [rdi], 0x10 reads an m32
        // into lane 1 (the source-lane bits apply only to a register).
        _ = m.memory.poke(at + 16, [UInt8](repeating: 0xEE, count: 16))
        m.load([0x66, 0x0F, 0x3A, 0x14, 0x4F, 0x10, 0x06, 0x66, 0x48, 0x0F, 0x3A, 0x16, 0x4F, 0x18, 0x01,
                0x66, 0x0F, 0xC4, 0x1F, 0x07, 0x66, 0x0F, 0x3A, 0x21, 0x1F, 0xD0])
        m.cpu[gpr: 7] = at
        m.cpu.setXMM(1, low: 0x007F_FFFF_0001_FF80, high: 0x0004_0003_FF90_0002)
        m.cpu.setXMM(3, low: 0x1111_2222_3333_4444, high: 0x5555_6666_7777_8888)
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 26))
        #expect(m.memory.read(at + 16, count: 2) == [0x7F, 0xEE])
        #expect(try m.memory.load(at + 24, size: 8, pc: 0) == 0x0004_0003_FF90_0002)
        #expect(m.cpu.xmm(3) == (0x7FFF_0180_3333_4444, 0x0180_6666_7777_8888))
        // MOVNTDQA loads an aligned m128 (#GP when misaligned).
        _ = m.memory.poke(TestMachine.data + 0x300, (0..<16).map { UInt8($0) })
        m.load([0x66, 0x0F, 0x38, 0x2A, 0x27]) // movntdqa xmm4, [rdi]
        m.cpu[gpr: 7] = TestMachine.data + 0x300
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 5))
        #expect(m.cpu.xmm(4) == (0x0706_0504_0302_0100, 0x0F0E_0D0C_0B0A_0908))
        m.load([0x66, 0x0F, 0x38, 0x2A, 0x27])
        m.cpu[gpr: 7] = TestMachine.data + 0x308
        #expect(m.executor.run() == .exception(.generalProtection(pc: TestMachine.code)))
        // pcmpistri xmm1, [rdi], 0x0C (equal ordered) takes an unaligned m128: "ab" found at 3.
        _ = m.memory.poke(at, Array("xyzabq".utf8) + [0])
        m.load([0x66, 0x0F, 0x3A, 0x63, 0x0F, 0x0C])
        m.cpu[gpr: 7] = at
        m.cpu.setXMM(1, low: 0x6261, high: 0)
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 6))
        #expect(m.cpu[gpr: 1] == 3)
        // crc32 eax, byte [rdi] over "123456789" from ~0, inverted: CRC-32C's check value.
        _ = m.memory.poke(TestMachine.data + 0x400, Array("123456789".utf8))
        var crc: UInt64 = 0xFFFF_FFFF
        for k in 0..<9 {
            m.load([0xF2, 0x0F, 0x38, 0xF0, 0x07]) // crc32 eax, byte [rdi]
            m.cpu[gpr: 0] = crc
            m.cpu[gpr: 7] = TestMachine.data + 0x400 + UInt64(k)
            #expect(m.executor.run() == .syscall(at: TestMachine.code + 5))
            crc = m.cpu[gpr: 0]
        }
        #expect(crc ^ 0xFFFF_FFFF == 0xE306_9283)
        // MOVNTDQA's register form and the unassigned 0F 3A 10 are #UD.
        #expect(m.run([0x66, 0x0F, 0x38, 0x2A, 0xC1]) == .exception(.invalidOpcode(pc: TestMachine.code)))
        #expect(m.run([0x66, 0x0F, 0x3A, 0x10, 0xC1, 0]) == .exception(.invalidOpcode(pc: TestMachine.code)))
    }

    /// Random bytes behind SIMD-style prefixes and the 0F 38 / 0F 3A maps, executed with random
    /// registers and [RDI] in the data page: each ends in a result or a guest exception (#UD for
    /// what is not implemented), never a host trap.
    @Test func randomSIMDEncodingsNeverTrapTheHost() throws {
        let m = try TestMachine()
        var rng = SeededGenerator(seed: 0x5EED)
        var ran = 0, undefined = 0
        for _ in 0..<6000 {
            let prefix: [[UInt8]] = [[], [0x66], [0xF2], [0xF3], [0x66, 0xF2], [0xF0, 0x66]]
            var bytes = prefix.randomElement(using: &rng) ?? []
            if Bool.random(using: &rng) { bytes.append(UInt8.random(in: 0x40...0x4F, using: &rng)) }
            bytes += [0x0F] + ([[0x38], [0x3A], []].randomElement(using: &rng) ?? [])
            bytes += (0..<8).map { _ in UInt8.random(in: 0...255, using: &rng) }
            m.load(bytes)
            for r in 0..<16 where r != 4 { m.cpu[gpr: r] = UInt64.random(in: 0...UInt64.max, using: &rng) }
            m.cpu[gpr: 7] = TestMachine.data + 0x100
            for x in 0..<16 { m.cpu.setXMM(x, low: Self.lane(&rng), high: Self.lane(&rng)) }
            switch m.executor.run(blockBudget: 2) {
            case .exception(.invalidOpcode): undefined += 1
            default: ran += 1
            }
        }
        #expect(ran > 500 && undefined > 1000, "ran \(ran), #UD \(undefined)")
    }

    @Test func cpuidAdvertisesSSE3ThroughSSE42() throws {
        let (_, _, ecx, _) = CPUID.query(leaf: 1, subleaf: 0)
        #expect(ecx & 1 != 0, "SSE3")
        #expect(ecx & (1 << 9) != 0, "SSSE3")
        #expect(ecx & (1 << 19) != 0, "SSE4.1")
        #expect(ecx & (1 << 20) != 0, "SSE4.2")
        #expect(ecx & (1 << 3) == 0, "MONITOR/MWAIT (not available at CPL 3)")
        #expect(ecx & (1 << 28 | 1 << 27 | 1 << 26) == 0, "AVX, OSXSAVE, XSAVE are not implemented")
    }

    /// FISTTP (SSE3's x87 member) truncates whatever the rounding control says, and stores the
    /// integer indefinite value when out of range.
    @Test func fisttpTruncates() throws {
        let m = try TestMachine()
        // fld qword [rdi] ; fisttp word [rdi+16] ; fld qword [rdi] ; fisttp dword [rdi+24] ;
        // fld qword [rdi] ; fisttp qword [rdi+32]
        let code: [UInt8] = [0xDD, 0x07, 0xDF, 0x4F, 0x10, 0xDD, 0x07, 0xDB, 0x4F, 0x18, 0xDD, 0x07, 0xDD, 0x4F, 0x20]
        let cases: [(Double, UInt64, UInt64, UInt64)] = [
            (2.99, 2, 2, 2), (-2.75, 0xFFFE, 0xFFFF_FFFE, UInt64(bitPattern: -2)), (0.5, 0, 0, 0),
            (1e10, 0x8000, 0x8000_0000, 10_000_000_000), (70000, 0x8000, 70000, 70000),
            (.nan, 0x8000, 0x8000_0000, 1 << 63),
        ]
        for (value, word, dword, qword) in cases {
            try m.memory.store(TestMachine.data, value.bitPattern, size: 8, pc: 0)
            m.load(code)
            m.cpu[gpr: 7] = TestMachine.data
            #expect(m.executor.run() == .syscall(at: TestMachine.code + UInt64(code.count)))
            #expect(try m.memory.load(TestMachine.data + 16, size: 2, pc: 0) == word, "\(value) m16")
            #expect(try m.memory.load(TestMachine.data + 24, size: 4, pc: 0) == dword, "\(value) m32")
            #expect(try m.memory.load(TestMachine.data + 32, size: 8, pc: 0) == qword, "\(value) m64")
        }
    }

    @Test func sse3MemoryForms() throws {
        let m = try TestMachine()
        let at = TestMachine.data + 0x103 // deliberately misaligned
        let bytes = (0..<16).map { UInt8(truncatingIfNeeded: $0 * 37 + 1) }
        _ = m.memory.poke(at, bytes)
        func le(_ k: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[k + $1]) << (8 * UInt64($1)) } }
        // lddqu xmm9, [rdi] — unaligned is fine
        m.load([0xF2, 0x44, 0x0F, 0xF0, 0x0F])
        m.cpu[gpr: 7] = at
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 5))
        #expect(m.cpu.xmm(9) == (le(0), le(8)))
        // movddup xmm2, [rdi] — 8 bytes, unaligned is fine
        m.load([0xF2, 0x0F, 0x12, 0x17])
        m.cpu[gpr: 7] = at
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 4))
        #expect(m.cpu.xmm(2) == (le(0), le(0)))
        // haddps xmm1, [rdi] and movshdup xmm1, [rdi]: m128 must be 16-byte aligned (#GP)
        for code: [UInt8] in [[0xF2, 0x0F, 0x7C, 0x0F], [0xF3, 0x0F, 0x16, 0x0F]] {
            m.load(code)
            m.cpu[gpr: 7] = at
            #expect(m.executor.run() == .exception(.generalProtection(pc: TestMachine.code)))
        }
        // SSSE3 m128 operands must be aligned too: pshufb xmm1, [rdi]; palignr xmm1, [rdi], 3
        for code: [UInt8] in [[0x66, 0x0F, 0x38, 0x00, 0x0F], [0x66, 0x0F, 0x3A, 0x0F, 0x0F, 0x03]] {
            m.load(code)
            m.cpu[gpr: 7] = at
            #expect(m.executor.run() == .exception(.generalProtection(pc: TestMachine.code)))
            m.load(code)
            m.cpu[gpr: 7] = TestMachine.data + 0x100
            #expect(m.executor.run() == .syscall(at: TestMachine.code + UInt64(code.count)))
        }
        // LDDQU with a register operand, SSE3 opcodes without their prefix, SSE4.1 ones without 66
        // (no MMX form) and unassigned 0F 38 opcodes are #UD.
        for code: [UInt8] in [[0xF2, 0x0F, 0xF0, 0xC1], [0x0F, 0x7C, 0xC1], [0xF3, 0x0F, 0xD0, 0xC1],
                               [0x0F, 0x38, 0x10, 0xC1], [0x66, 0x0F, 0x38, 0x0C, 0xC1], [0x0F, 0x3A, 0x0E, 0xC1, 0x01]] {
            #expect(m.run(code) == .exception(.invalidOpcode(pc: TestMachine.code)))
        }
    }
}
