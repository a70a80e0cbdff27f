import EmuCore
import EmuTCG
import Testing

/// Event delivery in IA-32e mode (Intel SDM Vol. 3A §6.12–§6.15), IRET and SYSCALL/SYSRET.
@Suite struct InterruptDeliveryTests {
    typealias M = SystemTestMachine
    static let kernelStack: UInt64 = 0x31_0000  // RSP0 (top), identity-mapped
    static let istStack: UInt64 = 0x32_0000  // IST1 (top)
    static let userStack: UInt64 = 0x33_0000
    static let handler: UInt64 = 0xFFFF_8000_0000_1000

    /// 64-bit mode with a Linux-like GDT, TSS (RSP0, IST1) and IDT; every stack page mapped.
    func machine() throws -> M {
        let m = try M()
        m.enterLongMode()
        m.installDescriptorTables()
        for top in [Self.kernelStack, Self.istStack] {
            m.map(top - 0x1000, to: top - 0x1000, flags: M.present | M.writable)
        }
        m.map(Self.userStack - 0x1000, to: Self.userStack - 0x1000, flags: M.present | M.writable | M.user)
        m.poke(M.tssBase + 4, Self.kernelStack)  // RSP0
        m.poke(M.tssBase + 0x24, Self.istStack)  // IST1
        return m
    }

    func frame(_ m: M, at rsp: UInt64, count: Int) -> [UInt64] {
        (0..<count).map { m.peek(rsp + UInt64($0) * 8) }
    }

