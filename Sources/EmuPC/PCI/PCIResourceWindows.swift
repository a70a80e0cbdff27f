import EmuCore

/// The address windows BARs are assigned from (the root bridge's `_CRS` in the DSDT).
public struct PCIResourceWindows: Sendable, Equatable {
    /// 32-bit memory BARs (and 64-bit ones when there is no 64-bit window).
    public var mmio32: Range<UInt64>
    /// 64-bit memory BARs; `nil` puts them in ``mmio32``.
    public var mmio64: Range<UInt64>?
    /// I/O BARs.
    public var io: Range<UInt64>

    /// Windows with the given ranges.
    public init(mmio32: Range<UInt64>, mmio64: Range<UInt64>?, io: Range<UInt64>) {
        self.mmio32 = mmio32
        self.mmio64 = mmio64
        self.io = io
    }

    /// The PC's windows (``PCMemoryMap``) for a machine with `memorySize` bytes of RAM.
    public static func pc(memorySize: UInt64) -> PCIResourceWindows {
        PCIResourceWindows(mmio32: PCMemoryMap.pciMMIO32Window,
                           mmio64: PCMemoryMap.pciMMIO64Window(memorySize: memorySize),
                           io: PCMemoryMap.pciIOWindow)
    }
}

/// One BAR the bridge assigned.
public struct PCIResourceAssignment: Sendable, Equatable {
    /// Device number on bus 0.
    public var device: Int
    /// Function number.
    public var function: Int
    /// BAR index.
    public var bar: Int
    /// What the BAR decodes.
    public var kind: PCIBar.Kind
    /// The base address programmed.
    public var address: UInt64
    /// Its size.
    public var size: UInt64
}
