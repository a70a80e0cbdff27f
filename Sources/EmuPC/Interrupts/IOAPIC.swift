import EmuCore
import Synchronization

/// An IOAPIC (82093AA register model, version 0x20 with the EOI register): 24 input pins, each
/// routed by its redirection table entry to the local APICs as an ``APICMessage`` on an
/// ``APICBus``.
///
/// Registers: IOREGSEL at offset 0x00 selects, IOWIN at 0x10 reads and writes the selected
/// register (ID 0x00, version 0x01 = 0x00170020, arbitration 0x02, the table from 0x10, two
/// registers per pin), and the EOI register at 0x40 takes a vector. Pins are edge or level
/// triggered, active high or low. An edge delivers once if the entry is unmasked (edges on a
/// masked pin are lost, as on the 82093AA). A level-triggered pin delivers while asserted
/// when its remote IRR is clear, sets the remote IRR when a local APIC accepts it, and clears
/// it on the EOI of its vector (broadcast by the local APIC, or written to the EOI register);
/// a pin still asserted then delivers again. Unmasking an asserted level pin delivers it.
///
/// Messages are sent outside the IOAPIC's lock. An entry with a reserved delivery mode, an
/// illegal vector (the local APIC records it in its ESR) or a destination nobody matches sends
/// nothing harmful: it is counted (``droppedCount``, or the bus's undeliverable count).
public final class IOAPIC: MMIOHandler, Device, APICEOIListener {
    /// Pins.
    public static let pinCount = PCMemoryMap.ioAPICPinCount
    /// The version register: maximum redirection entry 23, version 0x20.
    public static let versionRegister: UInt32 = UInt32(pinCount - 1) << 16 | 0x20

    public let name: String
    /// Where the messages go.
    public let bus: APICBus
    private let initialID: UInt8
    private let state: Mutex<State>
    private let dropped = Atomic<UInt64>(0)

    private struct State {
        var select: UInt8 = 0
        var id: UInt8
        var entries = [IOAPICRedirectionEntry](repeating: .reset, count: IOAPIC.pinCount)
        /// Raw input levels (before polarity).
        var levels = [Bool](repeating: false, count: IOAPIC.pinCount)

        func asserted(_ pin: Int) -> Bool { levels[pin] != entries[pin].isActiveLow }

        /// The message pin `pin` sends now, if any: on a rising edge for edge entries, while
        /// asserted with the remote IRR clear for level entries (which then sets it).
        mutating func service(_ pin: Int, rising: Bool) -> (pin: Int, entry: IOAPICRedirectionEntry)? {
            let entry = entries[pin]
            guard !entry.isMasked else { return nil }
            if entry.isLevelTriggered {
                guard asserted(pin), !entry.remoteIRRSet else { return nil }
                entries[pin].remoteIRRSet = true
                return (pin, entries[pin])
            }
            return rising ? (pin, entry) : nil
        }
    }

    /// Registers are 32 bits; IOREGSEL also takes a byte.
    public var accessSizes: MMIOAccessSizes { Self.registerAccessSizes }
    private static let registerAccessSizes = MMIOAccessSizes(minSize: 1, maxSize: 4) ?? .dwords

    /// An IOAPIC with APIC ID `id` sending on `bus` (and listening there for EOIs).
    public init(name: String = "ioapic", id: UInt8 = PCMemoryMap.ioAPICID, bus: APICBus) {
        self.name = name
        self.bus = bus
        self.initialID = id & 0xF
        state = Mutex(State(id: id & 0xF))
        bus.addEOIListener(self)
    }

    // MARK: Pins

    /// Sets the raw level of `pin` (0–23); other pins are ignored.
    public func setInput(_ pin: Int, level: Bool) {
        guard (0..<Self.pinCount).contains(pin) else { return }
        let send = state.withLock { s -> (pin: Int, entry: IOAPICRedirectionEntry)? in
            let before = s.asserted(pin)
            s.levels[pin] = level
            return s.service(pin, rising: s.asserted(pin) && !before)
        }
        if let send { deliver([send]) }
    }

