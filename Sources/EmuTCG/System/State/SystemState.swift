import EmuCore

/// The privileged state of one x86-64 CPU that user mode does not have: control registers,
/// EFER, the segment registers with their hidden descriptor caches, the descriptor-table
/// registers, the MSRs a kernel uses, and the RFLAGS bits system software owns.
///
/// The general registers, RIP, the arithmetic flags, DF, AC, ID, FS.base and GS.base as
/// translated code reads them, x87 and SSE state stay in `CPUState`; the integration composes
/// RFLAGS from both and copies FS/GS bases into `CPUState` when an operation reports
/// ``SystemStateEffects/segmentBasesChanged``.
///
/// Every operation that a guest instruction performs (MOV to CR, WRMSR, …) checks what the
/// architecture checks and throws the exception the CPU would raise, leaving the state
/// unchanged; it never traps the host. The state owns the CPU's ``SoftTLB`` so that an
/// operation that must flush it does so itself.
///
/// Not `Sendable`: one vCPU thread owns it.
public final class SystemState {
    /// CR0. ET always reads as 1.
    public private(set) var cr0: UInt64 = CR0.resetValue
    /// CR2: the linear address of the last page fault delivered.
    public var cr2: UInt64 = 0
    /// CR3: the physical address of the top-level paging structure (bits 39:12) with PWT/PCD.
    public private(set) var cr3: UInt64 = 0
    /// CR4.
    public private(set) var cr4: UInt64 = 0
    /// IA32_EFER.
    public private(set) var efer: UInt64 = 0
    /// ES, CS, SS, DS, FS, GS, indexed by ``SegmentRegister``.
    public var segments: [SegmentCache]
    /// GDTR.
    public var gdtr = DescriptorTableRegister(base: 0, limit: 0xFFFF)
    /// IDTR.
    public var idtr = DescriptorTableRegister(base: 0, limit: 0xFFFF)
    /// LDTR.
    public var ldtr = SegmentCache(selector: 0, base: 0, limit: 0xFFFF,
                                   attributes: .make(type: SystemDescriptorType.ldt, codeOrData: false, dpl: 0))
    /// TR.
    public var tr = SegmentCache(selector: 0, base: 0, limit: 0xFFFF,
                                 attributes: .make(type: SystemDescriptorType.busyTSS, codeOrData: false, dpl: 0))
    /// The RFLAGS bits system mode owns: TF, IF, IOPL, NT, RF, VM, VIF, VIP, plus the fixed bit 1.
    public var systemFlags: UInt64 = SystemFlags.fixed

    /// IA32_KERNEL_GS_BASE (what SWAPGS exchanges with GS.base).
    public var kernelGSBase: UInt64 = 0
    /// IA32_STAR: SYSRET selector base 63:48, SYSCALL selector 47:32, legacy SYSCALL EIP 31:0.
    public var star: UInt64 = 0
    /// IA32_LSTAR: the 64-bit SYSCALL target.
    public var lstar: UInt64 = 0
    /// IA32_CSTAR: the compatibility-mode SYSCALL target (kept; Intel CPUs never use it).
    public var cstar: UInt64 = 0
    /// IA32_FMASK: RFLAGS bits SYSCALL clears.
    public var sfmask: UInt64 = 0
    /// IA32_TSC_AUX (what RDTSCP returns in ECX).
    public var tscAux: UInt64 = 0
    /// IA32_PAT (reset value: WB, WT, UC-, UC repeated; SDM §11.12.4).
    public var pat: UInt64 = 0x0007_0406_0007_0406
    /// IA32_MISC_ENABLE: fast strings, BTS and PEBS unavailable.
    public var miscEnable: UInt64 = 1 << 0 | 1 << 11 | 1 << 12
    /// IA32_MTRR_DEF_TYPE: enabled, default type write-back (what firmware leaves; this
    /// machine has no firmware, so the CPU starts that way).
    public var mtrrDefaultType: UInt64 = 0x806
    /// IA32_MTRR_PHYSBASE0…7 / PHYSMASK0…7, interleaved (base, mask, base, mask, …).
    public var mtrrVariable = [UInt64](repeating: 0, count: 2 * SystemState.variableMTRRCount)
    /// IA32_SYSENTER_CS/ESP/EIP.
    public var sysenterCS: UInt64 = 0
    public var sysenterESP: UInt64 = 0
    public var sysenterEIP: UInt64 = 0
    /// Added to the time base's counter to give this CPU's TSC (per CPU, as on hardware).
    public var tscOffset: UInt64 = 0
    /// CR8 when no interrupt controller is attached.
    var localTaskPriority: UInt8 = 0

