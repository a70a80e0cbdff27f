/// Segment register loads with the checks of protected and IA-32e mode (Intel SDM Vol. 3A
/// §5.5–§5.8 and the pseudocode of MOV, POP, JMP, CALL, RET, LTR and LLDT in Vol. 2).
///
/// Each function either loads the register (selector and hidden cache) and sets the
/// descriptor's accessed bit, or throws the exception the CPU raises and changes nothing. In
/// real mode a load sets selector and base = selector × 16 and checks nothing.
public enum SegmentLoader {
    /// MOV or POP to DS, ES, FS, GS or SS (MOV to CS is #UD, decoded as such).
    ///
    /// - Throws: for DS/ES/FS/GS: #GP(selector) for a descriptor beyond the table limit, a
    ///   system descriptor, an execute-only code segment, or (data or non-conforming code)
    ///   DPL < max(CPL, RPL); #NP(selector) when not present. For SS: #GP(0) for a null selector
    ///   except in 64-bit mode at CPL < 3 with RPL = CPL; #GP(selector) unless RPL = CPL, DPL =
    ///   CPL and a writable data segment; #SS(selector) when not present. #PF from the table.
    /// - Returns: ``SystemStateEffects/segmentBasesChanged`` for FS and GS,
    ///   ``SystemStateEffects/modeChanged`` when the mode word changed (SS.B, flat segments).
    @discardableResult
    public static func load(_ register: SegmentRegister, selector: UInt16, state: SystemState,
                            memory: some LinearMemory) throws(X86Exception) -> SystemStateEffects {
        guard register != .cs else { throw .invalidOpcode }
        let before = state.executionMode
        if !state.isProtected {
            var cache = state[register]
            cache.selector = selector
            cache.base = UInt64(selector) << 4
            state[register] = cache
        } else if register == .ss {
            try loadStack(selector: selector, state: state, memory: memory)
        } else {
            try loadData(register, selector: selector, state: state, memory: memory)
        }
        var effects: SystemStateEffects = []
        if register == .fs || register == .gs { effects.insert(.segmentBasesChanged) }
        if state.executionMode != before { effects.insert(.modeChanged) }
        return effects
    }

    static func loadData(_ register: SegmentRegister, selector: UInt16, state: SystemState,
                         memory: some LinearMemory) throws(X86Exception) {
        if selector & 0xFFFC == 0 {
            state[register] = .null(selector)
            return
        }
        let code = X86Exception.selectorErrorCode(selector)
        let fetched = try DescriptorTables.fetch(selector, state: state, memory: memory)
        let d = fetched.descriptor
        guard d.isReadable else { throw .generalProtection(code) }
        if d.isData || !d.isConforming {
            let rpl = UInt8(selector & 3)
            guard d.dpl >= state.cpl && d.dpl >= rpl else { throw .generalProtection(code) }
        }
        guard d.isPresent else { throw .segmentNotPresent(code) }
        try DescriptorTables.setAccessed(fetched, memory: memory)
        // In 64-bit mode too, FS and GS take the descriptor's 32-bit base (the MSRs set 64 bits).
        state[register] = SegmentCache(selector: selector, descriptor: d)
    }

    static func loadStack(selector: UInt16, state: SystemState, memory: some LinearMemory) throws(X86Exception) {
        let cpl = state.cpl
        let rpl = UInt8(selector & 3)
        if selector & 0xFFFC == 0 {
            guard state.is64BitMode && cpl < 3 && rpl == cpl else { throw .generalProtection(0) }
            state[.ss] = nullStack(selector: selector, cpl: cpl)
            return
        }
        let code = X86Exception.selectorErrorCode(selector)
        let fetched = try DescriptorTables.fetch(selector, state: state, memory: memory)
        let d = fetched.descriptor
        guard rpl == cpl, d.isWritable, d.dpl == cpl else { throw .generalProtection(code) }
        guard d.isPresent else { throw .stackFault(code) }
        try DescriptorTables.setAccessed(fetched, memory: memory)
        state[.ss] = SegmentCache(selector: selector, descriptor: d)
    }

    /// SS after a null load in 64-bit mode: unusable, but its DPL still tells the CPL (what
    /// SYSRET and IRET to a null SS leave).
    static func nullStack(selector: UInt16, cpl: UInt8) -> SegmentCache {
        SegmentCache(selector: selector, base: 0, limit: 0,
                     attributes: SegmentAttributes(rawValue: SegmentAttributes.unusable.rawValue | UInt32(cpl) << 5))
    }

    // MARK: Code segment

