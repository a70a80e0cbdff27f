import EmuCore
import Synchronization

/// The chipset's reset control register (the PIIX/ICH "RCR" at I/O port 0xCF9), named as the
/// FADT's reset register with value 0x06: one byte; bit 1 selects a hard (system) reset, bit 2
/// starts the reset when written as 1, bit 3 asks for a full reset (power cycle). Bits 1 and 3
/// read back; bit 2 reads 0.
///
/// Port 0xCF9 lies inside the PCI host's CONFIG_ADDRESS dword (0xCF8-0xCFB): only dword
/// accesses at 0xCF8 reach CONFIG_ADDRESS, so whoever decodes 0xCF8 passes byte accesses at
/// 0xCF9 to this register.
public final class ResetControlRegister: Device, MMIOHandler {
    public let name: String
    /// Byte accesses only.
    public var accessSizes: MMIOAccessSizes { .bytes }
    private let onReset: @Sendable (_ hard: Bool) -> Void
    private let value = Mutex<UInt8>(0)

    /// Creates the register; `onReset` is called (on the writing thread) when the guest starts
    /// a reset, with whether it asked for a hard or full one.
    public init(name: String = "reset-control", onReset: @escaping @Sendable (_ hard: Bool) -> Void) {
        self.name = name
        self.onReset = onReset
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        offset == 0 ? UInt64(value.withLock { $0 }) : 0
    }

    public func write(offset: UInt64, size: Int, value written: UInt64) {
        guard offset == 0 else { return }
        let byte = UInt8(truncatingIfNeeded: written)
        value.withLock { $0 = byte & 0x0A }
        if byte & 0x04 != 0 { onReset(byte & 0x0A != 0) }
    }

    public func reset(_ kind: ResetKind) { value.withLock { $0 = 0 } }
}
