/// Delivering exceptions and interrupts (Intel SDM Vol. 3A chapter 6): through 64-bit IDT
/// gates in IA-32e mode (§6.14), through 32-bit interrupt and trap gates in protected mode
/// (§6.12), and through the interrupt vector table in real mode (§20.1.4).
///
/// A fault raised while delivering an event is handled as §6.15 says: the second exception is
/// delivered instead when the first was benign, two contributory exceptions or a page fault
/// followed by a contributory exception or page fault become #DF, and any such fault while
/// delivering #DF is a triple fault, returned as ``DeliveryOutcome/tripleFault``, never a host
/// trap. Exceptions raised during delivery of anything but INT n, INT3 and INTO carry the EXT
/// bit in their selector error code.
public enum InterruptDelivery {
    /// Delivers `event`: on success the registers and `state` (CS, SS, CPL, RFLAGS system bits,
    /// CR2 for #PF, NMI blocking) are those of the handler's first instruction.
    public static func deliver(_ event: InterruptEvent, registers: inout InterruptFrameRegisters,
                               state: SystemState, memory: some LinearMemory) -> DeliveryOutcome {
        var current = event
        // At most: benign → contributory → #DF → triple fault.
        for _ in 0..<4 {
            do {
                try deliverOnce(current, registers: &registers, state: state, memory: memory)
                return .delivered(vector: current.vector)
            } catch {
                let second = current.isSoftware ? error : error.markedExternal()
                // CR2 is loaded when a page fault is detected, even if #DF is what gets delivered.
                if second.vector == .pageFault { state.cr2 = second.faultAddress }
                let first = current.escalationClass
                let secondClass = second.vector.escalationClass
                switch (first, secondClass) {
                case (.doubleFault, .contributory), (.doubleFault, .pageFault), (.doubleFault, .doubleFault):
                    return .tripleFault
                case (.contributory, .contributory), (.pageFault, .contributory), (.pageFault, .pageFault):
                    current = .exception(.doubleFault)
                default:
                    current = .exception(second)
                }
            }
        }
        return .tripleFault
    }

    /// One delivery attempt; throws the fault that stopped it, having changed nothing but
    /// CR2 and possibly bytes of the new stack.
    static func deliverOnce(_ event: InterruptEvent, registers: inout InterruptFrameRegisters,
                            state: SystemState, memory: some LinearMemory) throws(X86Exception) {
        if event.vector == ExceptionVector.pageFault.rawValue && event.source == .exception {
            state.cr2 = event.faultAddress
        }
        if state.isLongModeActive {
            try deliverLong(event, registers: &registers, state: state, memory: memory)
        } else if state.isProtected {
            try deliverProtected(event, registers: &registers, state: state, memory: memory)
        } else {
            try deliverReal(event, registers: &registers, state: state, memory: memory)
        }
        if event.source == .nmi { state.nmiBlocked = true }
        state.interruptShadow = false
    }

    /// The handler's code segment named by a gate (SDM §6.12.1.1 and §6.14.1).
    static func gateTarget(selector: UInt16, ext: UInt32, requireLong: Bool, state: SystemState,
                           memory: some LinearMemory) throws(X86Exception) -> DescriptorTables.Fetched {
        guard selector & 0xFFFC != 0 else { throw .generalProtection(ext) }
        let code = X86Exception.selectorErrorCode(selector) | ext
        let fetched = try DescriptorTables.fetch(selector, state: state, memory: memory, errorCode: code)
        let d = fetched.descriptor
        guard d.isCode, d.dpl <= state.cpl else { throw .generalProtection(code) }
        if requireLong && (!d.isLong || d.isDefaultBig) { throw .generalProtection(code) }
        guard d.isPresent else { throw .segmentNotPresent(code) }
        return fetched
    }

    /// Reads a 64-bit stack pointer from the 64-bit TSS at `offset` (RSPn at 4 + 8n, ISTn at
    /// 0x24 + 8(n-1)).
    static func tssStackPointer(offset: UInt64, ext: UInt32, state: SystemState,
                                memory: some LinearMemory) throws(X86Exception) -> UInt64 {
        let tsFault = X86Exception.invalidTSS(X86Exception.selectorErrorCode(state.tr.selector) | ext)
        guard !state.tr.attributes.isUnusable, offset + 7 <= UInt64(state.tr.limit) else { throw tsFault }
        return try memory.read(state.tr.base &+ offset, size: 8, .systemRead)
    }