    // SDM §6.14.2–§6.14.4: a fault at CPL 3 switches to RSP0, pushes SS, RSP, RFLAGS, CS, RIP and
    // the error code, loads a null SS with RPL 0, clears IF for an interrupt gate.
    @Test func pageFaultFromUserModeSwitchesToRSP0() throws {
        let m = try machine()
        m.setGate(14, M.gate(offset: Self.handler, selector: M.kernelCode))
        m.dropToUser()
        let flags: UInt64 = 0x202 | SystemFlags.tf
        var registers = InterruptFrameRegisters(rip: 0x40_1000, rsp: Self.userStack - 0x18, rflags: flags)
        let fault = X86Exception.pf(0xDEAD_0000, 6)
        let outcome = InterruptDelivery.deliver(.exception(fault), registers: &registers, state: m.state, memory: m.mmu)
        #expect(outcome == .delivered(vector: 14))
        #expect(m.state.cr2 == 0xDEAD_0000)
        #expect(registers.rip == Self.handler)
        #expect(registers.rsp == Self.kernelStack - 48)
        #expect(registers.rflags & (SystemFlags.if | SystemFlags.tf) == 0)
        #expect(m.state.cpl == 0)
        #expect(m.state[.cs].selector == M.kernelCode)
        #expect(m.state[.ss].selector == 0 && m.state[.ss].attributes.isUnusable)
        #expect(frame(m, at: registers.rsp, count: 6)
                == [6, 0x40_1000, UInt64(M.userCode), flags, Self.userStack - 0x18, UInt64(M.userData)])
    }

    // SDM §6.14.2: the new RSP is aligned to 16 bytes; a same-level event stays on its stack.
    @Test func sameLevelTrapGateKeepsIFAndAlignsTheStack() throws {
        let m = try machine()
        m.setGate(0x80, M.gate(offset: Self.handler, selector: M.kernelCode, type: 0xF, dpl: 3))
        var registers = InterruptFrameRegisters(rip: 0x5000, rsp: Self.kernelStack - 0x108, rflags: 0x202)
        let event = InterruptEvent(vector: 0x80, source: .softwareInterrupt)
        #expect(InterruptDelivery.deliver(event, registers: &registers, state: m.state, memory: m.mmu) == .delivered(vector: 0x80))
        #expect(registers.rsp == Self.kernelStack - 0x110 - 40)
        #expect(registers.rflags & SystemFlags.if != 0)
        #expect(frame(m, at: registers.rsp, count: 5)
                == [0x5000, UInt64(M.kernelCode), 0x202, Self.kernelStack - 0x108, UInt64(M.kernelData)])
    }

    // SDM §6.14.5: an IST index switches stacks even without a privilege change.
    @Test func interruptStackTable() throws {
        let m = try machine()
        m.setGate(2, M.gate(offset: Self.handler, selector: M.kernelCode, ist: 1))
        var registers = InterruptFrameRegisters(rip: 0x5000, rsp: Self.kernelStack - 0x200, rflags: 0x202)
        #expect(InterruptDelivery.deliver(InterruptEvent(vector: 2, source: .nmi), registers: &registers,
                                          state: m.state, memory: m.mmu) == .delivered(vector: 2))
        #expect(registers.rsp == Self.istStack - 40)
        #expect(m.state.nmiBlocked)
    }

    // SDM §6.12.1.1: INT n checks the gate's DPL against CPL: #GP(vector × 8 + 2) otherwise.
    @Test func softwareInterruptDPLCheck() throws {
        let m = try machine()
        m.setGate(0x30, M.gate(offset: Self.handler, selector: M.kernelCode, dpl: 0))
        m.setGate(13, M.gate(offset: Self.handler + 0x100, selector: M.kernelCode))
        m.dropToUser()
        var registers = InterruptFrameRegisters(rip: 0x40_0002, rsp: Self.userStack, rflags: 0x202)
        let outcome = InterruptDelivery.deliver(InterruptEvent(vector: 0x30, source: .softwareInterrupt),
                                                registers: &registers, state: m.state, memory: m.mmu)
        #expect(outcome == .delivered(vector: 13))
        #expect(registers.rip == Self.handler + 0x100)
        #expect(m.peek(registers.rsp) == 0x30 * 8 + 2)  // no EXT: a software interrupt
        // A hardware interrupt through the same gate is not checked.
        let n = try machine()
        n.setGate(0x30, M.gate(offset: Self.handler, selector: M.kernelCode, dpl: 0))
        n.dropToUser()
        var r2 = InterruptFrameRegisters(rip: 0x40_0002, rsp: Self.userStack, rflags: 0x202)
        #expect(InterruptDelivery.deliver(InterruptEvent(vector: 0x30, source: .hardwareInterrupt),
                                          registers: &r2, state: n.state, memory: n.mmu) == .delivered(vector: 0x30))
    }

    // SDM §6.13 and §6.15: a not-present gate is #NP(IDT, EXT); a #GP while delivering #GP is
    // #DF; #DF on IST1 pushes error code 0.
    @Test func nestedFaultsBecomeDoubleFault() throws {
        let m = try machine()
        m.setGate(8, M.gate(offset: Self.handler + 0x800, selector: M.kernelCode, ist: 1))
        m.setGate(13, M.gate(offset: Self.handler, selector: M.kernelCode, present: false))
        m.setGate(11, M.gate(offset: Self.handler + 0xB00, selector: M.kernelCode))
        var registers = InterruptFrameRegisters(rip: 0x5000, rsp: Self.kernelStack - 0x100, rflags: 0x202)
        // #GP → gate not present → #NP(13·8+2+EXT): contributory after contributory → #DF.
        let outcome = InterruptDelivery.deliver(.exception(.generalProtection(0)), registers: &registers,
                                                state: m.state, memory: m.mmu)
        #expect(outcome == .delivered(vector: 8))
        #expect(registers.rip == Self.handler + 0x800)
        #expect(registers.rsp == Self.istStack - 48)
        #expect(m.peek(registers.rsp) == 0)
        // A hardware interrupt (benign) through a not-present gate: the #NP is delivered.
        let n = try machine()
        n.setGate(0x40, M.gate(offset: Self.handler, selector: M.kernelCode, present: false))
        n.setGate(11, M.gate(offset: Self.handler + 0xB00, selector: M.kernelCode))
        var r2 = InterruptFrameRegisters(rip: 0x5000, rsp: Self.kernelStack - 0x100, rflags: 0x202)
        #expect(InterruptDelivery.deliver(InterruptEvent(vector: 0x40, source: .hardwareInterrupt),
                                          registers: &r2, state: n.state, memory: n.mmu) == .delivered(vector: 11))
        #expect(n.peek(r2.rsp) == 0x40 * 8 + 2 + 1)  // IDT bit and EXT
    }

    // SDM §6.15: a page fault while delivering a page fault is #DF.
    @Test func pageFaultOnTheHandlerStackIsDoubleFault() throws {
        let m = try machine()
        m.setGate(14, M.gate(offset: Self.handler, selector: M.kernelCode))
        m.setGate(8, M.gate(offset: Self.handler + 0x800, selector: M.kernelCode, ist: 1))
        var registers = InterruptFrameRegisters(rip: 0x5000, rsp: 0x6000_0000_0000, rflags: 0x202)  // unmapped
        let outcome = InterruptDelivery.deliver(.exception(.pf(0x6000_0000_0000, 2)), registers: &registers,
                                                state: m.state, memory: m.mmu)
        #expect(outcome == .delivered(vector: 8))
        #expect(m.state.cr2 == 0x6000_0000_0000 - 8)  // CR2 of the second page fault
    }

    // SDM §6.15 "Interrupt 8": a fault while delivering #DF shuts the CPU down: a triple fault.
    @Test func idtLimitZeroIsATripleFault() throws {
        let m = try machine()
        m.state.idtr = DescriptorTableRegister(base: M.idtBase, limit: 0)
        var registers = InterruptFrameRegisters(rip: 0x5000, rsp: Self.kernelStack, rflags: 0x202)
        for event in [InterruptEvent.exception(.pf(0, 0)), InterruptEvent(vector: 0x20, source: .hardwareInterrupt),
                      InterruptEvent.exception(.invalidOpcode), InterruptEvent(vector: 3, source: .softwareException)] {
            let before = registers
            #expect(InterruptDelivery.deliver(event, registers: &registers, state: m.state, memory: m.mmu) == .tripleFault)
            #expect(registers == before)
        }
    }

    @Test func hostileTablesEndInAnExceptionValue() throws {
        // TSS outside RAM and non-canonical: the stack switch faults; IDT in MMIO; IDT non-canonical.
        let m = try machine()
        m.setGate(14, M.gate(offset: Self.handler, selector: M.kernelCode))
        m.setGate(8, M.gate(offset: Self.handler + 0x800, selector: M.kernelCode))
        m.dropToUser()
        m.state.tr.base = 0x7FFF_0000_0000
        var registers = InterruptFrameRegisters(rip: 0x40_0000, rsp: Self.userStack, rflags: 0x202)
        #expect(InterruptDelivery.deliver(.exception(.pf(0, 4)), registers: &registers, state: m.state,
                                          memory: m.mmu) == .tripleFault)
        let n = try machine()
        n.state.idtr = DescriptorTableRegister(base: 0x8000_0000_0000, limit: 0xFFF)
        var r2 = InterruptFrameRegisters(rip: 0, rsp: Self.kernelStack, rflags: 2)
        #expect(InterruptDelivery.deliver(InterruptEvent(vector: 0x21, source: .hardwareInterrupt), registers: &r2,
                                          state: n.state, memory: n.mmu) == .tripleFault)
        let d = try machine()
        d.map(0x4000_0000, to: M.mmioBase, flags: M.present | M.writable)
        d.state.idtr = DescriptorTableRegister(base: 0x4000_0000, limit: 0xFFF)
        var r3 = InterruptFrameRegisters(rip: 0, rsp: Self.kernelStack, rflags: 2)
        // The device's 0xA5… bytes are no valid gate: #GP(IDT) → #GP again → #DF → triple fault.
        #expect(InterruptDelivery.deliver(InterruptEvent(vector: 0x21, source: .hardwareInterrupt), registers: &r3,
                                          state: d.state, memory: d.mmu) == .tripleFault)
        // A gate whose selector is null.
        let z = try machine()
        z.setGate(0x21, M.gate(offset: Self.handler, selector: 0))
        z.setGate(13, M.gate(offset: Self.handler + 0xD00, selector: M.kernelCode))
        var r4 = InterruptFrameRegisters(rip: 0, rsp: Self.kernelStack, rflags: 2)
        #expect(InterruptDelivery.deliver(InterruptEvent(vector: 0x21, source: .hardwareInterrupt), registers: &r4,
                                          state: z.state, memory: z.mmu) == .delivered(vector: 13))
        #expect(z.peek(r4.rsp) == 1)  // #GP(0 + EXT)
    }

    // IRETQ (SDM Vol. 2A): back to CPL 3 through the frame a delivery built, and to the same level.
    @Test func iretqRoundTrip() throws {
        let m = try machine()
        m.setGate(0x80, M.gate(offset: Self.handler, selector: M.kernelCode, dpl: 3))
        m.dropToUser()
        let userFlags: UInt64 = 0x246 | 3 << 12  // IOPL 3 asked for from CPL 3 below
        var registers = InterruptFrameRegisters(rip: 0x40_0002, rsp: Self.userStack - 8, rflags: 0x246)
        #expect(InterruptDelivery.deliver(InterruptEvent(vector: 0x80, source: .softwareInterrupt),
                                          registers: &registers, state: m.state, memory: m.mmu) == .delivered(vector: 0x80))
        #expect(m.state.cpl == 0)
        // The handler edits the saved RFLAGS to ask for IOPL 3: CPL 0 may set it.
        m.poke(registers.rsp + 16, userFlags)
        let effects = try InterruptReturn.execute(operandSize: 8, registers: &registers, state: m.state, memory: m.mmu)
        #expect(effects.contains(.modeChanged))
        #expect(m.state.cpl == 3)
        #expect(registers.rip == 0x40_0002)
        #expect(registers.rsp == Self.userStack - 8)
        #expect(registers.rflags == userFlags)
        #expect(m.state.iopl == 3)
        #expect(m.state[.ss].selector == M.userData)

        // At CPL 3, IRETQ cannot change IOPL; IF follows CPL ≤ IOPL.
        let stack = Self.userStack - 0x100
        for (i, v) in [0x40_1000, UInt64(M.userCode), 0x2, stack, UInt64(M.userData)].enumerated() {
            m.poke(stack + UInt64(i) * 8, v)
        }
        var r2 = InterruptFrameRegisters(rip: 0, rsp: stack, rflags: userFlags)
        try InterruptReturn.execute(operandSize: 8, registers: &r2, state: m.state, memory: m.mmu)
        #expect(r2.rflags == 0x2 | 3 << 12)  // IF cleared (IOPL 3 ≥ CPL), IOPL kept
        // Returning to CPL 0 from CPL 3 is #GP(selector).
        m.poke(stack + 8, UInt64(M.kernelCode))
        var r3 = InterruptFrameRegisters(rip: 0, rsp: stack, rflags: 0x2)
        #expect(caught { try InterruptReturn.execute(operandSize: 8, registers: &r3, state: m.state, memory: m.mmu) }
                == .generalProtection(UInt32(M.kernelCode)))
        // NT set in IA-32e mode is #GP(0).
        var r4 = InterruptFrameRegisters(rip: 0, rsp: stack, rflags: 0x2 | SystemFlags.nt)
        #expect(caught { try InterruptReturn.execute(operandSize: 8, registers: &r4, state: m.state, memory: m.mmu) }
                == .generalProtection(0))
    }

    // SYSCALL/SYSRET (SDM Vol. 2B), the way Linux programs STAR/LSTAR/FMASK.
    @Test func syscallAndSysret() throws {
        let m = try machine()
        try m.state.writeMSR(MSRIndex.star, UInt64(0x23 - 8) << 48 | UInt64(M.kernelCode) << 32)
        try m.state.writeMSR(MSRIndex.lstar, Self.handler)
        try m.state.writeMSR(MSRIndex.sfmask, 0x4_7700)  // TF, DF, IF, IOPL, NT, AC
        m.dropToUser()
        #expect(caught { try FastSystemCall.syscall(nextRIP: 0x40_0002, rflags: 0x246, state: m.state) } == .invalidOpcode)
        // Enable SCE (needs CPL 0 for WRMSR: do it from the kernel).
        m.state[.cs] = SegmentCache(selector: M.kernelCode, base: 0, limit: 0xFFFF_FFFF,
                                    attributes: .make(type: 0xB, dpl: 0, long: true, pageGranular: true))
        try m.state.writeMSR(MSRIndex.efer, m.state.efer | EFER.sce)
        m.dropToUser()
        let call = try FastSystemCall.syscall(nextRIP: 0x40_0002, rflags: 0x10346, state: m.state)
        #expect(call.rip == Self.handler)
        #expect(call.rcx == 0x40_0002)
        #expect(call.r11 == 0x346)  // RF cleared
        #expect(call.rflags == 0x2 | 0x40 | 0x4)  // IF, TF, RF masked away
        #expect(m.state.cpl == 0)
        #expect(m.state[.cs].selector == M.kernelCode && m.state[.ss].selector == M.kernelData)
        // SYSRET to 64-bit code: CS = STAR[63:48] + 16, SS = + 8, both RPL 3.
        #expect(caught { try FastSystemCall.sysret(to64Bit: true, rcx: 0x8000_0000_0000, r11: 0x202, state: m.state) }
                == .generalProtection(0))
        #expect(m.state.cpl == 0)
        let back = try FastSystemCall.sysret(to64Bit: true, rcx: 0x40_0002, r11: 0x346 | SystemFlags.vm, state: m.state)
        #expect(back.rip == 0x40_0002)
        #expect(back.rflags == 0x346)
        #expect(m.state.cpl == 3)
        #expect(m.state[.cs].selector == M.userCode && m.state[.ss].selector == M.userData)
        #expect(m.state.is64BitMode)
        #expect(caught { try FastSystemCall.sysret(to64Bit: true, rcx: 0, r11: 0, state: m.state) } == .generalProtection(0))
    }
}

