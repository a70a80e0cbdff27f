import EmuCore
import EmuTCG
import Testing

/// Control-register and MSR writes with their checks (Intel SDM Vol. 3A §2.5, §9.8.5, Vol. 2B
/// MOV CR / RDMSR / WRMSR), the mode word and the block-cache key.
@Suite struct SystemStateTests {
    typealias M = SystemTestMachine

    // SDM §9.1.1: the RESET state is real mode at F000:FFF0's segment, CR0 = 0x60000010.
    @Test func resetState() throws {
        let m = try M()
        #expect(m.state.cr0 == 0x6000_0010)
        #expect(m.state.executionMode.kind == .real)
        #expect(m.state[.cs].base == 0xFFFF_0000)
        #expect(m.state.translationKey(rip: 0xFFF0).linearPC == 0xFFFF_FFF0)
        #expect(m.state.translationKey(rip: 0xFFF0).csBase == 0xFFFF_0000)
    }

    @Test func cr0Checks() throws {
        let m = try M()
        #expect(caught { try m.state.writeCR0(CR0.pg) } == .generalProtection(0))  // PG without PE
        #expect(caught { try m.state.writeCR0(CR0.pe | CR0.nw) } == .generalProtection(0))  // NW without CD
        #expect(caught { try m.state.writeCR0(1 << 32 | CR0.pe) } == .generalProtection(0))
        // Reserved bits of 31:0 are ignored; ET reads as 1.
        try m.state.writeCR0(CR0.pe | 1 << 20)
        #expect(m.state.cr0 == CR0.pe | CR0.et)
        // Enabling paging with LME needs PAE (SDM §9.8.5).
        try m.state.writeMSR(MSRIndex.efer, EFER.lme)
        #expect(caught { try m.state.writeCR0(CR0.pe | CR0.pg) } == .generalProtection(0))
        #expect(!m.state.isPaging)
    }

    // The trampoline of the 6.1 decompressor: long mode → compatibility mode → paging off →
    // protected mode → PAE, LME, paging on → IA-32e again.
    @Test func longModeActivationAndDeactivation() throws {
        let m = try M()
        m.state.enterProtectedMode()
        #expect(m.state.executionMode.kind == .protected32)
        try m.state.writeCR4(CR4.pae)
        try m.state.writeCR3(m.pml4)
        try m.state.writeMSR(MSRIndex.efer, EFER.lme)
        let on = try m.state.writeCR0(m.state.cr0 | CR0.pg)
        #expect(on.contains(.modeChanged) && on.contains(.tlbFlushed))
        #expect(m.state.isLongModeActive)
        #expect(m.state.executionMode.kind == .compatibility32)  // CS is still 32-bit
        // LME cannot change while paging is on; PAE cannot be cleared in IA-32e mode.
        #expect(caught { try m.state.writeMSR(MSRIndex.efer, 0) } == .generalProtection(0))
        #expect(caught { try m.state.writeCR4(0) } == .generalProtection(0))
        // Writing LMA is ignored.
        try m.state.writeMSR(MSRIndex.efer, EFER.lme | EFER.nxe)
        #expect(m.state.efer == EFER.lme | EFER.lma | EFER.nxe)
        // In 64-bit mode paging cannot be turned off.
        m.state.enterLongMode(cr3: m.pml4)
        #expect(caught { try m.state.writeCR0(m.state.cr0 & ~CR0.pg) } == .generalProtection(0))
        // From compatibility mode it can: LMA clears.
        var cs = m.state[.cs]
        cs.attributes = .make(type: 0xB, dpl: 0, defaultBig: true, pageGranular: true)
        m.state[.cs] = cs
        try m.state.writeCR0(m.state.cr0 & ~CR0.pg)
        #expect(!m.state.isLongModeActive)
        #expect(m.state.executionMode.kind == .protected32)
        // Enabling IA-32e with CS.L set is #GP.
        m.state[.cs] = SegmentCache(selector: 0x10, base: 0, limit: 0xFFFF_FFFF,
                                    attributes: .make(type: 0xB, dpl: 0, long: true, pageGranular: true))
        #expect(caught { try m.state.writeCR0(m.state.cr0 | CR0.pg) } == .generalProtection(0))
    }

