import CEmuTCGTestSupport
import Testing
@testable import EmuTCG

/// FXSAVE, FXRSTOR, LDMXCSR and STMXCSR: random FXSAVE images (x87 control, status, tags and
/// registers, MXCSR, XMM, garbage in FOP/FIP/FDP and the reserved bytes) are loaded with FXRSTOR,
/// saved again with FXSAVE64, put through FINCSTP / FFREE / FLD1 and saved with the 32-bit-form
/// FXSAVE, on the host CPU and under EmuTCG; both outputs must match byte for byte (bytes 416…511
/// stay as they were), apart from MXCSR_MASK, where the host's may have more bits (AMD's MM), and
/// FOP/FIP/FDP (bytes 6…23), which EmuTCG stores as zero: AMD CPUs do the same while no x87
/// exception is pending, Intel ones store the last x87 instruction's (here the host's FLD1).
@Suite struct FXSaveDifferentialTests {
    /// An 80-bit x87 value in 10 bytes: normals, zeros, denormals, infinities, NaNs, raw bits.
    static func x87Value<G: RandomNumberGenerator>(_ rng: inout G) -> (UInt64, UInt64) {
        let sign = UInt64.random(in: 0...1, using: &rng) << 15
        switch Int.random(in: 0..<8, using: &rng) {
        case 0: return (0, sign)
        case 1: return (UInt64.random(in: 1...(1 << 63 - 1), using: &rng), sign)
        case 2: return (1 << 63, sign | 0x7FFF)
        case 3: return (1 << 63 | 1 << 62 | UInt64.random(in: 0...0xFFFF, using: &rng), sign | 0x7FFF)
        default: return (1 << 63 | UInt64.random(in: 0...(1 << 63 - 1), using: &rng), sign | UInt64.random(in: 1...0x7FFE, using: &rng))
        }
    }

    static func randomImage<G: RandomNumberGenerator>(_ rng: inout G) -> [UInt8] {
        var image = (0..<512).map { _ in UInt8.random(in: 0...255, using: &rng) }
        func put(_ v: UInt64, _ at: Int, _ n: Int) { for k in 0..<n { image[at + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) } }
        // All x87 exceptions masked (bit 6 reads as one); random precision and rounding control.
        put(0x7F | UInt64.random(in: 0...3, using: &rng) << 8 | UInt64.random(in: 0...3, using: &rng) << 10, 0, 2)
        // Exception flags, SF, C0, C2, C3 and TOP random; C1, ES and B clear.
        let status = UInt64.random(in: 0...0x7F, using: &rng) | UInt64.random(in: 0...1, using: &rng) << 8
            | UInt64.random(in: 0...1, using: &rng) << 10 | UInt64.random(in: 0...7, using: &rng) << 11
            | UInt64.random(in: 0...1, using: &rng) << 14
        put(status, 2, 2)
        put(UInt64.random(in: 0...255, using: &rng), 4, 1)
        put(UInt64.random(in: 0...0xFFFF, using: &rng), 24, 4) // MXCSR: any implemented bits
        for i in 0..<8 {
            let (lo, hi) = x87Value(&rng)
            put(lo, 32 + 16 * i, 8); put(hi, 40 + 16 * i, 2)
        }
        for i in 0..<32 { put(SIMDDifferentialTests.lane(&rng), 160 + 8 * i, 8) }
        return image
    }

    // Host and guest run the same code with RDI = the image, RSI = two 512-byte outputs, RDX =
    // where the host's own state is kept meanwhile:
    //   fxsave64 [rdx] ; fxrstor64 [rdi] ; fxsave64 [rsi] ; fincstp ; ffree st(7) ; fld1 ;
    //   fxsave [rsi+512] ; fxrstor64 [rdx]
    static let code: [UInt8] = [0x48, 0x0F, 0xAE, 0x02, 0x48, 0x0F, 0xAE, 0x0F, 0x48, 0x0F, 0xAE, 0x06,
                                0xD9, 0xF7, 0xDD, 0xC7, 0xD9, 0xE8, 0x0F, 0xAE, 0x86, 0x00, 0x02, 0x00, 0x00,
                                0x48, 0x0F, 0xAE, 0x0A]

