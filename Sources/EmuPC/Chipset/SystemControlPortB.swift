import EmuCore
import Synchronization

/// Port 0x61, the PC's system control port B (NMI status and control): the link between the
/// 8254's channel 2 and software.
///
/// Modelled: bit 0 drives channel 2's gate, bit 1 (speaker data enable) and bits 2–3 (parity
/// and I/O channel check enables) read back as written, bit 4 toggles every 15.085 µs of the
/// clock (the refresh-request toggle some delay loops poll), bit 5 is channel 2's OUT. Left out:
/// the speaker itself (no sound) and the NMI sources of bits 6–7 (always 0: no parity or
/// channel check errors happen).
public final class SystemControlPortB: PortIODevice {
    public let name: String
    /// The half-period of the refresh toggle (bit 4), in nanoseconds.
    public static let refreshToggleInterval: UInt64 = 15_085
    private let timer: IntervalTimer
    private let latch = Mutex<UInt8>(0)

    public let portRanges: [PortRange] = [.fixed(0x61)]

    /// Creates the port over `timer`'s channel 2; its refresh toggle follows `timer`'s clock.
    public init(name: String = "port61", timer: IntervalTimer) {
        self.name = name
        self.timer = timer
    }

    public func readPort(_ port: UInt16) -> UInt8 {
        let written = latch.withLock { $0 } & 0x0F
        let refresh: UInt8 = (timer.timeBase.clock.now / Self.refreshToggleInterval) & 1 == 1 ? 0x10 : 0
        let out2: UInt8 = timer.outputLevel(channel: 2) ? 0x20 : 0
        let gate: UInt8 = timer.gate(channel: 2) ? 1 : 0
        return (written & 0x0E) | gate | refresh | out2
    }

    public func writePort(_ port: UInt16, value: UInt8) {
        latch.withLock { $0 = value & 0x0F }
        timer.setGate(channel: 2, level: value & 1 != 0)
    }

    /// Clears the enables; channel 2's gate goes low.
    public func reset(_ kind: ResetKind) {
        latch.withLock { $0 = 0 }
        timer.setGate(channel: 2, level: false)
    }
}
