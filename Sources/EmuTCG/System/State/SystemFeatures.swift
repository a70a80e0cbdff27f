/// The address widths and optional paging features of this CPU model: one value that the page
/// walker's reserved-bit checks, CR3's checks and CPUID leaf 0x80000008 all read, so what
/// CPUID reports is what the walker enforces.
public struct SystemFeatures: Hashable, Sendable {
    /// MAXPHYADDR: physical address bits. Bits at and above it in paging entries and CR3 are
    /// reserved.
    public let physicalAddressBits: Int
    /// Linear address bits (48: 4-level paging, no LA57).
    public let linearAddressBits: Int
    /// 1 GiB pages (CPUID PDPE1GB).
    public let gigabytePages: Bool

    /// The model this project emulates: 40 physical bits, 48 linear bits, 1 GiB pages.
    public init() {
        physicalAddressBits = 40
        linearAddressBits = 48
        gigabytePages = true
    }

    /// The bits of a physical address below MAXPHYADDR.
    public var physicalAddressMask: UInt64 { (UInt64(1) << UInt64(physicalAddressBits)) - 1 }
}