    @Test func cr4AndCR3Checks() throws {
        let m = try M()
        for bit in [CR4.la57, CR4.smep, CR4.smap, CR4.osxsave, CR4.pcide, CR4.vme, CR4.fsgsbase, CR4.umip, CR4.mce] {
            #expect(caught { try m.state.writeCR4(bit) } == .generalProtection(0))
        }
        try m.state.writeCR4(CR4.pse | CR4.pae | CR4.pge | CR4.osfxsr | CR4.osxmmexcpt | CR4.tsd | CR4.pce)
        let maxPhysical = UInt64(m.state.features.physicalAddressBits)
        #expect(caught { try m.state.writeCR3(1 << maxPhysical) } == .generalProtection(0))
        #expect(caught { try m.state.writeCR3(1 << 63) } == .generalProtection(0))
        #expect(caught { try m.state.writeCR3((1 << maxPhysical) - 0x1000) } == nil)
    }

    @Test func privilegedOperationsNeedCPL0() throws {
        let m = try M()
        m.enterLongMode()
        m.dropToUser()
        #expect(caught { try m.state.writeCR0(m.state.cr0) } == .generalProtection(0))
        #expect(caught { try m.state.writeCR3(0) } == .generalProtection(0))
        #expect(caught { try m.state.readMSR(MSRIndex.efer) } == .generalProtection(0))
        #expect(caught { try m.state.writeCR8(0) } == .generalProtection(0))
        #expect(caught { try m.state.swapGS() } == .generalProtection(0))
    }

    @Test func modelSpecificRegisters() throws {
        let controller = FakeInterruptController()
        let m = try M(controller: controller)
        m.enterLongMode()
        // Unknown MSRs raise #GP, as on a CPU without them.
        for index: UInt32 in [0x3A, 0x48, 0xCE, 0x140, 0x179, 0xC001_0015, 0x4000_0000] {
            #expect(caught { try m.state.readMSR(index) } == .generalProtection(0))
            #expect(caught { try m.state.writeMSR(index, 0) } == .generalProtection(0))
        }
        // ARCH_CAPABILITIES is read-only and says "not affected".
        let caps = try m.state.readMSR(MSRIndex.archCapabilities)
        #expect(caps == ArchCapabilities.reported)
        #expect(caps & (1 << 1 | 1 << 7 | 1 << 17) == 0)  // no IBRS_ALL, TSX_CTRL, FB_CLEAR
        #expect(caught { try m.state.writeMSR(MSRIndex.archCapabilities, 0) } == .generalProtection(0))
        #expect(caught { try m.state.writeMSR(MSRIndex.mtrrCapabilities, 0) } == .generalProtection(0))
        // Canonical checks.
        for index in [MSRIndex.lstar, MSRIndex.cstar, MSRIndex.fsBase, MSRIndex.gsBase, MSRIndex.kernelGSBase] {
            #expect(caught { try m.state.writeMSR(index, 0x8000_0000_0000) } == .generalProtection(0))
        }
        #expect(try m.state.writeMSR(MSRIndex.gsBase, 0xFFFF_8880_0000_0000) == .segmentBasesChanged)
        try m.state.writeMSR(MSRIndex.kernelGSBase, 0x1000)
        try m.state.swapGS()
        #expect(m.state[.gs].base == 0x1000)
        #expect(try m.state.readMSR(MSRIndex.kernelGSBase) == 0xFFFF_8880_0000_0000)
        // PAT: each entry a valid type (SDM §11.12.2).
        #expect(caught { try m.state.writeMSR(MSRIndex.pat, 0x0007_0406_0007_0402) } == .generalProtection(0))
        #expect(caught { try m.state.writeMSR(MSRIndex.pat, 0x0007_0406_0007_0408) } == .generalProtection(0))
        try m.state.writeMSR(MSRIndex.pat, 0x0007_0105_0007_0406)
        #expect(try m.state.readMSR(MSRIndex.pat) == 0x0007_0105_0007_0406)
        // MTRRs.
        #expect(try m.state.readMSR(MSRIndex.mtrrCapabilities) & 0xFF == UInt64(SystemState.variableMTRRCount))
        #expect(caught { try m.state.writeMSR(MSRIndex.mtrrDefaultType, 0x802) } == .generalProtection(0))
        try m.state.writeMSR(MSRIndex.mtrrDefaultType, 0xC06)
        #expect(caught { try m.state.writeMSR(MSRIndex.mtrrPhysBase0 + 1, 1 << 40) } == .generalProtection(0))
        try m.state.writeMSR(MSRIndex.mtrrPhysBase0 + 1, 0xFF_C000_0800)
        // Reserved upper halves.
        #expect(caught { try m.state.writeMSR(MSRIndex.tscAux, 1 << 32) } == .generalProtection(0))
        #expect(caught { try m.state.writeMSR(MSRIndex.sfmask, 1 << 32) } == .generalProtection(0))
        #expect(caught { try m.state.writeMSR(MSRIndex.efer, 1 << 12) } == .generalProtection(0))  // SVME
        // The TSC follows the time base plus the offset a write sets.
        m.clock.step(by: 1_000)  // 1 µs at 2 GHz = 2000 ticks
        #expect(try m.state.readMSR(MSRIndex.timestampCounter) == 2_000)
        try m.state.writeMSR(MSRIndex.timestampCounter, 1_000_000)
        m.clock.step(by: 500)
        #expect(try m.state.readMSR(MSRIndex.timestampCounter) == 1_001_000)
        // The microcode revision protocol Linux uses (write 0, CPUID, read).
        try m.state.writeMSR(MSRIndex.microcodeRevision, 0)
        #expect(try m.state.readMSR(MSRIndex.microcodeRevision) >> 32 == SystemState.microcodeRevision)
        // Controller-owned MSRs and CR8.
        #expect(try m.state.readMSR(MSRIndex.apicBase) == 0xFEE0_0900)
        try m.state.writeMSR(MSRIndex.tscDeadline, 12345)
        #expect(controller.state.withLock { $0.deadline } == 12345)
        #expect(caught { try m.state.writeMSR(MSRIndex.apicBase, 0xFEE0_0001) } == .generalProtection(0))
        #expect(try m.state.writeCR8(9) == .checkInterrupts)
        #expect(controller.taskPriorityClass == 9)
        #expect(try m.state.readCR8() == 9)
        #expect(caught { try m.state.writeCR8(16) } == .generalProtection(0))
    }

