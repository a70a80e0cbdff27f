import EmuCore

/// A run of consecutive x86 I/O ports a device decodes.
public struct PortRange: Sendable, Hashable {
    /// The first port.
    public let base: UInt16
    /// How many ports (at least 1; the range never runs past port 0xFFFF).
    public let count: UInt16

    /// A range of `count` ports from `base`; `nil` if it is empty or runs past 0xFFFF.
    public init?(base: UInt16, count: UInt16) {
        guard count > 0, UInt32(base) + UInt32(count) <= 0x1_0000 else { return nil }
        self.base = base
        self.count = count
    }

    /// Ranges of the PC's fixed legacy ports, known valid; only for literals in this library.
    static func fixed(_ base: UInt16, _ count: UInt16 = 1) -> PortRange {
        PortRange(uncheckedBase: base, count: count)
    }

    private init(uncheckedBase: UInt16, count: UInt16) {
        self.base = uncheckedBase
        self.count = count
    }

    /// Whether `port` lies in the range.
    public func contains(_ port: UInt16) -> Bool { port >= base && UInt32(port) < UInt32(base) + UInt32(count) }
}

/// A device whose registers are byte-wide x86 I/O ports (the PC's ISA-era chipset).
///
/// The device decodes ``portRanges``; ``mapPorts(into:)`` puts one byte-wide MMIO region per
/// range into the root container of an I/O ``AddressSpace`` (kind `.io`), so a guest's `IN`/`OUT`
/// reaches ``readPort(_:)`` and ``writePort(_:value:)`` with the absolute port number. Wider
/// accesses are split into bytes by the bus, as the ISA bus does.
public protocol PortIODevice: Device {
    /// The ports the device decodes.
    var portRanges: [PortRange] { get }
    /// Reads the byte at `port` (one of ``portRanges``); may have side effects.
    func readPort(_ port: UInt16) -> UInt8
    /// Writes a byte to `port` (one of ``portRanges``).
    func writePort(_ port: UInt16, value: UInt8)
}

extension PortIODevice {
    /// Maps every range of the device into `io`, the root container region of an I/O address
    /// space, at the port numbers themselves.
    /// - Throws: ``MemoryRegionError`` if a range does not fit in `io`.
    public func mapPorts(into io: MemoryRegion, priority: Int = 0) throws(MemoryRegionError) {
        for range in portRanges {
            let window = PortWindow(device: self, base: range.base)
            let hex = String(range.base, radix: 16)
            let region = try MemoryRegion.mmio(name: "\(name)@0x\(hex)", size: UInt64(range.count), handler: window)
            try io.addSubregion(region, at: UInt64(range.base), priority: priority)
        }
    }
}

/// The MMIO handler of one port range: byte accesses, forwarded with the absolute port number.
final class PortWindow: MMIOHandler {
    let device: any PortIODevice
    let base: UInt16

    init(device: any PortIODevice, base: UInt16) {
        self.device = device
        self.base = base
    }

    var accessSizes: MMIOAccessSizes { .bytes }

    func read(offset: UInt64, size: Int) -> UInt64 {
        UInt64(device.readPort(base &+ UInt16(truncatingIfNeeded: offset)))
    }

    func write(offset: UInt64, size: Int, value: UInt64) {
        device.writePort(base &+ UInt16(truncatingIfNeeded: offset), value: UInt8(truncatingIfNeeded: value))
    }
}
