import EmuCore
import EmuTCG
import Testing

/// Descriptor fetch and segment loads (Intel SDM Vol. 3A §5.5–§5.8, Vol. 2 MOV/POP/JMP/RET/
/// LTR/LLDT pseudocode).
@Suite struct SegmentLoaderTests {
    typealias M = SystemTestMachine

    func machine() throws -> M {
        let m = try M()
        m.enterLongMode()
        m.installDescriptorTables()
        return m
    }

    func gdtEntry(_ m: M, _ selector: UInt16) -> UInt64 { m.peek(M.gdtBase + UInt64(selector & 0xFFF8)) }

    @Test func loadDataSegmentSetsCacheAndAccessedBit() throws {
        let m = try machine()
        #expect(gdtEntry(m, M.kernelData) & (1 << 40) == 0)
        let effects = try SegmentLoader.load(.ds, selector: M.kernelData, state: m.state, memory: m.mmu)
        #expect(m.state[.ds].selector == M.kernelData)
        #expect(m.state[.ds].limit == 0xFFFF_FFFF)
        #expect(m.state[.ds].attributes.isWritable)
        #expect(gdtEntry(m, M.kernelData) & (1 << 40) != 0)
        #expect(!effects.contains(.segmentBasesChanged))
        #expect(try SegmentLoader.load(.fs, selector: M.kernelData, state: m.state, memory: m.mmu).contains(.segmentBasesChanged))
    }

    // SDM §5.8 / MOV: data loads need DPL ≥ max(CPL, RPL); code needs R; absent is #NP.
    @Test func dataSegmentChecks() throws {
        let m = try machine()
        func load(_ selector: UInt16) -> X86Exception? {
            caught { try SegmentLoader.load(.es, selector: selector, state: m.state, memory: m.mmu) }
        }
        #expect(load(0) == nil)  // null is fine for ES
        #expect(m.state[.es].attributes.isUnusable)
        #expect(load(0x40) == .generalProtection(0x40))  // beyond the GDT limit (0x3F)
        #expect(load(0x30) == .generalProtection(0x30))  // a TSS descriptor
        #expect(load(0x0C) == .generalProtection(0x0C))  // LDT selector with a null LDTR (TI kept)
        // Execute-only code.
        m.poke(M.gdtBase + 0x08, M.segment(type: 0x8, dpl: 0))
        #expect(load(0x08) == .generalProtection(0x08))
        // Readable conforming code is allowed whatever its DPL.
        m.poke(M.gdtBase + 0x08, M.segment(type: 0xE, dpl: 0))
        m.dropToUser()
        #expect(load(0x0B) == nil)
        // At CPL 3 a DPL 0 data segment is refused, a DPL 3 one with RPL 3 loads.
        #expect(load(M.kernelData | 3) == .generalProtection(UInt32(M.kernelData)))
        #expect(load(M.userData) == nil)
        // Not present.
        m.poke(M.gdtBase + 0x20, M.segment(type: 0x3, dpl: 3, present: false))
        #expect(load(M.userData) == .segmentNotPresent(0x20))
    }

    // SDM MOV/POP SS: RPL = CPL = DPL, writable data; null only in 64-bit mode below CPL 3.
    @Test func stackSegmentChecks() throws {
        let m = try machine()
        func load(_ selector: UInt16) -> X86Exception? {
            caught { try SegmentLoader.load(.ss, selector: selector, state: m.state, memory: m.mmu) }
        }
        #expect(load(0) == nil)
        #expect(load(1) == .generalProtection(0))  // RPL ≠ CPL
        #expect(load(M.kernelCode) == .generalProtection(UInt32(M.kernelCode)))
        #expect(load(M.userData) == .generalProtection(0x20))  // RPL 3 at CPL 0
        #expect(load(M.kernelData) == nil)
        m.poke(M.gdtBase + 0x18, M.segment(type: 0x3, dpl: 0, present: false))
        #expect(load(M.kernelData) == .stackFault(0x18))
        m.dropToUser()
        #expect(load(3) == .generalProtection(0))  // null SS at CPL 3
        #expect(load(M.userData) == nil)
    }