    /// NMIs are blocked from the delivery of an NMI until the next IRET.
    public var nmiBlocked = false
    /// An STI or MOV SS/POP SS shadow: interrupts are not taken before the next instruction
    /// completes. The executor clears it after that instruction.
    public var interruptShadow = false
    /// HLT executed; the CPU sleeps until an interrupt, NMI or INIT is pending.
    public var halted = false

    /// The CPU's interrupt controller (local APIC), if any: CR8, IA32_APIC_BASE and
    /// IA32_TSC_DEADLINE go there.
    public let interruptController: (any CPUInterruptController)?
    /// The time base of the TSC.
    public let timestampCounter: TimestampCounterBase
    /// The CPU's software TLB, flushed by the operations that must flush it.
    public let tlb: SoftTLB
    /// The address widths and features the page walker and CPUID share.
    public let features: SystemFeatures

    /// Number of variable-range MTRR pairs (IA32_MTRRCAP.VCNT).
    public static let variableMTRRCount = 8

    /// A CPU in the state this project's machines start it in: the architectural RESET state
    /// (SDM §9.1.1) for control registers, segments and MSRs, except where noted.
    public init(timestampCounter: TimestampCounterBase, interruptController: (any CPUInterruptController)?,
                features: SystemFeatures = SystemFeatures(), tlb: SoftTLB = SoftTLB()) {
        self.timestampCounter = timestampCounter
        self.interruptController = interruptController
        self.features = features
        self.tlb = tlb
        var cs = SegmentCache.resetData
        cs.attributes = .make(type: 0xB, dpl: 0)
        cs.selector = 0xF000
        cs.base = 0xFFFF_0000
        segments = [.resetData, cs, .resetData, .resetData, .resetData, .resetData]
    }

    /// A segment register.
    public subscript(_ register: SegmentRegister) -> SegmentCache {
        get { segments[register.rawValue] }
        set { segments[register.rawValue] = newValue }
    }

    // MARK: Derived state

    /// Protected mode is on (CR0.PE).
    public var isProtected: Bool { cr0 & CR0.pe != 0 }
    /// Paging is on (CR0.PG).
    public var isPaging: Bool { cr0 & CR0.pg != 0 }
    /// IA-32e mode is active (EFER.LMA).
    public var isLongModeActive: Bool { efer & EFER.lma != 0 }
    /// 64-bit mode: IA-32e mode with a 64-bit code segment.
    public var is64BitMode: Bool { isLongModeActive && self[.cs].attributes.isLong }
    /// The current privilege level: CS.RPL in protected mode, 0 in real mode.
    public var cpl: UInt8 { isProtected ? self[.cs].rpl : 0 }
    /// RFLAGS.IF.
    public var interruptsEnabled: Bool { systemFlags & SystemFlags.if != 0 }
    /// RFLAGS.IOPL.
    public var iopl: UInt8 { UInt8(truncatingIfNeeded: systemFlags >> 12) & 3 }

    /// The mode word translation depends on (see ``ExecutionMode``).
    public var executionMode: ExecutionMode {
        let cs = self[.cs]
        let kind = ExecutionMode.kind(protectionEnabled: isProtected, longModeActive: isLongModeActive,
                                      csLong: cs.attributes.isLong, csDefaultBig: cs.attributes.isDefaultBig)
        var flags: UInt32 = 0
        if self[.ss].attributes.isDefaultBig { flags |= ExecutionMode.stack32 }
        if kind == .long64 || (cs.base | self[.ds].base | self[.es].base | self[.ss].base) == 0 {
            flags |= ExecutionMode.flatSegments
        }
        if cr0 & CR0.ts != 0 { flags |= ExecutionMode.taskSwitched }
        if cr0 & CR0.em != 0 { flags |= ExecutionMode.emulateFPU }
        if cr0 & CR0.mp != 0 { flags |= ExecutionMode.monitorFPU }
        if cr4 & CR4.osfxsr != 0 { flags |= ExecutionMode.osfxsr }
        if systemFlags & SystemFlags.tf != 0 { flags |= ExecutionMode.trapFlag }
        return ExecutionMode(kind: kind, cpl: cpl, flags: flags)
    }

    /// The block-cache key for the instruction at `rip` in the current mode.
    public func translationKey(rip: UInt64) -> TranslationKey {
        let csBase = is64BitMode ? 0 : self[.cs].base & 0xFFFF_FFFF
        return TranslationKey(linearPC: is64BitMode ? rip : (csBase &+ rip) & 0xFFFF_FFFF,
                              csBase: UInt32(truncatingIfNeeded: csBase), mode: executionMode)
    }

