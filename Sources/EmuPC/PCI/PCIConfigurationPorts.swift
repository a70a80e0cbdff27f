import EmuCore
import Synchronization

/// PCI configuration mechanism #1 on I/O ports 0xCF8–0xCFF (map it as an 8-byte region at
/// ``PCMemoryMap/pciConfigurationPorts``): the 32-bit address register at 0xCF8 (bit 31
/// enable, bus 23:16, device 15:11, function 10:8, register 7:2) and the data window at
/// 0xCFC–0xCFF, read and written in bytes, words or dwords at the byte the port selects.
///
/// Only dword accesses reach the address register; byte accesses at 0xCF9 go to the chipset's
/// reset control register (e.g. ``ResetControlRegister``) if one was given; other narrow
/// accesses to 0xCF8–0xCFB read all-ones and are ignored. With the enable bit clear the data
/// window reads all-ones.
public final class PCIConfigurationPorts: MMIOHandler {
    /// The bus the cycles go to.
    public let bus: PCIRootBus
    private let resetControl: (any MMIOHandler)?
    private let addressRegister = Mutex<UInt32>(0)

    /// Bytes, words and dwords, aligned.
    public var accessSizes: MMIOAccessSizes { Self.sizes }
    private static let sizes = MMIOAccessSizes(minSize: 1, maxSize: 4) ?? .dwords

    /// Ports onto `bus`; byte accesses at 0xCF9 go to `resetControl` at its offset 0
    /// (`nil`: they read all-ones and are ignored).
    public init(bus: PCIRootBus, resetControl: (any MMIOHandler)? = nil) {
        self.bus = bus
        self.resetControl = resetControl
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        let ones: UInt64 = size >= 4 ? 0xFFFF_FFFF : (UInt64(1) << UInt64(size * 8)) - 1
        switch (offset, size) {
        case (0, 4):
            return UInt64(addressRegister.withLock { $0 })
        case (1, 1) where resetControl != nil:
            return (resetControl?.read(offset: 0, size: 1) ?? 0xFF) & 0xFF
        case (4...7, _):
            let address = addressRegister.withLock { $0 }
            guard address & 0x8000_0000 != 0 else { return ones }
            let (b, d, f, register) = Self.decode(address)
            return UInt64(bus.read(bus: b, device: d, function: f, offset: register + Int(offset - 4), size: size))
        default:
            return ones
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let value32 = UInt32(truncatingIfNeeded: value)
        switch (offset, size) {
        case (0, 4):
            addressRegister.withLock { $0 = value32 & 0x80FF_FFFC }
        case (1, 1):
            resetControl?.write(offset: 0, size: 1, value: UInt64(value32 & 0xFF))
        case (4...7, _):
            let address = addressRegister.withLock { $0 }
            guard address & 0x8000_0000 != 0 else { return }
            let (b, d, f, register) = Self.decode(address)
            bus.write(bus: b, device: d, function: f, offset: register + Int(offset - 4), size: size, value: value32)
        default:
            break
        }
    }

    private static func decode(_ address: UInt32) -> (bus: Int, device: Int, function: Int, register: Int) {
        (Int((address >> 16) & 0xFF), Int((address >> 11) & 0x1F), Int((address >> 8) & 7), Int(address & 0xFC))
    }
}
