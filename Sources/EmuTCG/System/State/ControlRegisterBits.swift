/// CR0 bits (Intel SDM Vol. 3A §2.5).
public enum CR0 {
    /// Protection enable.
    public static let pe: UInt64 = 1 << 0
    /// Monitor coprocessor (WAIT/FWAIT and TS give #NM).
    public static let mp: UInt64 = 1 << 1
    /// x87 emulation (x87/MMX/SSE give #NM or #UD).
    public static let em: UInt64 = 1 << 2
    /// Task switched (the next x87/MMX/SSE instruction gives #NM).
    public static let ts: UInt64 = 1 << 3
    /// Extension type; reads as 1 on every CPU since the i486.
    public static let et: UInt64 = 1 << 4
    /// Numeric error: x87 errors as #MF.
    public static let ne: UInt64 = 1 << 5
    /// Write protect: supervisor writes honour read-only pages.
    public static let wp: UInt64 = 1 << 16
    /// Alignment mask (with RFLAGS.AC at CPL 3: #AC).
    public static let am: UInt64 = 1 << 18
    /// Not write-through.
    public static let nw: UInt64 = 1 << 29
    /// Cache disable.
    public static let cd: UInt64 = 1 << 30
    /// Paging.
    public static let pg: UInt64 = 1 << 31
    /// The bits a MOV to CR0 can change; writes to other bits of 31:0 are ignored.
    public static let writable: UInt64 = pe | mp | em | ts | ne | wp | am | nw | cd | pg
    /// The value after RESET (SDM §9.1.1, Table 9-1): CD, NW and ET set.
    public static let resetValue: UInt64 = cd | nw | et
}

/// CR4 bits (Intel SDM Vol. 3A §2.5).
public enum CR4 {
    public static let vme: UInt64 = 1 << 0
    public static let pvi: UInt64 = 1 << 1
    /// Time stamp disable: RDTSC/RDTSCP at CPL > 0 give #GP.
    public static let tsd: UInt64 = 1 << 2
    public static let de: UInt64 = 1 << 3
    /// Page size extensions (4 MiB pages in 32-bit paging).
    public static let pse: UInt64 = 1 << 4
    /// Physical address extension (required for long mode).
    public static let pae: UInt64 = 1 << 5
    public static let mce: UInt64 = 1 << 6
    /// Page global enable.
    public static let pge: UInt64 = 1 << 7
    /// RDPMC allowed at any CPL.
    public static let pce: UInt64 = 1 << 8
    /// FXSAVE/FXRSTOR and SSE enabled by the OS.
    public static let osfxsr: UInt64 = 1 << 9
    /// Unmasked SSE floating-point exceptions as #XM (else #UD).
    public static let osxmmexcpt: UInt64 = 1 << 10
    public static let umip: UInt64 = 1 << 11
    public static let la57: UInt64 = 1 << 12
    public static let fsgsbase: UInt64 = 1 << 16
    public static let pcide: UInt64 = 1 << 17
    public static let osxsave: UInt64 = 1 << 18
    public static let smep: UInt64 = 1 << 20
    public static let smap: UInt64 = 1 << 21
    /// The bits this CPU implements (those whose features CPUID advertises, and TSD and PCE,
    /// which every CPU with a TSC and RDPMC has); a MOV to CR4 setting any other bit is #GP.
    public static let supported: UInt64 = tsd | pse | pae | pge | pce | osfxsr | osxmmexcpt
    /// Changing any of these invalidates every TLB entry, global ones included (SDM §4.10.4.1).
    public static let pagingBits: UInt64 = pse | pae | pge | pcide | smep | smap | la57
}

/// IA32_EFER bits (Intel SDM Vol. 3A §2.2.1, Table 2-1 and Vol. 4).
public enum EFER {
    /// SYSCALL/SYSRET enable.
    public static let sce: UInt64 = 1 << 0
    /// IA-32e mode enable.
    public static let lme: UInt64 = 1 << 8
    /// IA-32e mode active (set by the CPU when paging is enabled with LME; writes ignored).
    public static let lma: UInt64 = 1 << 10
    /// Execute-disable bit enable.
    public static let nxe: UInt64 = 1 << 11
    /// The bits WRMSR may set; any other bit is #GP.
    public static let writable: UInt64 = sce | lme | lma | nxe
}

/// RFLAGS bits that system mode owns (the arithmetic flags, DF, AC and ID are in `CPUState`).
public enum SystemFlags {
    public static let tf: UInt64 = 1 << 8
    public static let `if`: UInt64 = 1 << 9
    public static let iopl: UInt64 = 3 << 12
    public static let nt: UInt64 = 1 << 14
    public static let rf: UInt64 = 1 << 16
    public static let vm: UInt64 = 1 << 17
    public static let ac: UInt64 = 1 << 18
    public static let vif: UInt64 = 1 << 19
    public static let vip: UInt64 = 1 << 20
    public static let id: UInt64 = 1 << 21
    /// Bit 1, always set.
    public static let fixed: UInt64 = 1 << 1
    /// Every RFLAGS bit that exists (the others read as 0 and are ignored on writes).
    public static let defined: UInt64 = 0x3F_7FD5
}

/// What a change to system state requires of the caller (the translator's helper or the
/// executor). Several can apply at once.
public struct SystemStateEffects: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    /// Effects from their raw bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Every TLB entry (global ones too) was flushed by the operation itself (through the
    /// state's ``SystemState/tlb``); translated code keyed by linear address may no longer
    /// match its physical page and must be looked up again.
    public static let tlbFlushed = SystemStateEffects(rawValue: 1 << 0)
    /// The execution mode word changed: the next block must be looked up under the new key.
    public static let modeChanged = SystemStateEffects(rawValue: 1 << 1)
    /// FS.base or GS.base changed: the integration copies them into `CPUState`'s slots, which
    /// translated code reads.
    public static let segmentBasesChanged = SystemStateEffects(rawValue: 1 << 2)
    /// The task priority changed, so an interrupt may have become deliverable: check for
    /// interrupts before the next block.
    public static let checkInterrupts = SystemStateEffects(rawValue: 1 << 3)
}