    /// Whether `address` is canonical for 48-bit linear addresses (bits 63:47 all equal).
    @inline(__always)
    public static func isCanonical(_ address: UInt64) -> Bool {
        UInt64(bitPattern: Int64(bitPattern: address << 16) >> 16) == address
    }

    /// Throws #GP(0) unless CPL is 0 (privileged instructions: MOV CR, RDMSR, WRMSR, LGDT, …).
    public func requireCPL0() throws(X86Exception) {
        guard cpl == 0 else { throw .generalProtection(0) }
    }

    // MARK: Control registers

    /// MOV to CR0 (SDM Vol. 3A §2.5, Vol. 2B "MOV—Move to/from Control Registers").
    ///
    /// Bits 31:0 other than PE, MP, EM, TS, NE, WP, AM, NW, CD and PG are ignored and ET stays 1.
    /// - Throws: #GP(0) at CPL > 0, for bits 63:32 set, PG without PE, NW without CD, enabling
    ///   paging with EFER.LME but without CR4.PAE or while CS.L is set, and clearing PG in
    ///   64-bit mode. Nothing changes then.
    /// - Returns: what the caller must do: a change of PG, PE or WP flushed the TLB; EFER.LMA
    ///   follows PG when EFER.LME is set.
    @discardableResult
    public func writeCR0(_ value: UInt64) throws(X86Exception) -> SystemStateEffects {
        try requireCPL0()
        guard value >> 32 == 0 else { throw .generalProtection(0) }
        let new = (cr0 & ~CR0.writable) | (value & CR0.writable) | CR0.et
        if new & CR0.pg != 0 && new & CR0.pe == 0 { throw .generalProtection(0) }
        if new & CR0.nw != 0 && new & CR0.cd == 0 { throw .generalProtection(0) }
        let enablingPaging = new & CR0.pg != 0 && cr0 & CR0.pg == 0
        let disablingPaging = new & CR0.pg == 0 && cr0 & CR0.pg != 0
        var newEFER = efer
        if enablingPaging && efer & EFER.lme != 0 {
            if cr4 & CR4.pae == 0 || self[.cs].attributes.isLong { throw .generalProtection(0) }
            let trType = tr.attributes.type
            if trType == SystemDescriptorType.availableTSS16 || trType == SystemDescriptorType.busyTSS16 {
                throw .generalProtection(0)
            }
            newEFER |= EFER.lma
        }
        if disablingPaging {
            if is64BitMode { throw .generalProtection(0) }
            newEFER &= ~EFER.lma
        }
        let before = executionMode
        let changed = cr0 ^ new
        cr0 = new
        efer = newEFER
        var effects: SystemStateEffects = []
        if changed & (CR0.pg | CR0.pe | CR0.wp) != 0 {
            tlb.flushAll()
            effects.insert(.tlbFlushed)
        }
        if executionMode != before { effects.insert(.modeChanged) }
        return effects
    }

    /// MOV to CR3 (SDM §4.10.4.1): the new top-level table; flushes the TLB except global
    /// entries when CR4.PGE is set.
    /// - Throws: #GP(0) at CPL > 0 or when a bit at or above MAXPHYADDR is set (CR4.PCIDE is
    ///   not supported, so bit 63 is reserved too).
    @discardableResult
    public func writeCR3(_ value: UInt64) throws(X86Exception) -> SystemStateEffects {
        try requireCPL0()
        guard value & ~features.physicalAddressMask == 0 else { throw .generalProtection(0) }
        cr3 = value
        if cr4 & CR4.pge != 0 { tlb.flushNonGlobal() } else { tlb.flushAll() }
        return .tlbFlushed
    }

    /// MOV to CR4.
    /// - Throws: #GP(0) at CPL > 0, for a bit this CPU does not implement (``CR4/supported``),
    ///   and for clearing PAE in IA-32e mode.
    /// - Returns: a change of PSE, PAE or PGE flushed the whole TLB; OSFXSR changes the mode.
    @discardableResult
    public func writeCR4(_ value: UInt64) throws(X86Exception) -> SystemStateEffects {
        try requireCPL0()
        guard value & ~CR4.supported == 0 else { throw .generalProtection(0) }
        if isLongModeActive && value & CR4.pae == 0 { throw .generalProtection(0) }
        let before = executionMode
        let changed = cr4 ^ value
        cr4 = value
        var effects: SystemStateEffects = []
        if changed & CR4.pagingBits != 0 {
            tlb.flushAll()
            effects.insert(.tlbFlushed)
        }
        if executionMode != before { effects.insert(.modeChanged) }
        return effects
    }

    /// MOV from CR8: the interrupt controller's task-priority class.
    public func readCR8() throws(X86Exception) -> UInt64 {
        try requireCPL0()
        return UInt64(interruptController?.taskPriorityClass ?? localTaskPriority)
    }