    static func deliverLong(_ event: InterruptEvent, registers: inout InterruptFrameRegisters,
                            state: SystemState, memory: some LinearMemory) throws(X86Exception) {
        let ext: UInt32 = event.isSoftware ? 0 : 1
        let idtCode = X86Exception.idtErrorCode(event.vector) | ext
        let entry = UInt64(event.vector) * 16
        guard entry + 15 <= UInt64(state.idtr.limit) else { throw .generalProtection(idtCode) }
        let low = try memory.read(state.idtr.base &+ entry, size: 8, .systemRead)
        let high = try memory.read(state.idtr.base &+ entry &+ 8, size: 8, .systemRead)
        let gate = SegmentDescriptor(low: low, high: high)
        let isInterruptGate = gate.type == SystemDescriptorType.interruptGate
        guard !gate.isCodeOrData, isInterruptGate || gate.type == SystemDescriptorType.trapGate else {
            throw .generalProtection(idtCode)
        }
        let cpl = state.cpl
        if event.isSoftware && gate.dpl < cpl { throw .generalProtection(idtCode) }
        guard gate.isPresent else { throw .segmentNotPresent(idtCode) }
        let target = try gateTarget(selector: gate.gateSelector, ext: ext, requireLong: true, state: state, memory: memory)
        let d = target.descriptor
        let newCPL = d.isConforming ? cpl : d.dpl
        let offset = gate.gateOffset
        guard SystemState.isCanonical(offset) else { throw .generalProtection(ext) }
        var rsp = registers.rsp
        if gate.interruptStackTable != 0 {
            rsp = try tssStackPointer(offset: 0x24 + 8 * UInt64(gate.interruptStackTable - 1), ext: ext,
                                      state: state, memory: memory)
        } else if newCPL < cpl {
            rsp = try tssStackPointer(offset: 4 + 8 * UInt64(newCPL), ext: ext, state: state, memory: memory)
        }
        rsp &= ~0xF
        var frame: [UInt64] = [UInt64(state[.ss].selector), registers.rsp, registers.rflags,
                               UInt64(state[.cs].selector), registers.rip]
        if let code = event.errorCode { frame.append(UInt64(code)) }
        let intent = AccessIntent(.write, implicitSupervisor: newCPL < 3, stack: true)
        var address = rsp
        for value in frame {
            address &-= 8
            try memory.write(address, size: 8, value: value, intent)
        }
        try DescriptorTables.setAccessed(target, memory: memory)
        // Commit.
        state[.cs] = SegmentCache(selector: (gate.gateSelector & 0xFFFC) | UInt16(newCPL), descriptor: d)
        if newCPL != cpl {
            state[.ss] = SegmentLoader.nullStack(selector: UInt16(newCPL), cpl: newCPL)
        }
        registers.rsp = address
        registers.rip = offset
        var flags = registers.rflags & ~(SystemFlags.tf | SystemFlags.nt | SystemFlags.rf | SystemFlags.vm)
        if isInterruptGate { flags &= ~SystemFlags.if }
        registers.rflags = flags
        state.systemFlags = flags & Self.systemFlagBits
    }

    /// The RFLAGS bits ``SystemState/systemFlags`` holds.
    static let systemFlagBits: UInt64 = SystemFlags.tf | SystemFlags.if | SystemFlags.iopl | SystemFlags.nt
        | SystemFlags.rf | SystemFlags.vm | SystemFlags.vif | SystemFlags.vip | SystemFlags.fixed

