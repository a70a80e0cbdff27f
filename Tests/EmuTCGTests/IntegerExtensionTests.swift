import CEmuTCGTestSupport
import Testing
@testable import EmuTCG

/// POPCNT and LZCNT against the host CPU (which must have them, as every x86-64 CPU since 2013
/// does), and CMPXCHG16B's success, failure and alignment rules.
@Suite struct IntegerExtensionTests {
    static let registers = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]

    /// `POPCNT dst, src` (or another F3 0F `opcode`) at `size` bytes (2, 4, 8) between any two registers but RSP.
    static func popcnt(size: Int, destination: Int, source: Int, opcode: UInt8 = 0xB8) -> [UInt8] {
        var bytes: [UInt8] = size == 2 ? [0x66, 0xF3] : [0xF3]
        let rex = UInt8(0x40 | (size == 8 ? 8 : 0) | (destination >> 3) << 2 | (source >> 3))
        if rex != 0x40 { bytes.append(rex) }
        return bytes + [0x0F, opcode, UInt8(0xC0 | (destination & 7) << 3 | (source & 7))]
    }

    /// POPCNT (F3 0F B8) defines every arithmetic flag; LZCNT (F3 0F BD) only CF and ZF.
    @Test(arguments: [(UInt8(0xB8), RFlags.arithmetic), (UInt8(0xBD), RFlags.cf | RFlags.zf)])
    func bitCountsMatchTheHostCPU(_ opcode: UInt8, _ flags: UInt64) throws {
        let machine = try TestMachine()
        guard let page = emu_native_code_page() else { Issue.record("no executable page"); return }
        var rng = SeededGenerator(seed: 0xB8)
        var failures: [String] = []
        for n in 0..<600 {
            let size = [2, 4, 8][n % 3]
            let destination = Self.registers.randomElement(using: &rng) ?? 0
            let source = Self.registers.randomElement(using: &rng) ?? 1
            var regs = (0..<16).map { _ in UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng) }
            if n % 7 == 0 { regs[source] = 0 }                 // ZF set
            if n % 11 == 0 { regs[source] = UInt64.max }
            regs[4] = 0
            // CMP RAX, RBX and STC leave a mix of flags set that POPCNT must clear (all but ZF).
            let code: [UInt8] = [0x48, 0x39, 0xD8, 0xF9] + Self.popcnt(size: size, destination: destination, source: source, opcode: opcode)
            let native = code + [0xC3]
            page.copyMemory(from: native, byteCount: native.count)
            var hostRegs = regs
            var hostFlags: UInt64 = 0
            hostRegs.withUnsafeMutableBufferPointer { emu_native_exec(page, $0.baseAddress, &hostFlags) }
            machine.load(code)
            for r in 0..<16 where r != 4 { machine.cpu[gpr: r] = regs[r] }
            let stop = machine.executor.run()
            var diff: String?
            if stop != .syscall(at: TestMachine.code + UInt64(code.count)) { diff = "stopped with \(stop)" }
            for r in 0..<16 where r != 4 && diff == nil && machine.cpu[gpr: r] != hostRegs[r] {
                diff = "r\(r): host \(String(hostRegs[r], radix: 16)) emu \(String(machine.cpu[gpr: r], radix: 16))"
            }
            if diff == nil && machine.cpu.rflags & flags != hostFlags & flags {
                diff = "flags: host \(String(hostFlags & flags, radix: 16)) emu \(String(machine.cpu.rflags & flags, radix: 16))"
            }
            if let diff { failures.append("0F \(String(opcode, radix: 16)) size \(size) r\(destination), r\(source)=\(String(regs[source], radix: 16)): \(diff)") }
        }
        #expect(failures.isEmpty, "\(failures.count) differ; first: \(failures.prefix(3))")
    }

    /// LOCK CMPXCHG16B [RDI].
    static let cmpxchg16b: [UInt8] = [0xF0, 0x48, 0x0F, 0xC7, 0x0F]

    func store(_ m: TestMachine, _ address: UInt64, _ low: UInt64, _ high: UInt64) {
        var bytes: [UInt8] = []
        for v in [low, high] { for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) } }
        _ = m.memory.poke(address, bytes)
    }

    func loadPair(_ m: TestMachine, _ address: UInt64) throws -> (UInt64, UInt64) {
        (try m.memory.load(address, size: 8, pc: 0), try m.memory.load(address + 8, size: 8, pc: 0))
    }

    @Test func cmpxchg16bStoresOnEqualityAndLoadsOtherwise() throws {
        let m = try TestMachine()
        let at = TestMachine.data + 0x40
        store(m, at, 0x1111, 0x2222)
        m.load(Self.cmpxchg16b)
        m.cpu[gpr: 7] = at
        m.cpu[gpr: 0] = 0x1111; m.cpu[gpr: 2] = 0x2222   // expected RDX:RAX
        m.cpu[gpr: 3] = 0xAAAA; m.cpu[gpr: 1] = 0xBBBB   // replacement RCX:RBX
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 5))
        #expect(try loadPair(m, at) == (0xAAAA, 0xBBBB))
        #expect(m.cpu.rflags & RFlags.zf != 0)
        #expect(m.cpu[gpr: 0] == 0x1111 && m.cpu[gpr: 2] == 0x2222)

        // Only the high half differs: no store, RDX:RAX receive memory, ZF clear.
        m.load(Self.cmpxchg16b)
        m.cpu[gpr: 7] = at
        m.cpu[gpr: 0] = 0xAAAA; m.cpu[gpr: 2] = 0xBBBC
        m.cpu[gpr: 3] = 1; m.cpu[gpr: 1] = 2
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 5))
        #expect(try loadPair(m, at) == (0xAAAA, 0xBBBB))
        #expect(m.cpu.rflags & RFlags.zf == 0)
        #expect(m.cpu[gpr: 0] == 0xAAAA && m.cpu[gpr: 2] == 0xBBBB)
    }

    @Test func cmpxchg16bOnAMisalignedOperandRaisesGeneralProtectionBeforeTouchingAnything() throws {
        let m = try TestMachine()
        for misalignment: UInt64 in [1, 4, 8, 15] {
            let at = TestMachine.data + 0x80 + misalignment
            store(m, at, 5, 6)
            m.load([0x90] + Self.cmpxchg16b)
            m.cpu[gpr: 7] = at
            m.cpu[gpr: 0] = 5; m.cpu[gpr: 2] = 6; m.cpu[gpr: 3] = 7; m.cpu[gpr: 1] = 8
            #expect(m.executor.run() == .exception(.generalProtection(pc: TestMachine.code + 1)))
            #expect(m.cpu.rip == TestMachine.code + 1)
            #expect(try loadPair(m, at) == (5, 6))
        }
        // A register operand is undefined.
        #expect(m.run([0x48, 0x0F, 0xC7, 0xC8]) == .exception(.invalidOpcode(pc: TestMachine.code)))
    }

    @Test func cpuidAdvertisesPopcntCX16AndLZCNT() throws {
        #expect(CPUID.query(leaf: 0x8000_0001, subleaf: 0).2 & (1 << 5) != 0, "ABM (LZCNT)")
        let m = try TestMachine()
        m.load([0x0F, 0xA2]) // cpuid
        m.cpu[gpr: 0] = 1; m.cpu[gpr: 1] = 0
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 2))
        let ecx = m.cpu[gpr: 1]
        #expect(ecx & (1 << 23) != 0, "POPCNT")
        #expect(ecx & (1 << 13) != 0, "CMPXCHG16B")
    }
}