/// The interrupt check (SDM Vol. 3A §6.8.3, §6.9): priorities, IF, shadows, NMI blocking, HLT.
@Suite struct InterruptPollTests {
    @Test func takesEventsInPriorityOrder() throws {
        let controller = FakeInterruptController()
        let m = try SystemTestMachine(controller: controller)
        m.enterLongMode()
        #expect(InterruptPoll.take(state: m.state) == .none)
        controller.state.withLock { $0.pending = [.interrupt]; $0.vector = 0x31 }
        // IF clear: the interrupt waits, and HLT does not wake.
        #expect(InterruptPoll.take(state: m.state) == .none)
        #expect(!InterruptPoll.wakesFromHalt(state: m.state))
        m.state.systemFlags |= SystemFlags.if
        m.state.interruptShadow = true
        #expect(InterruptPoll.take(state: m.state) == .none)
        #expect(InterruptPoll.wakesFromHalt(state: m.state))
        m.state.interruptShadow = false
        #expect(InterruptPoll.take(state: m.state) == .deliver(InterruptEvent(vector: 0x31, source: .hardwareInterrupt)))
        #expect(controller.pendingEvents.isEmpty)  // acknowledged
        // NMI before INTR, and not again until IRET unblocks it.
        controller.state.withLock { $0.pending = [.interrupt, .nmi] }
        #expect(InterruptPoll.take(state: m.state) == .deliver(InterruptEvent(vector: 2, source: .nmi)))
        m.state.nmiBlocked = true
        controller.state.withLock { $0.pending.insert(.nmi) }
        #expect(InterruptPoll.take(state: m.state) == .deliver(InterruptEvent(vector: 0x31, source: .hardwareInterrupt)))
        #expect(InterruptPoll.take(state: m.state) == .none)
        controller.state.withLock { $0.pending.insert(.initSignal) }
        #expect(InterruptPoll.take(state: m.state) == .initSignal)
    }
}

