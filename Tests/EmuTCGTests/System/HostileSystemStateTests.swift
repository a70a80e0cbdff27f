import EmuCore
import EmuTCG
import Testing

/// Random bytes as page tables, descriptor tables and IDT: every operation ends in a result or
/// an exception value (the host never traps or hangs), and delivery in every mode.
@Suite struct HostileSystemStateTests {
    typealias M = SystemTestMachine

    /// Fills `[address, address + length)` of RAM with random bytes.
    func scramble(_ m: M, _ address: UInt64, _ length: Int, _ rng: inout SeededGenerator) {
        m.space.writeBytes((0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: address)
    }

    @Test func randomPageTablesAndDescriptorTables() throws {
        var rng = SeededGenerator(seed: 0x5157_3E4D)
        for round in 0..<8 {
            let m = try M()
            // Tables full of random entries, many pointing back into the table area.
            scramble(m, 0x10_0000, 0x4000, &rng)
            for i in 0..<64 {
                let slot = 0x10_0000 + UInt64.random(in: 0..<0x800, using: &rng) * 8
                let target = 0x10_0000 + UInt64(i % 4) * 0x1000
                m.poke(slot, target | UInt64.random(in: 0...0xFFF, using: &rng) | 1)
            }
            m.enterLongMode(nxe: round % 2 == 0)
            if round % 3 == 0 { m.dropToUser() }
            var outcomes = 0
            for _ in 0..<200 {
                let linear = UInt64.random(in: 0...UInt64.max, using: &rng) & (round % 2 == 0 ? 0x0000_FFFF_FFFF_FFFF : .max)
                let size = [1, 2, 4, 8][Int.random(in: 0..<4, using: &rng)]
                do {
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: _ = try m.mmu.read(linear, size: size, .read)
                    case 1: try m.mmu.write(linear, size: size, value: rng.next(), .write)
                    default: _ = try m.mmu.fetch(linear, size: size)
                    }
                } catch {
                    #expect([.pageFault, .generalProtection].contains(error.vector))
                }
                outcomes += 1
            }
            #expect(outcomes == 200)
            // Random GDT and IDT: loads and deliveries end in a value.
            m.state.gdtr = DescriptorTableRegister(base: 0x10_0000, limit: UInt16.random(in: 0...0xFFFF, using: &rng))
            m.state.idtr = DescriptorTableRegister(base: 0x10_1000, limit: UInt16.random(in: 0...0xFFF, using: &rng))
            m.state.tr = SegmentCache(selector: 0x30, base: 0x10_2000, limit: 0x67,
                                      attributes: .make(type: SystemDescriptorType.busyTSS, codeOrData: false, dpl: 0))
            for _ in 0..<50 {
                let selector = UInt16.random(in: 0...0xFFFF, using: &rng)
                _ = caught { try SegmentLoader.load(.ds, selector: selector, state: m.state, memory: m.mmu) }
                _ = caught { try SegmentLoader.farTransferTarget(selector: selector, offset: rng.next(), state: m.state, memory: m.mmu) }
                var registers = InterruptFrameRegisters(rip: rng.next(), rsp: rng.next(), rflags: 0x202)
                let event = InterruptEvent(vector: UInt8.random(in: 0...255, using: &rng), source: .hardwareInterrupt)
                switch InterruptDelivery.deliver(event, registers: &registers, state: m.state, memory: m.mmu) {
                case .delivered, .tripleFault: break
                }
            }
        }
    }

    // SDM §6.12: protected mode (not IA-32e) delivery through a 32-bit interrupt gate.
    @Test func protectedModeDelivery() throws {
        let m = try M()
        m.state.enterProtectedMode(codeSelector: 0x08, dataSelector: 0x18)
        let gdt: UInt64 = 0x20_0000, idt: UInt64 = 0x20_1000
        m.poke(gdt + 0x08, M.segment(type: 0xA, dpl: 0))
        m.poke(gdt + 0x18, M.segment(type: 0x2, dpl: 0))
        m.state.gdtr = DescriptorTableRegister(base: gdt, limit: 0x1F)
        m.state.idtr = DescriptorTableRegister(base: idt, limit: 0x7FF)
        let handler: UInt64 = 0x12_3456
        m.poke(idt + 13 * 8, (handler & 0xFFFF) | 0x08 << 16 | 0x8E << 40 | (handler >> 16) << 48)
        var registers = InterruptFrameRegisters(rip: 0x1000, rsp: 0x9000, rflags: 0x202)
        let outcome = InterruptDelivery.deliver(.exception(.generalProtection(0x18)), registers: &registers,
                                                state: m.state, memory: m.mmu)
        #expect(outcome == .delivered(vector: 13))
        #expect(registers.rip == handler)
        #expect(registers.rsp == 0x9000 - 16)
        #expect(registers.rflags & SystemFlags.if == 0)
        #expect((0..<4).map { m.peek(0x9000 - 16 + UInt64($0) * 4, size: 4) } == [0x18, 0x1000, 0x08, 0x202])
        // IRETD back.
        registers.rsp += 4  // the handler pops the error code
        try InterruptReturn.execute(operandSize: 4, registers: &registers, state: m.state, memory: m.mmu)
        #expect(registers.rip == 0x1000 && registers.rsp == 0x9000 && registers.rflags == 0x202)
    }

    // SDM §20.1.4: real-mode delivery through the IVT.
    @Test func realModeDelivery() throws {
        let m = try M()
        m.state.idtr = DescriptorTableRegister(base: 0, limit: 0x3FF)
        m.poke(0x21 * 4, 0x1234_5678, size: 4)  // 1234:5678
        var ss = m.state[.ss]
        ss.base = 0x7000
        m.state[.ss] = ss
        var registers = InterruptFrameRegisters(rip: 0xFFF0, rsp: 0x100, rflags: 0x202)
        let outcome = InterruptDelivery.deliver(InterruptEvent(vector: 0x21, source: .softwareInterrupt),
                                                registers: &registers, state: m.state, memory: m.mmu)
        #expect(outcome == .delivered(vector: 0x21))
        #expect(registers.rip == 0x5678 && m.state[.cs].base == 0x12340 && registers.rsp == 0xFA)
        #expect((0..<3).map { m.peek(0x7000 + 0xFA + UInt64($0) * 2, size: 2) } == [0xFFF0, 0xF000, 0x202])
        #expect(m.state.translationKey(rip: registers.rip).linearPC == 0x12340 + 0x5678)
        try InterruptReturn.execute(operandSize: 2, registers: &registers, state: m.state, memory: m.mmu)
        #expect(registers.rip == 0xFFF0 && m.state[.cs].base == 0xF0000 && registers.rsp == 0x100)
    }
}