    @Test func fxrstorThenFxsaveMatchesTheHostCPU() throws {
        let machine = try TestMachine()
        let page = try #require(emu_native_code_page())
        var rng = SeededGenerator(seed: 0xF85A)
        var failures: [String] = []
        let filler: [UInt8] = (0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 0xA5) }
        for n in 0..<300 {
            let image = Self.randomImage(&rng)
            // Host: code at the page start, image at 1024, outputs at 1536 and 2048, its own state at 3072.
            let native = Self.code + [0xC3]
            page.copyMemory(from: native, byteCount: native.count)
            (page + 1024).copyMemory(from: image, byteCount: 512)
            (page + 1536).copyMemory(from: filler, byteCount: 1024)
            var regs = [UInt64](repeating: 0, count: 16)
            regs[7] = UInt64(UInt(bitPattern: page + 1024))
            regs[6] = UInt64(UInt(bitPattern: page + 1536))
            regs[2] = UInt64(UInt(bitPattern: page + 3072))
            var flags: UInt64 = 0
            regs.withUnsafeMutableBufferPointer { emu_native_exec(page, $0.baseAddress, &flags) }
            let host = Array(UnsafeRawBufferPointer(start: page + 1536, count: 1024))
            // Guest: the image at data+0, outputs at data+0x200 and +0x400, scratch at +0x800.
            machine.load(Self.code)
            #expect(machine.memory.poke(TestMachine.data, image))
            #expect(machine.memory.poke(TestMachine.data + 0x200, filler))
            machine.cpu[gpr: 7] = TestMachine.data
            machine.cpu[gpr: 6] = TestMachine.data + 0x200
            machine.cpu[gpr: 2] = TestMachine.data + 0x800
            let stop = machine.executor.run()
            guard stop == .syscall(at: TestMachine.code + UInt64(Self.code.count)) else {
                failures.append("case \(n): stopped with \(stop)"); continue
            }
            let guest = try #require(machine.memory.read(TestMachine.data + 0x200, count: 1024))
            for k in 0..<1024 where host[k] != guest[k] {
                let field = k % 512
                if (28..<32).contains(field) { continue } // MXCSR_MASK, checked below
                if (6..<24).contains(field) { continue } // FOP, FIP, FDP: checked below
                failures.append("case \(n): byte \(k) (image \(k / 512), offset \(field)): host \(host[k]) emu \(guest[k])")
                break
            }
            // EmuTCG's FOP/FIP/FDP are zero.
            if guest[6..<24].contains(where: { $0 != 0 }) || guest[518..<536].contains(where: { $0 != 0 }) {
                failures.append("case \(n): FOP/FIP/FDP not zero")
            }
            // Every MXCSR bit EmuTCG implements, the host implements too.
            let hostMask = (28..<32).reduce(UInt64(0)) { $0 | UInt64(host[$1]) << (8 * UInt64($1 - 28)) }
            let guestMask = (28..<32).reduce(UInt64(0)) { $0 | UInt64(guest[$1]) << (8 * UInt64($1 - 28)) }
            if guestMask != FXSaveArea.mxcsrMask || hostMask & guestMask != guestMask {
                failures.append("case \(n): MXCSR_MASK host \(String(hostMask, radix: 16)) emu \(String(guestMask, radix: 16))")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) differ; first: \(failures.prefix(3))")
    }

