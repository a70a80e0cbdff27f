/// The CPU state in which a 64-bit Linux kernel is entered (boot protocol, "64-bit boot
/// protocol"): long mode with paging, identity-mapped page tables, a flat GDT with a 64-bit
/// code segment at selector 0x10 and a data segment at 0x18, interrupts off, RSI holding the
/// zero page. The loader has written the page tables, the GDT and the zero page into guest RAM;
/// this value tells the CPU what to load. Every register not listed is zero.
public struct X86LongModeEntryState: Sendable, Equatable {
    /// Where execution starts.
    public var rip: UInt64
    /// The zero page (`struct boot_params`).
    public var rsi: UInt64
    /// A small stack in low RAM (the kernel sets up its own; its first instructions may push).
    public var rsp: UInt64
    /// RFLAGS: only the reserved bit 1; IF clear.
    public var rflags: UInt64 = 0x2
    /// CR0: PE, MP, ET, NE, WP, PG.
    public var cr0: UInt64 = 0x8001_0033
    /// CR3: the PML4 of the identity map.
    public var cr3: UInt64
    /// CR4: PAE only.
    public var cr4: UInt64 = 0x20
    /// EFER: LME and LMA.
    public var efer: UInt64 = 0x500
    /// GDTR base.
    public var gdtBase: UInt64
    /// GDTR limit.
    public var gdtLimit: UInt16
    /// IDTR: base 0, limit 0 (no IDT; interrupts are off and the kernel loads its own).
    public var idtBase: UInt64 = 0
    /// IDTR limit.
    public var idtLimit: UInt16 = 0
    /// CS: the 64-bit code segment.
    public var codeSelector: UInt16 = 0x10
    /// DS, ES, SS, FS, GS: the flat data segment.
    public var dataSelector: UInt16 = 0x18
    /// The GDT entry of ``codeSelector`` (base 0, limit 4 GiB, present, DPL 0, execute/read,
    /// L=1, D=0), for loading the hidden part of CS.
    public var codeDescriptor: UInt64 = X86LongModeEntryState.flatCode64
    /// The GDT entry of ``dataSelector`` (base 0, limit 4 GiB, present, DPL 0, read/write, D/B=1).
    public var dataDescriptor: UInt64 = X86LongModeEntryState.flatData

    /// Creates a state with the given addresses and the fixed control-register values above.
    public init(rip: UInt64, rsi: UInt64, rsp: UInt64, cr3: UInt64, gdtBase: UInt64, gdtLimit: UInt16) {
        self.rip = rip
        self.rsi = rsi
        self.rsp = rsp
        self.cr3 = cr3
        self.gdtBase = gdtBase
        self.gdtLimit = gdtLimit
    }

    /// 64-bit code: G=1, L=1, P=1, S=1, type 0xB (execute/read, accessed), limit 0xFFFFF.
    public static let flatCode64: UInt64 = 0x00AF_9B00_0000_FFFF
    /// Data: G=1, D/B=1, P=1, S=1, type 0x3 (read/write, accessed), limit 0xFFFFF.
    public static let flatData: UInt64 = 0x00CF_9300_0000_FFFF
}