    @Test func msrsOwnedByAMissingControllerAreGP() throws {
        let m = try M()
        m.enterLongMode()
        #expect(caught { try m.state.readMSR(MSRIndex.apicBase) } == .generalProtection(0))
        try m.state.writeCR8(5)
        #expect(try m.state.readCR8() == 5)
    }

    @Test func modeWordAndKey() throws {
        let m = try M()
        m.enterLongMode()
        let kernel = m.state.executionMode
        #expect(kernel.kind == .long64 && kernel.cpl == 0 && kernel.has(ExecutionMode.flatSegments))
        m.dropToUser()
        #expect(m.state.executionMode.cpl == 3)
        #expect(m.state.executionMode != kernel)
        #expect(m.state.translationKey(rip: 0xFFFF_8000_0000_0000).linearPC == 0xFFFF_8000_0000_0000)
        // CR0.TS and CR4.OSFXSR are part of the mode (they change how SSE translates).
        let n = try M()
        n.enterLongMode()
        let before = n.state.executionMode
        #expect(try n.state.writeCR0(n.state.cr0 | CR0.ts) == .modeChanged)
        #expect(n.state.executionMode.has(ExecutionMode.taskSwitched))
        #expect(try n.state.writeCR4(n.state.cr4 | CR4.osfxsr).contains(.modeChanged))
        #expect(n.state.executionMode != before)
        // Every kind round-trips through the packed word.
        for kind in ExecutionMode.Kind.allCases {
            for cpl: UInt8 in 0...3 {
                let mode = ExecutionMode(kind: kind, cpl: cpl, flags: ExecutionMode.stack32 | ExecutionMode.trapFlag)
                #expect(mode.kind == kind && mode.cpl == cpl && mode.has(ExecutionMode.trapFlag))
            }
        }
        #expect(ExecutionMode.kind(protectionEnabled: true, longModeActive: true, csLong: false, csDefaultBig: false)
                == .compatibility16)
    }

    @Test func segmentLimitChecksOutside64BitMode() throws {
        let up = SegmentCache(selector: 8, base: 0x1000, limit: 0xFFF, attributes: .make(type: 2, dpl: 0))
        #expect(try up.linearAddress(offset: 0xFFC, size: 4, write: true) == 0x1FFC)
        #expect(caught { try up.linearAddress(offset: 0xFFD, size: 4, write: false) } == .generalProtection(0))
        let down = SegmentCache(selector: 8, base: 0, limit: 0xFFF, attributes: .make(type: 6, dpl: 0))
        #expect(caught { try down.linearAddress(offset: 0xFFF, size: 1, write: false, isStack: true) } == .stackFault(0))
        #expect(try down.linearAddress(offset: 0x1000, size: 4, write: true) == 0x1000)
        #expect(caught { try down.linearAddress(offset: 0xFFFE, size: 4, write: true) } == .generalProtection(0))
        let code = SegmentCache(selector: 8, base: 0, limit: 0xFFFF, attributes: .make(type: 0xA, dpl: 0))
        #expect(caught { try code.linearAddress(offset: 0, size: 1, write: true) } == .generalProtection(0))
        #expect(caught { try SegmentCache.null().linearAddress(offset: 0, size: 1, write: false) } == .generalProtection(0))
    }
}
