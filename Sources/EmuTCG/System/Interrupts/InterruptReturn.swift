/// IRET (Intel SDM Vol. 2A "IRET/IRETD/IRETQ"): returns from a handler to the same or an
/// outer privilege level in IA-32e mode (64-bit and compatibility mode), protected mode and
/// real mode.
public enum InterruptReturn {
    /// Executes IRET with `operandSize` (2, 4 or 8 bytes per popped item; 8 is IRETQ).
    ///
    /// RFLAGS bits are restored as the CPL allows: IOPL only at CPL 0, IF only when CPL ≤ IOPL,
    /// VIF/VIP only at CPL 0; VM is never set (no virtual-8086 mode). In 64-bit mode SS:RSP are
    /// always popped; elsewhere only on a return to an outer level. After a return to an outer
    /// level, DS, ES, FS and GS that the new CPL may not use become null. NMI blocking ends.
    ///
    /// - Throws: #GP(0) when RFLAGS.NT is set (task return: not implemented, and #GP in IA-32e
    ///   mode anyway), when the popped RFLAGS would enter virtual-8086 mode, and for a return
    ///   RIP beyond the segment limit or not canonical; the code- and stack-segment checks of a
    ///   far return (#GP(selector), #NP(selector), #SS(selector), #GP(0) for a null CS or a
    ///   disallowed null SS); #SS(0)/#GP(0)/#PF from the pops. Nothing changes then.
    @discardableResult
    public static func execute(operandSize: Int, registers: inout InterruptFrameRegisters, state: SystemState,
                               memory: some LinearMemory) throws(X86Exception) -> SystemStateEffects {
        let before = state.executionMode
        var stack = StackCursor(state: state, rsp: registers.rsp)
        let poppedRIP = try stack.pop(operandSize, memory: memory)
        let selector = UInt16(truncatingIfNeeded: try stack.pop(operandSize, memory: memory))
        let poppedFlags = try stack.pop(operandSize, memory: memory)
        let cpl = state.cpl

        guard state.isProtected else {
            var cs = state[.cs]
            cs.selector = selector
            cs.base = UInt64(selector) << 4
            state[.cs] = cs
            let mask: UInt64 = operandSize == 2 ? 0xFFFF : 0x3F_7FD5 & ~SystemFlags.vm
            let flags = (registers.rflags & ~mask) | (poppedFlags & mask) | SystemFlags.fixed
            commitFlags(flags, registers: &registers, state: state)
            registers.rip = poppedRIP & 0xFFFF_FFFF
            registers.rsp = stack.rsp
            state.nmiBlocked = false
            return state.executionMode != before ? .modeChanged : []
        }
        if registers.rflags & SystemFlags.nt != 0 { throw .generalProtection(0) }
        if !state.isLongModeActive && cpl == 0 && operandSize >= 4 && poppedFlags & SystemFlags.vm != 0 {
            throw .generalProtection(0)
        }
        let fetched = try SegmentLoader.returnCodeSegment(selector: selector, state: state, memory: memory)
        let d = fetched.descriptor
        let rpl = UInt8(selector & 3)
        let rip = SegmentLoader.truncate(poppedRIP, operandSize: operandSize)
        try SegmentLoader.checkTargetOffset(rip, descriptor: d, state: state)

        let popsStack = state.is64BitMode || rpl > cpl
        var newSS: SegmentCache?
        var newRSP = stack.rsp
        if popsStack {
            let rsp = try stack.pop(operandSize, memory: memory)
            let ssSelector = UInt16(truncatingIfNeeded: try stack.pop(operandSize, memory: memory))
            newSS = try SegmentLoader.returnStackSegment(selector: ssSelector, rpl: rpl,
                                                         toLongCode: state.isLongModeActive && d.isLong,
                                                         state: state, memory: memory)
            newRSP = SegmentLoader.truncate(rsp, operandSize: operandSize)
        }
        try DescriptorTables.setAccessed(fetched, memory: memory)

        // RFLAGS: which bits the old CPL may change.
        var mask: UInt64 = 0x0000_4DD5 | SystemFlags.tf | SystemFlags.rf | SystemFlags.ac | SystemFlags.id  // CF..OF, DF, NT
        if operandSize == 2 { mask &= 0xFFFF }
        if cpl <= state.iopl { mask |= SystemFlags.if }
        if cpl == 0 {
            mask |= SystemFlags.iopl
            if operandSize >= 4 { mask |= SystemFlags.vif | SystemFlags.vip }
        }
        if operandSize == 2 { mask &= 0xFFFF }
        let flags = (registers.rflags & ~mask) | (poppedFlags & mask) | SystemFlags.fixed

        state[.cs] = SegmentCache(selector: selector, descriptor: d)
        if let newSS { state[.ss] = newSS }
        registers.rip = rip
        registers.rsp = newRSP
        commitFlags(flags, registers: &registers, state: state)
        state.nmiBlocked = false
        var effects: SystemStateEffects = []
        if rpl > cpl {
            SegmentLoader.nullifyInaccessibleDataSegments(state: state)
            effects.insert(.segmentBasesChanged)
        }
        if state.executionMode != before { effects.insert(.modeChanged) }
        return effects.union(.checkInterrupts)
    }

    static func commitFlags(_ flags: UInt64, registers: inout InterruptFrameRegisters, state: SystemState) {
        registers.rflags = flags
        state.systemFlags = flags & InterruptDelivery.systemFlagBits
    }
}