    /// Checks the target of a far JMP or CALL through a code-segment descriptor and returns
    /// the CS to load (RPL set to CPL). The caller pushes the return address (CALL), then
    /// assigns CS and RIP.
    ///
    /// - Throws: #GP(0) for a null selector; #GP(selector) beyond the table limit, for a
    ///   descriptor that is not a code segment (call gates, task gates and TSS descriptors
    ///   included: this CPU implements no far transfer through gates or task switches), for a
    ///   conforming segment with DPL > CPL, a non-conforming one with RPL > CPL or DPL ≠ CPL, and
    ///   in IA-32e mode a segment with both L and D set; #NP(selector) when not present;
    ///   #GP(0) when `offset` is beyond a 32-bit segment's limit or not canonical for a 64-bit one.
    public static func farTransferTarget(selector: UInt16, offset: UInt64, state: SystemState,
                                         memory: some LinearMemory) throws(X86Exception) -> SegmentCache {
        guard state.isProtected else {
            var cs = state[.cs]
            cs.selector = selector
            cs.base = UInt64(selector) << 4
            return cs
        }
        guard selector & 0xFFFC != 0 else { throw .generalProtection(0) }
        let code = X86Exception.selectorErrorCode(selector)
        let fetched = try DescriptorTables.fetch(selector, state: state, memory: memory)
        let d = fetched.descriptor
        let cpl = state.cpl
        guard d.isCode else { throw .generalProtection(code) }
        if d.isConforming {
            guard d.dpl <= cpl else { throw .generalProtection(code) }
        } else {
            guard UInt8(selector & 3) <= cpl, d.dpl == cpl else { throw .generalProtection(code) }
        }
        if state.isLongModeActive && d.isLong && d.isDefaultBig { throw .generalProtection(code) }
        guard d.isPresent else { throw .segmentNotPresent(code) }
        try checkTargetOffset(offset, descriptor: d, state: state)
        try DescriptorTables.setAccessed(fetched, memory: memory)
        return SegmentCache(selector: (selector & 0xFFFC) | UInt16(cpl), descriptor: d)
    }

    static func checkTargetOffset(_ offset: UInt64, descriptor d: SegmentDescriptor, state: SystemState) throws(X86Exception) {
        if state.isLongModeActive && d.isLong {
            guard SystemState.isCanonical(offset) else { throw .generalProtection(0) }
        } else {
            guard offset <= UInt64(d.limit) else { throw .generalProtection(0) }
        }
    }

    /// Checks the code segment a far RET or IRET returns to (SDM RET/IRET pseudocode).
    /// - Throws: #GP(0) for a null selector; #GP(selector) for RPL < CPL, a descriptor that is
    ///   not code, conforming with DPL > RPL, non-conforming with DPL ≠ RPL, L and D both set in
    ///   IA-32e mode; #NP(selector) when not present.
    static func returnCodeSegment(selector: UInt16, state: SystemState,
                                  memory: some LinearMemory) throws(X86Exception) -> DescriptorTables.Fetched {
        guard selector & 0xFFFC != 0 else { throw .generalProtection(0) }
        let code = X86Exception.selectorErrorCode(selector)
        let fetched = try DescriptorTables.fetch(selector, state: state, memory: memory)
        let d = fetched.descriptor
        let rpl = UInt8(selector & 3)
        guard rpl >= state.cpl, d.isCode else { throw .generalProtection(code) }
        if d.isConforming {
            guard d.dpl <= rpl else { throw .generalProtection(code) }
        } else {
            guard d.dpl == rpl else { throw .generalProtection(code) }
        }
        if state.isLongModeActive && d.isLong && d.isDefaultBig { throw .generalProtection(code) }
        guard d.isPresent else { throw .segmentNotPresent(code) }
        return fetched
    }

    /// Checks the stack segment a far RET or IRET to an outer level (or IRET in 64-bit mode)
    /// loads, for the new privilege level `rpl`. A null selector is allowed only when
    /// returning to 64-bit code at a privilege other than 3.
    /// - Throws: #GP(0) for a disallowed null; #GP(selector) unless RPL = `rpl`, a writable data
    ///   segment with DPL = `rpl`; #SS(selector) when not present.
    static func returnStackSegment(selector: UInt16, rpl: UInt8, toLongCode: Bool, state: SystemState,
                                   memory: some LinearMemory) throws(X86Exception) -> SegmentCache {
        if selector & 0xFFFC == 0 {
            guard state.isLongModeActive && toLongCode && rpl != 3 else { throw .generalProtection(0) }
            return nullStack(selector: selector, cpl: rpl)
        }
        let code = X86Exception.selectorErrorCode(selector)
        let fetched = try DescriptorTables.fetch(selector, state: state, memory: memory)
        let d = fetched.descriptor
        guard UInt8(selector & 3) == rpl, d.isWritable, d.dpl == rpl else { throw .generalProtection(code) }
        guard d.isPresent else { throw .stackFault(code) }
        try DescriptorTables.setAccessed(fetched, memory: memory)
        return SegmentCache(selector: selector, descriptor: d)
    }

