import CEmuTCGTestSupport
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EmuTCG

/// Random sequences of register-only instructions from an encoding table, run on the host CPU and
/// under EmuTCG from the same registers: every general register and the defined flags must match.
/// The table holds only instructions that cannot fault or touch memory or RSP, so running them
/// natively in the test process is safe. Bounded and seeded for CI; `EMU_TCG_SEQUENCES=N` runs more.
@Suite struct SequenceDifferentialTests {
    static let registers = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]

    static func rex(w: Bool, r: Int, b: Int, force: Bool = false) -> [UInt8] {
        let v = UInt8(0x40 | (w ? 8 : 0) | (r >> 3) << 2 | (b >> 3))
        return v != 0x40 || force ? [v] : []
    }
    static func modrm(_ reg: Int, _ rm: Int) -> UInt8 { UInt8(0xC0 | (reg & 7) << 3 | (rm & 7)) }

    /// One random instruction.
    static func instruction<G: RandomNumberGenerator>(_ rng: inout G) -> [UInt8] {
        let r1 = registers.randomElement(using: &rng) ?? 0
        let r2 = registers.randomElement(using: &rng) ?? 1
        let wide = Bool.random(using: &rng)
        let cc = UInt8.random(in: 0...15, using: &rng)
        switch Int.random(in: 0..<14, using: &rng) {
        case 0, 1: // ALU r/m, r
            let op = UInt8.random(in: 0...7, using: &rng)
            return rex(w: wide, r: r2, b: r1) + [op << 3 | 1, modrm(r2, r1)]
        case 2: // ALU r/m, imm8
            let op = UInt8.random(in: 0...7, using: &rng)
            return rex(w: wide, r: 0, b: r1) + [0x83, modrm(Int(op), r1), UInt8.random(in: 0...255, using: &rng)]
        case 3: // INC, DEC, NOT, NEG
            let (opcode, ext): (UInt8, Int) = [(0xFF, 0), (0xFF, 1), (0xF7, 2), (0xF7, 3)].randomElement(using: &rng) ?? (0xFF, 0)
            return rex(w: wide, r: 0, b: r1) + [opcode, modrm(ext, r1)]
        case 4: // shifts and rotates by one (OF defined)
            let ext = [0, 1, 2, 3, 4, 5, 7].randomElement(using: &rng) ?? 4
            return rex(w: wide, r: 0, b: r1) + [0xD1, modrm(ext, r1)]
        case 5: // MOV
            return rex(w: wide, r: r2, b: r1) + [0x89, modrm(r2, r1)]
        case 6: // LEA r, [r2 + r1*4 + 8]: destination a low register (no REX.R), never RSP
            let destination = [0, 1, 2, 3, 5, 6, 7].randomElement(using: &rng) ?? 0
            let sib = UInt8(2 << 6 | (r1 & 7) << 3 | (r2 & 7))
            let prefix = UInt8(0x48 | (r1 >> 3) << 1 | (r2 >> 3))
            return [prefix, 0x8D, UInt8(0x44 | destination << 3), sib, 8]
        case 7: // CMOVcc
            return rex(w: wide, r: r1, b: r2) + [0x0F, 0x40 | cc, modrm(r1, r2)]
        case 8: // SETcc r8 (with REX: SPL… are never chosen, low bytes of any register)
            return rex(w: false, r: 0, b: r1, force: true) + [0x0F, 0x90 | cc, modrm(0, r1)]
        case 9: // XCHG
            return rex(w: wide, r: r2, b: r1) + [0x87, modrm(r2, r1)]
        case 10: // BSWAP
            return rex(w: wide, r: 0, b: r1) + [0x0F, 0xC8 | UInt8(r1 & 7)]
        case 11: // MOVZX r32, r8 / MOVSX r64, r16
            if Bool.random(using: &rng) { return rex(w: false, r: r1, b: r2, force: true) + [0x0F, 0xB6, modrm(r1, r2)] }
            return rex(w: true, r: r1, b: r2) + [0x0F, 0xBF, modrm(r1, r2)]
        case 12: // TEST
            return rex(w: wide, r: r2, b: r1) + [0x85, modrm(r2, r1)]
        default: // ADC/SBB with an immediate (carry chains)
            let ext = Bool.random(using: &rng) ? 2 : 3
            return rex(w: wide, r: 0, b: r1) + [0x83, modrm(ext, r1), UInt8.random(in: 0...255, using: &rng)]
        }
    }

    @Test(arguments: ExecutorBackend.allCases)
    func randomSequencesMatchTheHostCPU(backend: ExecutorBackend) throws {
        let machine = try TestMachine(backend: backend)
        guard let page = emu_native_code_page() else { Issue.record("no executable page"); return }
        let count = getenv("EMU_TCG_SEQUENCES").flatMap { Int(String(cString: $0)) } ?? 300
        var rng = SeededGenerator(seed: 2026)
        var failures: [String] = []
        for n in 0..<count {
            var instructions: [[UInt8]] = []
            for _ in 0..<24 { instructions.append(Self.instruction(&rng)) }
            var regs = (0..<16).map { _ in UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng) }
            regs[4] = 0
            let carry = Bool.random(using: &rng)
            // Every flag is defined first (TEST RAX, RAX), then CF set with STC or CLC
            // (register-only, unlike POPF).
            let prefix: [UInt8] = [0x48, 0x85, 0xC0, carry ? 0xF9 : 0xF8]
            if let diff = compare(machine, page, prefix + instructions.joined(), regs) {
                // Find the first instruction after which host and emulation disagree.
                var k = 1
                while k < instructions.count, compare(machine, page, prefix + instructions.prefix(k).joined(), regs) == nil { k += 1 }
                let hex = instructions[k - 1].map { String($0, radix: 16) }.joined(separator: " ")
                failures.append("sequence \(n), instruction \(k) [\(hex)]: \(diff)")
            }
        }
        #expect(failures.count == 0, "\(failures.count) of \(count) differ; first: \(failures.prefix(3))")
    }

    /// Runs `code` natively and emulated from `regs`; nil when registers and defined flags match.
    func compare(_ machine: TestMachine, _ page: UnsafeMutableRawPointer, _ code: [UInt8], _ regs: [UInt64]) -> String? {
        let native = code + [0xC3]
        page.copyMemory(from: native, byteCount: native.count)
        var hostRegs = regs
        var hostFlags: UInt64 = 0
        hostRegs.withUnsafeMutableBufferPointer { emu_native_exec(page, $0.baseAddress, &hostFlags) }
        hostRegs[4] = 0
        machine.load(code)
        for r in 0..<16 where r != 4 { machine.cpu[gpr: r] = regs[r] }
        let stop = machine.executor.run()
        guard stop == .syscall(at: TestMachine.code + UInt64(code.count)) else { return "stopped with \(stop)" }
        for r in 0..<16 where r != 4 && machine.cpu[gpr: r] != hostRegs[r] {
            return "r\(r): host \(String(hostRegs[r], radix: 16)) emu \(String(machine.cpu[gpr: r], radix: 16))"
        }
        let compared = RFlags.cf | RFlags.pf | RFlags.zf | RFlags.sf | RFlags.of
        if machine.cpu.rflags & compared != hostFlags & compared {
            return "flags: host \(String(hostFlags & compared, radix: 16)) emu \(String(machine.cpu.rflags & compared, radix: 16))"
        }
        return nil
    }
}