    /// LDMXCSR then STMXCSR on the host and the guest, every implemented bit pattern class.
    @Test func ldmxcsrStmxcsrMatchTheHostCPU() throws {
        let machine = try TestMachine()
        let page = try #require(emu_native_code_page())
        var rng = SeededGenerator(seed: 0x3C5)
        // stmxcsr [rdx] ; ldmxcsr [rdi] ; stmxcsr [rsi] ; ldmxcsr [rdx]
        let code: [UInt8] = [0x0F, 0xAE, 0x1A, 0x0F, 0xAE, 0x17, 0x0F, 0xAE, 0x1E, 0x0F, 0xAE, 0x12]
        for _ in 0..<200 {
            let value = UInt32.random(in: 0...0xFFFF, using: &rng)
            page.copyMemory(from: code + [0xC3], byteCount: code.count + 1)
            (page + 1024).storeBytes(of: value, as: UInt32.self)
            var regs = [UInt64](repeating: 0, count: 16)
            regs[7] = UInt64(UInt(bitPattern: page + 1024))
            regs[6] = UInt64(UInt(bitPattern: page + 1028))
            regs[2] = UInt64(UInt(bitPattern: page + 1032))
            var flags: UInt64 = 0
            regs.withUnsafeMutableBufferPointer { emu_native_exec(page, $0.baseAddress, &flags) }
            let host = (page + 1028).load(as: UInt32.self)
            machine.load(code)
            try machine.memory.store(TestMachine.data, UInt64(value), size: 4, pc: 0)
            machine.cpu[gpr: 7] = TestMachine.data
            machine.cpu[gpr: 6] = TestMachine.data + 4
            machine.cpu[gpr: 2] = TestMachine.data + 8
            #expect(machine.executor.run() == .syscall(at: TestMachine.code + UInt64(code.count)))
            #expect(try machine.memory.load(TestMachine.data + 4, size: 4, pc: 0) == UInt64(host), "mxcsr \(value)")
        }
    }

    @Test func misalignedOperandsReservedMXCSRBitsAndFaultsChangeNothing() throws {
        let m = try TestMachine()
        let before = FXSaveArea.image(of: m.cpu.slots)
        // fxsave [rdi] / fxrstor [rdi] 8 bytes off alignment: #GP.
        for code: [UInt8] in [[0x0F, 0xAE, 0x07], [0x0F, 0xAE, 0x0F], [0x48, 0x0F, 0xAE, 0x07]] {
            m.load(code)
            m.cpu[gpr: 7] = TestMachine.data + 8
            #expect(m.executor.run() == .exception(.generalProtection(pc: TestMachine.code)))
        }
        // An image whose MXCSR has bit 16 set: FXRSTOR raises #GP and loads nothing.
        var image = before
        image[160] = 0x55 // XMM0 would change
        image[26] = 0x01  // MXCSR bit 16
        #expect(m.memory.poke(TestMachine.data, image + [UInt8](repeating: 0, count: 96)))
        m.load([0x0F, 0xAE, 0x0F])
        m.cpu[gpr: 7] = TestMachine.data
        #expect(m.executor.run() == .exception(.generalProtection(pc: TestMachine.code)))
        #expect(FXSaveArea.image(of: m.cpu.slots) == before)
        // LDMXCSR with a reserved bit: #GP, MXCSR unchanged.
        try m.memory.store(TestMachine.data, 0x1_1F80, size: 4, pc: 0)
        m.load([0x0F, 0xAE, 0x17])
        m.cpu[gpr: 7] = TestMachine.data
        #expect(m.executor.run() == .exception(.generalProtection(pc: TestMachine.code)))
        #expect(m.cpu.slots[StateSlot.mxcsr] == 0x1F80)
        // FXSAVE whose last bytes fall on an unmapped page: a page fault, no byte written.
        let last = TestMachine.data + 0x1000 - 256
        _ = m.memory.poke(last, [UInt8](repeating: 0xCC, count: 256))
        m.load([0x0F, 0xAE, 0x07])
        m.cpu[gpr: 7] = last
        guard case .exception(.pageFault(let pc, _, true)) = m.executor.run() else {
            Issue.record("FXSAVE across into an unmapped page must fault"); return
        }
        #expect(pc == TestMachine.code)
        #expect(m.memory.read(last, count: 256) == [UInt8](repeating: 0xCC, count: 256))
        // Register forms of /0 and /1 and an F3 prefix are #UD.
        for code: [UInt8] in [[0x0F, 0xAE, 0xC0], [0x0F, 0xAE, 0xC8], [0xF3, 0x0F, 0xAE, 0x07]] {
            #expect(m.run(code) == .exception(.invalidOpcode(pc: TestMachine.code)))
        }
    }

    @Test func cpuidAdvertisesFXSR() {
        let (_, _, _, edx) = CPUID.query(leaf: 1, subleaf: 0)
        #expect(edx & (1 << 24) != 0)
    }
}
