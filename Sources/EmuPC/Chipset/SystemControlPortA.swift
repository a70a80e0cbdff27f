import EmuCore
import Synchronization

/// Port 0x92, the PS/2 system control port A ("fast A20 and reset").
///
/// Modelled: bit 1 (the A20 gate) reads back as written and is reported through
/// ``a20Enabled``; writing bit 0 as 1 when it was 0 requests a CPU reset through the closure
/// the machine supplies (the bit then reads 1 until it is written 0, as on the chipset). Other
/// bits read back as written. Left out: masking of address line 20 itself, which is the CPU's
/// and memory bus's business, and bit 3 (the CMOS password lock).
public final class SystemControlPortA: PortIODevice {
    public let name: String
    private let latch = Mutex<UInt8>(0x02)
    private let requestReset: @Sendable () -> Void

    public let portRanges: [PortRange] = [.fixed(0x92)]

    /// Creates the port with A20 enabled.
    /// - Parameter requestReset: called (outside any lock of this device) when the guest asks
    ///   for a reset; the machine resets its CPU.
    public init(name: String = "port92", requestReset: @escaping @Sendable () -> Void) {
        self.name = name
        self.requestReset = requestReset
    }

    /// Whether the guest has the A20 gate open (bit 1).
    public var a20Enabled: Bool { latch.withLock { $0 } & 0x02 != 0 }

    public func readPort(_ port: UInt16) -> UInt8 { latch.withLock { $0 } }

    public func writePort(_ port: UInt16, value: UInt8) {
        let resetEdge = latch.withLock { latch in
            defer { latch = value }
            return latch & 1 == 0 && value & 1 == 1
        }
        if resetEdge { requestReset() }
    }

    /// A20 enabled, reset bit clear.
    public func reset(_ kind: ResetKind) { latch.withLock { $0 = 0x02 } }
}
