import EmuCore
import Synchronization

/// Port 0x80, where firmware writes power-on self-test codes and where Linux's `outb_p` writes
/// for a short delay. Writes are accepted and the last value remembered; a read returns it (the
/// port is the DMA page register of channel 0 on a PC, which reads back).
///
/// Left out: a POST code display; the DMA controller it belongs to.
public final class POSTCodePort: PortIODevice {
    public let name: String
    private let value = Mutex<UInt8>(0)
    private let writes = Atomic<UInt64>(0)

    public let portRanges: [PortRange] = [.fixed(0x80)]

    /// Creates the port with a last value of 0.
    public init(name: String = "post") { self.name = name }

    /// The last byte written.
    public var lastValue: UInt8 { value.withLock { $0 } }

    /// How many bytes have been written since the device was created.
    public var writeCount: UInt64 { writes.load(ordering: .relaxed) }

    public func readPort(_ port: UInt16) -> UInt8 { value.withLock { $0 } }

    public func writePort(_ port: UInt16, value: UInt8) {
        self.value.withLock { $0 = value }
        writes.add(1, ordering: .relaxed)
    }

    /// The remembered value returns to 0.
    public func reset(_ kind: ResetKind) { value.withLock { $0 = 0 } }
}
