import EmuCore

/// ECAM, the PCI Express enhanced configuration access window (map it at
/// ``PCMemoryMap/ecamBase``, ``PCMemoryMap/ecamSize`` bytes; MCFG describes it): 4 KiB of
/// configuration space per function at `bus << 20 | device << 15 | function << 12`, read and
/// written in aligned bytes, words or dwords (wider accesses are split).
public final class PCIExpressConfigurationWindow: MMIOHandler {
    /// The bus the cycles go to.
    public let bus: PCIRootBus
    /// The bus number at offset 0 of the window.
    public let firstBus: Int

    /// Bytes, words and dwords, aligned.
    public var accessSizes: MMIOAccessSizes { Self.sizes }
    private static let sizes = MMIOAccessSizes(minSize: 1, maxSize: 4) ?? .dwords

    /// A window whose offset 0 is bus `firstBus`.
    public init(bus: PCIRootBus, firstBus: Int = Int(PCMemoryMap.ecamBusRange.lowerBound)) {
        self.bus = bus
        self.firstBus = firstBus
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        let (b, d, f, register) = decode(offset)
        return UInt64(bus.read(bus: b, device: d, function: f, offset: register, size: size))
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let (b, d, f, register) = decode(offset)
        bus.write(bus: b, device: d, function: f, offset: register, size: size, value: UInt32(truncatingIfNeeded: value))
    }

    private func decode(_ offset: UInt64) -> (bus: Int, device: Int, function: Int, register: Int) {
        (firstBus + Int((offset >> 20) & 0xFF), Int((offset >> 15) & 0x1F), Int((offset >> 12) & 7), Int(offset & 0xFFF))
    }
}