    /// A new IRQ line driving `pin` (keep one per pin; an out-of-range pin gives a line that
    /// goes nowhere).
    public func makeInputLine(_ pin: Int) -> IRQLine {
        IRQLine(name: "\(name).pin\(pin)") { [self] level in setInput(pin, level: level) }
    }

    /// The EOI of `vector`: clears the remote IRR of the level-triggered pins with that vector
    /// and delivers those still asserted again.
    public func endOfInterrupt(vector: UInt8) {
        let sends = state.withLock { s -> [(pin: Int, entry: IOAPICRedirectionEntry)] in
            var sends: [(pin: Int, entry: IOAPICRedirectionEntry)] = []
            for pin in 0..<Self.pinCount where s.entries[pin].remoteIRRSet && s.entries[pin].vector == vector {
                s.entries[pin].remoteIRRSet = false
                if let send = s.service(pin, rising: false) { sends.append(send) }
            }
            return sends
        }
        deliver(sends)
    }

    /// Messages not sent because their entry had a reserved delivery mode.
    public var droppedCount: UInt64 { dropped.load(ordering: .relaxed) }

    // MARK: MMIO

    public func read(offset: UInt64, size: Int) -> UInt64 {
        let mask: UInt64 = size >= 4 ? 0xFFFF_FFFF : (UInt64(1) << UInt64(size * 8)) - 1
        switch offset {
        case 0x00...0x03:
            return (UInt64(state.withLock { $0.select }) >> ((offset & 3) * 8)) & mask
        case 0x10...0x13:
            let value = state.withLock { s -> UInt32 in
                switch s.select {
                case 0x00, 0x02: return UInt32(s.id) << 24
                case 0x01: return Self.versionRegister
                case 0x10..<0x10 + UInt8(2 * Self.pinCount):
                    let raw = s.entries[Int(s.select - 0x10) / 2].raw
                    return UInt32(truncatingIfNeeded: s.select & 1 == 0 ? raw : raw >> 32)
                default: return 0
                }
            }
            return (UInt64(value) >> ((offset & 3) * 8)) & mask
        default:
            return 0
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let value32 = UInt32(truncatingIfNeeded: value)
        switch offset {
        case 0x00:
            state.withLock { $0.select = UInt8(truncatingIfNeeded: value) }
        case 0x10 where size == 4:
            let send = state.withLock { s -> (pin: Int, entry: IOAPICRedirectionEntry)? in
                switch s.select {
                case 0x00:
                    s.id = UInt8((value32 >> 24) & 0xF)
                case 0x10..<0x10 + UInt8(2 * Self.pinCount):
                    let pin = Int(s.select - 0x10) / 2
                    if s.select & 1 == 0 {
                        s.entries[pin].writeLow(value32)
                        // Unmasking (or re-programming) an asserted level pin delivers it.
                        return s.service(pin, rising: false)
                    }
                    s.entries[pin].writeHigh(value32)
                default:
                    break  // version and arbitration are read-only; the rest is reserved
                }
                return nil
            }
            if let send { deliver([send]) }
        case 0x40:
            endOfInterrupt(vector: UInt8(truncatingIfNeeded: value))
        default:
            break
        }
    }

    // MARK: Device

    /// Every entry masked, ID restored; input levels are wires and stay.
    public func reset(_ kind: ResetKind) {
        state.withLock { s in
            s.select = 0
            s.id = initialID
            s.entries = [IOAPICRedirectionEntry](repeating: .reset, count: Self.pinCount)
        }
    }

    // MARK: Delivery

    private func deliver(_ sends: [(pin: Int, entry: IOAPICRedirectionEntry)]) {
        for send in sends {
            guard let message = send.entry.message else {
                dropped.add(1, ordering: .relaxed)
                if send.entry.isLevelTriggered { clearRemoteIRR(send.pin, ifStill: send.entry) }
                continue
            }
            // A level interrupt nobody accepted leaves no remote IRR behind.
            if bus.deliver(message) == 0, send.entry.isLevelTriggered {
                clearRemoteIRR(send.pin, ifStill: send.entry)
            }
        }
    }

    private func clearRemoteIRR(_ pin: Int, ifStill entry: IOAPICRedirectionEntry) {
        state.withLock { s in
            if s.entries[pin] == entry { s.entries[pin].remoteIRRSet = false }
        }
    }
}