    /// After a return to an outer privilege level: DS, ES, FS and GS holding a data or
    /// non-conforming code segment with DPL below the new CPL become null (SDM RET/IRET).
    static func nullifyInaccessibleDataSegments(state: SystemState) {
        let cpl = state.cpl
        for register in [SegmentRegister.es, .ds, .fs, .gs] {
            let a = state[register].attributes
            guard !a.isUnusable else { continue }
            if (!a.isCode || !a.isConforming) && a.dpl < cpl {
                // The base of FS/GS in 64-bit mode is architecturally unchanged here; the selector
                // and rights become null.
                var cache = SegmentCache.null(0)
                if state.is64BitMode && (register == .fs || register == .gs) { cache.base = state[register].base }
                state[register] = cache
            }
        }
    }

    /// Far RET (RETF/LRET with an optional immediate), SDM Vol. 2B "RET" for protected and
    /// IA-32e mode; real mode pops without checks.
    ///
    /// - Parameters:
    ///   - operandSize: 2, 4 or 8 bytes per popped item.
    ///   - immediate: bytes to release after the return address (and after the outer stack
    ///     pointer on an outer return).
    ///   - rsp: the stack pointer, updated on success.
    /// - Returns: the new RIP and the effects (mode change, FS/GS).
    /// - Throws: #SS(0)/#GP(0)/#PF from the pops; the code and stack segment checks of
    ///   ``returnCodeSegment`` and ``returnStackSegment``; #GP(0) for a return RIP beyond the
    ///   limit or not canonical. Nothing changes then.
    public static func farReturn(operandSize: Int, immediate: UInt16, rsp: inout UInt64, state: SystemState,
                                 memory: some LinearMemory) throws(X86Exception) -> (rip: UInt64, effects: SystemStateEffects) {
        let before = state.executionMode
        var stack = StackCursor(state: state, rsp: rsp)
        let newRIP = try stack.pop(operandSize, memory: memory)
        let selector = UInt16(truncatingIfNeeded: try stack.pop(operandSize, memory: memory))
        guard state.isProtected else {
            var cs = state[.cs]
            cs.selector = selector
            cs.base = UInt64(selector) << 4
            state[.cs] = cs
            stack.release(UInt64(immediate))
            rsp = stack.rsp
            return (newRIP & 0xFFFF_FFFF, state.executionMode != before ? .modeChanged : [])
        }
        let fetched = try returnCodeSegment(selector: selector, state: state, memory: memory)
        let d = fetched.descriptor
        let rpl = UInt8(selector & 3)
        let rip = Self.truncate(newRIP, operandSize: operandSize)
        try checkTargetOffset(rip, descriptor: d, state: state)
        var effects: SystemStateEffects = []
        if rpl == state.cpl {
            try DescriptorTables.setAccessed(fetched, memory: memory)
            stack.release(UInt64(immediate))
            state[.cs] = SegmentCache(selector: selector, descriptor: d)
            rsp = stack.rsp
        } else {
            stack.release(UInt64(immediate))
            let newRSP = try stack.pop(operandSize, memory: memory)
            let ssSelector = UInt16(truncatingIfNeeded: try stack.pop(operandSize, memory: memory))
            let ss = try returnStackSegment(selector: ssSelector, rpl: rpl, toLongCode: state.isLongModeActive && d.isLong,
                                            state: state, memory: memory)
            try DescriptorTables.setAccessed(fetched, memory: memory)
            state[.cs] = SegmentCache(selector: selector, descriptor: d)
            state[.ss] = ss
            rsp = Self.truncate(newRSP, operandSize: operandSize) &+ UInt64(immediate)
            nullifyInaccessibleDataSegments(state: state)
            effects.insert(.segmentBasesChanged)
        }
        if state.executionMode != before { effects.insert(.modeChanged) }
        return (rip, effects)
    }

    static func truncate(_ value: UInt64, operandSize: Int) -> UInt64 {
        operandSize >= 8 ? value : value & ((UInt64(1) << UInt64(operandSize * 8)) - 1)
    }

    // MARK: LTR, LLDT