    @Test func farTransferChecks() throws {
        let m = try machine()
        func target(_ selector: UInt16, _ offset: UInt64 = 0x1000) -> X86Exception? {
            caught { try SegmentLoader.farTransferTarget(selector: selector, offset: offset, state: m.state, memory: m.mmu) }
        }
        #expect(target(0) == .generalProtection(0))
        #expect(target(M.kernelData) == .generalProtection(0x18))
        #expect(target(M.userCode) == .generalProtection(0x28))  // DPL 3 ≠ CPL 0
        #expect(target(M.kernelCode, 0x8000_0000_0000) == .generalProtection(0))  // non-canonical
        let cs = try SegmentLoader.farTransferTarget(selector: 0x08, offset: 0x1000, state: m.state, memory: m.mmu)
        #expect(cs.attributes.isDefaultBig && !cs.attributes.isLong)
        #expect(caught { try SegmentLoader.farTransferTarget(selector: 0x08, offset: 0x1_0000_0000, state: m.state, memory: m.mmu) }
                == .generalProtection(0))  // beyond the 32-bit limit
        // L and D both set.
        m.poke(M.gdtBase + 0x08, M.segment(type: 0xB, dpl: 0, long: true, big: true))
        #expect(target(0x08) == .generalProtection(0x08))
        // A 64-bit call gate (16 bytes) is refused cleanly.
        let gate = M.gate(offset: 0x1000, selector: M.kernelCode, type: 0xC)
        m.poke(M.gdtBase + 0x08, gate.0)
        #expect(target(0x08) == .generalProtection(0x08))
        // Not present.
        m.poke(M.gdtBase + 0x08, M.segment(type: 0xB, dpl: 0, present: false))
        #expect(target(0x08) == .segmentNotPresent(0x08))
    }

    // The decompressor's trampoline: LRETQ to a 32-bit code segment enters compatibility mode.
    @Test func farReturnToCompatibilityModeAndToCPL3() throws {
        let m = try machine()
        let stack: UInt64 = 0x30_0000
        m.map(stack - 0x1000, to: stack - 0x1000, flags: M.present | M.writable)
        m.poke(stack - 0x10, 0x1234)  // RIP
        m.poke(stack - 0x08, 0x08)  // CS: 32-bit code
        var rsp = stack - 0x10
        let result = try SegmentLoader.farReturn(operandSize: 8, immediate: 0, rsp: &rsp, state: m.state, memory: m.mmu)
        #expect(result.rip == 0x1234)
        #expect(rsp == stack)
        #expect(result.effects.contains(.modeChanged))
        #expect(m.state.executionMode.kind == .compatibility32)

        // Back in 64-bit mode: a far return to CPL 3 pops SS:RSP and nulls DS (DPL 0).
        let n = try machine()
        n.map(stack - 0x1000, to: stack - 0x1000, flags: M.present | M.writable | M.user)
        try SegmentLoader.load(.ds, selector: M.kernelData, state: n.state, memory: n.mmu)
        for (i, v) in [0x4000, UInt64(M.userCode), 0x7000, UInt64(M.userData)].enumerated() {
            n.poke(stack - 0x20 + UInt64(i) * 8, v)
        }
        var rsp2 = stack - 0x20
        let back = try SegmentLoader.farReturn(operandSize: 8, immediate: 0, rsp: &rsp2, state: n.state, memory: n.mmu)
        #expect(back.rip == 0x4000)
        #expect(rsp2 == 0x7000)
        #expect(n.state.cpl == 3)
        #expect(n.state[.ss].selector == M.userData)
        #expect(n.state[.ds].attributes.isUnusable)
        // Returning to a more privileged level is refused.
        for (i, v) in [0x4000, UInt64(M.kernelCode)].enumerated() { n.poke(stack - 0x20 + UInt64(i) * 8, v) }
        var rsp3 = stack - 0x20
        #expect(caught { try SegmentLoader.farReturn(operandSize: 8, immediate: 0, rsp: &rsp3, state: n.state, memory: n.mmu) }
                == .generalProtection(UInt32(M.kernelCode)))
    }

    @Test func loadTaskRegister() throws {
        let m = try machine()
        try SegmentLoader.loadTaskRegister(selector: M.tssSelector, state: m.state, memory: m.mmu)
        #expect(m.state.tr.base == M.tssBase)
        #expect(m.state.tr.limit == 0x67)
        #expect(m.state.tr.attributes.type == SystemDescriptorType.busyTSS)
        #expect((gdtEntry(m, M.tssSelector) >> 40) & 0xF == 0xB)  // busy in the GDT
        // Loading a busy TSS, an LDT selector, a data descriptor: #GP(selector).
        #expect(caught { try SegmentLoader.loadTaskRegister(selector: M.tssSelector, state: m.state, memory: m.mmu) }
                == .generalProtection(0x30))
        #expect(caught { try SegmentLoader.loadTaskRegister(selector: 0x34, state: m.state, memory: m.mmu) }
                == .generalProtection(0x34))
        #expect(caught { try SegmentLoader.loadTaskRegister(selector: M.kernelData, state: m.state, memory: m.mmu) }
                == .generalProtection(0x18))
        #expect(caught { try SegmentLoader.loadTaskRegister(selector: 0, state: m.state, memory: m.mmu) }
                == .generalProtection(0))
        // A 16-byte descriptor that does not fit the GDT limit.
        m.state.gdtr.limit = 0x37
        let tss = M.system(type: SystemDescriptorType.availableTSS, base: M.tssBase, limit: 0x67)
        m.poke(M.gdtBase + 0x30, tss.0)
        #expect(caught { try SegmentLoader.loadTaskRegister(selector: M.tssSelector, state: m.state, memory: m.mmu) }
                == .generalProtection(0x30))
        m.dropToUser()
        m.state.gdtr.limit = 0x3F
        #expect(caught { try SegmentLoader.loadTaskRegister(selector: M.tssSelector, state: m.state, memory: m.mmu) }
                == .generalProtection(0))
    }

    @Test func loadLDTAndUseIt() throws {
        let m = try machine()
        let ldtBase: UInt64 = 0x20_3000
        m.map(ldtBase, to: ldtBase, flags: M.present | M.writable)
        m.poke(ldtBase + 8, M.segment(type: 0x3, dpl: 0))
        let ldt = M.system(type: SystemDescriptorType.ldt, base: ldtBase, limit: 0xF)
        m.state.gdtr.limit = 0x4F
        m.poke(M.gdtBase + 0x40, ldt.0)
        m.poke(M.gdtBase + 0x48, ldt.1)
        try SegmentLoader.loadLDT(selector: 0x40, state: m.state, memory: m.mmu)
        #expect(m.state.ldtr.base == ldtBase)
        try SegmentLoader.load(.ds, selector: 0x0C, state: m.state, memory: m.mmu)
        #expect(m.state[.ds].selector == 0x0C)
        #expect(caught { try SegmentLoader.load(.ds, selector: 0x14, state: m.state, memory: m.mmu) } == .generalProtection(0x14))
        #expect(caught { try SegmentLoader.loadLDT(selector: M.tssSelector, state: m.state, memory: m.mmu) }
                == .generalProtection(0x30))
        try SegmentLoader.loadLDT(selector: 0, state: m.state, memory: m.mmu)
        #expect(caught { try SegmentLoader.load(.ds, selector: 0x0C, state: m.state, memory: m.mmu) } == .generalProtection(0x0C))
    }

    @Test func gdtInUnmappedMemoryIsAPageFault() throws {
        let m = try machine()
        m.state.gdtr = DescriptorTableRegister(base: 0x5000_0000_0000, limit: 0xFF)
        #expect(caught { try SegmentLoader.load(.ds, selector: M.kernelData, state: m.state, memory: m.mmu) }
                == .pf(0x5000_0000_0018, 0))
    }

    @Test func realModeLoadsAreSelectorTimesSixteen() throws {
        let m = try M()
        try SegmentLoader.load(.ds, selector: 0x1234, state: m.state, memory: m.mmu)
        #expect(m.state[.ds].base == 0x12340)
        #expect(m.state.executionMode.kind == .real)
    }
}