    /// MOV to CR8.
    /// - Throws: #GP(0) at CPL > 0 or for bits 63:4 set.
    @discardableResult
    public func writeCR8(_ value: UInt64) throws(X86Exception) -> SystemStateEffects {
        try requireCPL0()
        guard value >> 4 == 0 else { throw .generalProtection(0) }
        if let controller = interruptController {
            controller.setTaskPriorityClass(UInt8(value))
        } else {
            localTaskPriority = UInt8(value)
        }
        return .checkInterrupts
    }

    /// Sets IA32_EFER (WRMSR 0xC0000080). LMA is not writable: it keeps its value.
    /// - Throws: #GP(0) for bits this CPU does not implement, or for a change of LME while
    ///   paging is on (SDM §9.8.5).
    @discardableResult
    func writeEFER(_ value: UInt64) throws(X86Exception) -> SystemStateEffects {
        guard value & ~EFER.writable == 0 else { throw .generalProtection(0) }
        if isPaging && (value ^ efer) & EFER.lme != 0 { throw .generalProtection(0) }
        let new = (value & ~EFER.lma) | (efer & EFER.lma)
        let changed = new ^ efer
        efer = new
        if changed & EFER.nxe != 0 {
            tlb.flushAll()
            return .tlbFlushed
        }
        return []
    }

    /// Puts the CPU straight into 64-bit mode at CPL 0 with paging through `cr3`, the state a
    /// loader leaves for the Linux/x86 64-bit boot entry: CR0 PE|PG|ET|NE|WP (cache on), CR4
    /// PAE (+ `extraCR4`), EFER LME|LMA (+ `extraEFER`), flat 64-bit CS and flat data segments.
    /// Flushes the TLB. For loaders and tests; not a guest operation.
    public func enterLongMode(cr3: UInt64, codeSelector: UInt16 = 0x10, dataSelector: UInt16 = 0x18,
                              extraCR4: UInt64 = 0, extraEFER: UInt64 = 0) {
        cr0 = CR0.pe | CR0.pg | CR0.et | CR0.ne | CR0.wp
        cr4 = (CR4.pae | extraCR4) & CR4.supported
        efer = (EFER.lme | EFER.lma | extraEFER) & EFER.writable
        self.cr3 = cr3 & features.physicalAddressMask
        self[.cs] = SegmentCache(selector: codeSelector, base: 0, limit: 0xFFFF_FFFF,
                                 attributes: .make(type: 0xB, dpl: 0, long: true, pageGranular: true))
        let data = SegmentCache(selector: dataSelector, base: 0, limit: 0xFFFF_FFFF,
                                attributes: .make(type: 3, dpl: 0, defaultBig: true, pageGranular: true))
        for register in [SegmentRegister.ds, .es, .ss, .fs, .gs] { self[register] = data }
        tr = SegmentCache(selector: 0, base: 0, limit: 0x67,
                          attributes: .make(type: SystemDescriptorType.busyTSS, codeOrData: false, dpl: 0))
        tlb.flushAll()
    }

    /// Puts the CPU into 32-bit protected mode with paging off, flat 4 GiB segments at CPL 0:
    /// the state of the PVH entry and of the kernel decompressor's trampoline. Flushes the TLB.
    /// For loaders and tests; not a guest operation.
    public func enterProtectedMode(codeSelector: UInt16 = 0x10, dataSelector: UInt16 = 0x18) {
        cr0 = CR0.pe | CR0.et | CR0.ne
        cr4 = 0
        efer = 0
        cr3 = 0
        self[.cs] = SegmentCache(selector: codeSelector, base: 0, limit: 0xFFFF_FFFF,
                                 attributes: .make(type: 0xB, dpl: 0, defaultBig: true, pageGranular: true))
        let data = SegmentCache(selector: dataSelector, base: 0, limit: 0xFFFF_FFFF,
                                attributes: .make(type: 3, dpl: 0, defaultBig: true, pageGranular: true))
        for register in [SegmentRegister.ds, .es, .ss, .fs, .gs] { self[register] = data }
        tlb.flushAll()
    }

    /// SWAPGS (SDM Vol. 2B): exchanges GS.base with IA32_KERNEL_GS_BASE.
    /// - Throws: #UD outside 64-bit mode, #GP(0) at CPL > 0.
    @discardableResult
    public func swapGS() throws(X86Exception) -> SystemStateEffects {
        guard is64BitMode else { throw .invalidOpcode }
        try requireCPL0()
        let gs = self[.gs].base
        segments[SegmentRegister.gs.rawValue].base = kernelGSBase
        kernelGSBase = gs
        return .segmentBasesChanged
    }
}