    /// LTR (SDM Vol. 2A): loads TR from an available TSS descriptor in the GDT (16 bytes in
    /// IA-32e mode) and marks it busy.
    /// - Throws: #UD in real mode; #GP(0) at CPL > 0 or for a null selector; #GP(selector) for
    ///   a selector with TI set, beyond the GDT limit, a descriptor that is not an available TSS
    ///   (a 64-bit one in IA-32e mode, 32-bit otherwise), a non-canonical base or a non-zero type
    ///   in the upper half; #NP(selector) when not present; #PF.
    public static func loadTaskRegister(selector: UInt16, state: SystemState, memory: some LinearMemory) throws(X86Exception) {
        guard state.isProtected else { throw .invalidOpcode }
        try state.requireCPL0()
        guard selector & 0xFFFC != 0 else { throw .generalProtection(0) }
        let code = X86Exception.selectorErrorCode(selector)
        guard selector & 4 == 0 else { throw .generalProtection(code) }
        let wide = state.isLongModeActive
        let fetched = try DescriptorTables.fetch(selector, wide: wide, state: state, memory: memory)
        let d = fetched.descriptor
        let typeOK = !d.isCodeOrData && (d.type == SystemDescriptorType.availableTSS
                                         || (!wide && d.type == SystemDescriptorType.availableTSS16))
        guard typeOK else { throw .generalProtection(code) }
        if wide {
            guard d.highType == 0, SystemState.isCanonical(d.base64) else { throw .generalProtection(code) }
        }
        guard d.isPresent else { throw .segmentNotPresent(code) }
        try DescriptorTables.setBusy(fetched, memory: memory)
        var busy = d.attributes.rawValue | 2
        busy &= ~(1 << 16)
        state.tr = SegmentCache(selector: selector, base: wide ? d.base64 : UInt64(d.base32), limit: d.limit,
                                attributes: SegmentAttributes(rawValue: busy))
    }

    /// LLDT (SDM Vol. 2A): loads LDTR from an LDT descriptor in the GDT (16 bytes in IA-32e
    /// mode); a null selector leaves LDTR unusable.
    /// - Throws: #UD in real mode; #GP(0) at CPL > 0; #GP(selector) for TI set, beyond the GDT
    ///   limit, not an LDT descriptor, a non-canonical base or non-zero upper type;
    ///   #NP(selector) when not present; #PF.
    public static func loadLDT(selector: UInt16, state: SystemState, memory: some LinearMemory) throws(X86Exception) {
        guard state.isProtected else { throw .invalidOpcode }
        try state.requireCPL0()
        if selector & 0xFFFC == 0 {
            state.ldtr = .null(selector)
            return
        }
        let code = X86Exception.selectorErrorCode(selector)
        guard selector & 4 == 0 else { throw .generalProtection(code) }
        let wide = state.isLongModeActive
        let fetched = try DescriptorTables.fetch(selector, wide: wide, state: state, memory: memory)
        let d = fetched.descriptor
        guard !d.isCodeOrData, d.type == SystemDescriptorType.ldt else { throw .generalProtection(code) }
        if wide {
            guard d.highType == 0, SystemState.isCanonical(d.base64) else { throw .generalProtection(code) }
        }
        guard d.isPresent else { throw .segmentNotPresent(code) }
        state.ldtr = SegmentCache(selector: selector, base: wide ? d.base64 : UInt64(d.base32), limit: d.limit,
                                  attributes: d.attributes)
    }
}

/// Pops from and pushes to the current stack: RSP in 64-bit mode; SS.base + (E)SP with SS's
/// limit checks otherwise (SP wraps at 16 bits without SS.B).
struct StackCursor {
    let state: SystemState
    var rsp: UInt64

    init(state: SystemState, rsp: UInt64) {
        self.state = state
        self.rsp = rsp
    }

    var mask: UInt64 {
        if state.is64BitMode { return .max }
        return state[.ss].attributes.isDefaultBig ? 0xFFFF_FFFF : 0xFFFF
    }

    func linear(_ offset: UInt64, size: Int, write: Bool) throws(X86Exception) -> UInt64 {
        if state.is64BitMode { return offset }
        if !state.isProtected { return (state[.ss].base &+ (offset & mask)) & 0xFFFF_FFFF }
        return try state[.ss].linearAddress(offset: UInt32(truncatingIfNeeded: offset & mask), size: size,
                                            write: write, isStack: true)
    }

    mutating func pop(_ size: Int, memory: some LinearMemory) throws(X86Exception) -> UInt64 {
        let address = try linear(rsp, size: size, write: false)
        let value = try memory.read(address, size: size, .stackRead)
        rsp = (rsp & ~mask) | ((rsp &+ UInt64(size)) & mask)
        return value
    }

    mutating func release(_ bytes: UInt64) {
        rsp = (rsp & ~mask) | ((rsp &+ bytes) & mask)
    }
}