    /// Protected mode (not IA-32e): 8-byte 32-bit interrupt and trap gates (16-bit gates and
    /// task gates are #GP(IDT entry): this CPU implements no task switch).
    static func deliverProtected(_ event: InterruptEvent, registers: inout InterruptFrameRegisters,
                                 state: SystemState, memory: some LinearMemory) throws(X86Exception) {
        let ext: UInt32 = event.isSoftware ? 0 : 1
        let idtCode = X86Exception.idtErrorCode(event.vector) | ext
        let entry = UInt64(event.vector) * 8
        guard entry + 7 <= UInt64(state.idtr.limit) else { throw .generalProtection(idtCode) }
        let low = try memory.read((state.idtr.base &+ entry) & 0xFFFF_FFFF, size: 8, .systemRead)
        let gate = SegmentDescriptor(low: low)
        let isInterruptGate = gate.type == 0xE
        guard !gate.isCodeOrData, isInterruptGate || gate.type == 0xF else { throw .generalProtection(idtCode) }
        let cpl = state.cpl
        if event.isSoftware && gate.dpl < cpl { throw .generalProtection(idtCode) }
        guard gate.isPresent else { throw .segmentNotPresent(idtCode) }
        let target = try gateTarget(selector: gate.gateSelector, ext: ext, requireLong: false, state: state, memory: memory)
        let d = target.descriptor
        let newCPL = d.isConforming ? cpl : d.dpl
        let offset = (low & 0xFFFF) | ((low >> 32) & 0xFFFF_0000)
        guard offset <= UInt64(d.limit) else { throw .generalProtection(ext) }
        var frame: [UInt64] = []
        var newSS = state[.ss]
        var espBase: UInt64
        var esp: UInt64
        if newCPL < cpl {
            // 32-bit TSS: ESPn at 4 + 8n, SSn at 8 + 8n.
            let tsCode = X86Exception.selectorErrorCode(state.tr.selector) | ext
            let slot = 4 + 8 * UInt64(newCPL)
            guard slot + 5 <= UInt64(state.tr.limit) else { throw .invalidTSS(tsCode) }
            esp = try memory.read((state.tr.base &+ slot) & 0xFFFF_FFFF, size: 4, .systemRead)
            let ssSelector = UInt16(truncatingIfNeeded: try memory.read((state.tr.base &+ slot &+ 4) & 0xFFFF_FFFF,
                                                                       size: 2, .systemRead))
            let ssCode = X86Exception.selectorErrorCode(ssSelector) | ext
            guard ssSelector & 0xFFFC != 0 else { throw .invalidTSS(ssCode) }
            let ssFetched = try DescriptorTables.fetch(ssSelector, state: state, memory: memory, errorCode: ssCode)
            let sd = ssFetched.descriptor
            guard UInt8(ssSelector & 3) == newCPL, sd.dpl == newCPL, sd.isWritable else { throw .invalidTSS(ssCode) }
            guard sd.isPresent else { throw .stackFault(ssCode) }
            newSS = SegmentCache(selector: ssSelector, descriptor: sd)
            frame = [UInt64(state[.ss].selector), registers.rsp & 0xFFFF_FFFF]
        } else {
            esp = registers.rsp
        }
        frame += [registers.rflags & 0xFFFF_FFFF, UInt64(state[.cs].selector), registers.rip & 0xFFFF_FFFF]
        if let code = event.errorCode { frame.append(UInt64(code)) }
        let mask: UInt64 = newSS.attributes.isDefaultBig ? 0xFFFF_FFFF : 0xFFFF
        espBase = esp & mask
        let intent = AccessIntent(.write, implicitSupervisor: newCPL < 3, stack: true)
        for value in frame {
            espBase = (espBase &- 4) & mask
            let linear = try newSS.linearAddress(offset: UInt32(truncatingIfNeeded: espBase), size: 4, write: true, isStack: true)
            try memory.write(linear, size: 4, value: value, intent)
        }
        try DescriptorTables.setAccessed(target, memory: memory)
        state[.cs] = SegmentCache(selector: (gate.gateSelector & 0xFFFC) | UInt16(newCPL), descriptor: d)
        state[.ss] = newSS
        registers.rsp = (esp & ~mask) | espBase
        registers.rip = offset
        var flags = registers.rflags & ~(SystemFlags.tf | SystemFlags.nt | SystemFlags.rf | SystemFlags.vm)
        if isInterruptGate { flags &= ~SystemFlags.if }
        registers.rflags = flags
        state.systemFlags = flags & Self.systemFlagBits
    }

    /// Real mode: FLAGS, CS and IP pushed (16 bits each), CS:IP from the 4-byte IVT entry.
    static func deliverReal(_ event: InterruptEvent, registers: inout InterruptFrameRegisters,
                            state: SystemState, memory: some LinearMemory) throws(X86Exception) {
        let entry = UInt64(event.vector) * 4
        guard entry + 3 <= UInt64(state.idtr.limit) else { throw .generalProtection(0) }
        let vector = try memory.read((state.idtr.base &+ entry) & 0xFFFF_FFFF, size: 4, .systemRead)
        var sp = registers.rsp & 0xFFFF
        for value in [registers.rflags & 0xFFFF, UInt64(state[.cs].selector), registers.rip & 0xFFFF] {
            sp = (sp &- 2) & 0xFFFF
            try memory.write((state[.ss].base &+ sp) & 0xFFFF_FFFF, size: 2, value: value, .stackWrite)
        }
        var cs = state[.cs]
        cs.selector = UInt16(truncatingIfNeeded: vector >> 16)
        cs.base = UInt64(cs.selector) << 4
        state[.cs] = cs
        registers.rsp = (registers.rsp & ~0xFFFF) | sp
        registers.rip = vector & 0xFFFF
        let flags = registers.rflags & ~(SystemFlags.tf | SystemFlags.if | SystemFlags.ac | SystemFlags.rf)
        registers.rflags = flags
        state.systemFlags = flags & Self.systemFlagBits
    }
}