/// SYSENTER/SYSEXIT (SDM Vol. 2B), advertised as SEP.
@Suite struct SysenterTests {
    @Test func sysenterAndSysexitIn64BitMode() throws {
        let m = try SystemTestMachine()
        m.enterLongMode()
        #expect(caught { try FastSystemCall.sysenter(rflags: 0x202, state: m.state) } == .generalProtection(0))
        try m.state.writeMSR(MSRIndex.sysenterCS, 0x10)
        try m.state.writeMSR(MSRIndex.sysenterEIP, 0xFFFF_8000_0000_2000)
        try m.state.writeMSR(MSRIndex.sysenterESP, 0xFFFF_8000_0001_0000)
        m.dropToUser()
        let entry = try FastSystemCall.sysenter(rflags: 0x10202, state: m.state)
        #expect(entry.rip == 0xFFFF_8000_0000_2000 && entry.rsp == 0xFFFF_8000_0001_0000)
        #expect(entry.rflags == 0x2)
        #expect(m.state.cpl == 0 && m.state.is64BitMode && m.state[.ss].selector == 0x18)
        #expect(caught { try FastSystemCall.sysexit(to64Bit: true, rcx: 0, rdx: 0x8000_0000_0000, state: m.state) }
                == .generalProtection(0))
        let exit = try FastSystemCall.sysexit(to64Bit: true, rcx: 0x7000, rdx: 0x40_0000, state: m.state)
        #expect(exit.rip == 0x40_0000 && exit.rsp == 0x7000)
        #expect(m.state.cpl == 3 && m.state[.cs].selector == 0x33 && m.state[.ss].selector == 0x3B)
        #expect(caught { try FastSystemCall.sysexit(to64Bit: true, rcx: 0, rdx: 0, state: m.state) } == .generalProtection(0))
    }
}
