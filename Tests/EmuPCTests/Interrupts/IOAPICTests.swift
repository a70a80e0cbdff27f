import Testing
import EmuCore
@testable import EmuPC

/// An IOAPIC mapped next to the rig's local APIC.
struct IOAPICRig {
    let apic: APICRig
    let ioapic: IOAPIC

    init() throws {
        apic = try APICRig()
        ioapic = IOAPIC(bus: apic.bus)
        try apic.system.addSubregion(try .mmio(name: "ioapic", size: PCMemoryMap.ioAPICSize, handler: ioapic),
                                     at: PCMemoryMap.ioAPICBase)
        apic.enable(logicalID: 0x01)
    }

    func read(_ register: UInt8) -> UInt32 {
        apic.memory.write(at: PCMemoryMap.ioAPICBase, size: 4, value: UInt64(register))
        return UInt32(truncatingIfNeeded: apic.memory.read(at: PCMemoryMap.ioAPICBase + 0x10, size: 4))
    }

    func write(_ register: UInt8, _ value: UInt32) {
        apic.memory.write(at: PCMemoryMap.ioAPICBase, size: 4, value: UInt64(register))
        apic.memory.write(at: PCMemoryMap.ioAPICBase + 0x10, size: 4, value: UInt64(value))
    }

    /// Programs `pin`: `low` is the low dword, `destination` the high byte.
    func route(_ pin: Int, low: UInt32, destination: UInt8) {
        write(UInt8(0x11 + 2 * pin), UInt32(destination) << 24)
        write(UInt8(0x10 + 2 * pin), low)
    }
}

@Suite("IOAPIC")
struct IOAPICTests {
    static let logical: UInt32 = 1 << 11
    static let level: UInt32 = 1 << 15
    static let activeLow: UInt32 = 1 << 13
    static let masked: UInt32 = 1 << 16

    @Test func registersReadAsDocumented() throws {
        let rig = try IOAPICRig()
        #expect(rig.read(0x01) == 0x0017_0020, "24 entries, version 0x20")
        #expect(rig.read(0x00) == 0)
        rig.write(0x00, 0x0F00_0000 | 0xFF)
        #expect(rig.read(0x00) == 0x0F00_0000, "only the 4-bit ID is writable")
        #expect(rig.read(0x02) == 0x0F00_0000, "arbitration ID follows it")
        rig.write(0x01, 0)
        #expect(rig.read(0x01) == 0x0017_0020, "version is read-only")
        for pin in 0..<24 {
            #expect(rig.read(UInt8(0x10 + 2 * pin)) == Self.masked, "pin \(pin) masked after reset")
        }
        rig.write(0x10 + 2 * 5, 0xFFFF_FFFF)
        #expect(rig.read(0x10 + 2 * 5) == 0x0001_AFFF, "delivery status and remote IRR are read-only")
        rig.write(0x11 + 2 * 5, 0xFFFF_FFFF)
        #expect(rig.read(0x11 + 2 * 5) == 0xFF00_0000)
        #expect(rig.read(0x40) == 0, "registers past the table read 0")
        #expect(rig.apic.memory.read(at: PCMemoryMap.ioAPICBase, size: 1) == 0x40, "IOREGSEL reads back")
        rig.ioapic.reset(.cold)
        #expect(rig.read(0x10 + 2 * 5) == Self.masked && rig.read(0x00) == 0)
    }

    @Test func anEdgePinReachesTheLocalAPICAtLogicalFlatDestinationOne() throws {
        let rig = try IOAPICRig()
        rig.route(2, low: Self.logical | 0x30, destination: 0x01)
        let pit = rig.ioapic.makeInputLine(2)
        pit.pulse()
        #expect(rig.apic.requested(0x30))
        #expect(rig.apic.drain() == [0x30])
        pit.pulse()
        pit.pulse()
        #expect(rig.apic.drain() == [0x30], "two edges before the CPU looked: one IRR bit")
        rig.route(2, low: Self.logical | 0x30, destination: 0x02)
        pit.pulse()
        #expect(!rig.apic.requested(0x30), "logical 0x02 is not this APIC")
        #expect(rig.apic.bus.undeliverableCount == 1)
    }

    @Test func aLevelPinIsDeliveredAgainAfterEOIWhileAsserted() throws {
        let rig = try IOAPICRig()
        rig.route(9, low: Self.logical | Self.level | 0x41, destination: 0x01)
        rig.ioapic.setInput(9, level: true)
        #expect(rig.read(0x10 + 18) & (1 << 14) != 0, "remote IRR set when the APIC took it")
        #expect(rig.apic.lapic.acknowledgeInterrupt() == 0x41)
        #expect(rig.apic.bit(0x180, 0x41), "TMR says level")
        rig.ioapic.setInput(9, level: false)
        rig.ioapic.setInput(9, level: true)
        #expect(!rig.apic.requested(0x41), "no new delivery while the remote IRR is set")
        rig.apic.write(0xB0, 0)  // EOI: broadcast to the IOAPIC
        #expect(rig.apic.requested(0x41), "still asserted after EOI: delivered again")
        rig.ioapic.setInput(9, level: false)
        #expect(rig.apic.drain() == [0x41])
        #expect(rig.read(0x10 + 18) & (1 << 14) == 0, "remote IRR cleared by the EOI")
        #expect(!rig.apic.requested(0x41))
    }

    @Test func theEOIRegisterClearsTheRemoteIRR() throws {
        let rig = try IOAPICRig()
        rig.route(10, low: Self.logical | Self.level | 0x51, destination: 0x01)
        rig.ioapic.setInput(10, level: true)
        #expect(rig.read(0x10 + 20) & (1 << 14) != 0)
        rig.apic.memory.write(at: PCMemoryMap.ioAPICBase + 0x40, size: 4, value: 0x51)
        #expect(rig.read(0x10 + 20) & (1 << 14) != 0, "re-delivered at once: the pin is still asserted")
        rig.ioapic.setInput(10, level: false)
        rig.apic.memory.write(at: PCMemoryMap.ioAPICBase + 0x40, size: 4, value: 0x51)
        #expect(rig.read(0x10 + 20) & (1 << 14) == 0)
        rig.ioapic.setInput(10, level: true)
        rig.route(10, low: Self.logical | 0x51, destination: 0x01)
        #expect(rig.read(0x10 + 20) & (1 << 14) == 0, "switching to edge clears the remote IRR")
    }

    @Test func maskingLosesEdgesAndHoldsLevels() throws {
        let rig = try IOAPICRig()
        rig.route(4, low: Self.masked | Self.logical | 0x34, destination: 0x01)
        rig.ioapic.setInput(4, level: true)
        rig.ioapic.setInput(4, level: false)
        rig.route(4, low: Self.logical | 0x34, destination: 0x01)
        #expect(!rig.apic.requested(0x34), "an edge on a masked pin is lost")
        rig.route(11, low: Self.masked | Self.level | Self.logical | 0x3B, destination: 0x01)
        rig.ioapic.setInput(11, level: true)
        #expect(!rig.apic.requested(0x3B))
        rig.route(11, low: Self.level | Self.logical | 0x3B, destination: 0x01)
        #expect(rig.apic.requested(0x3B), "unmasking an asserted level pin delivers it")
    }

    @Test func activeLowPinsAssertWhenLow() throws {
        let rig = try IOAPICRig()
        rig.ioapic.setInput(12, level: true)
        rig.route(12, low: Self.activeLow | Self.level | Self.logical | 0x3C, destination: 0x01)
        #expect(!rig.apic.requested(0x3C), "high is idle for an active-low pin")
        rig.ioapic.setInput(12, level: false)
        #expect(rig.apic.requested(0x3C))
    }

    @Test func hostileEntriesDeliverNothingHarmful() throws {
        let rig = try IOAPICRig()
        rig.route(1, low: Self.logical | 0x05, destination: 0x01)
        rig.ioapic.setInput(1, level: true)
        #expect(rig.apic.lapic.pendingEvents.isEmpty, "vector 5 is illegal")
        rig.apic.write(0x280, 0)
        #expect(rig.apic.read(0x280) == 0x40, "the APIC recorded a receive illegal vector error")
        rig.route(3, low: Self.level | 0x43, destination: 0x07)  // physical APIC 7: nobody
        rig.ioapic.setInput(3, level: true)
        #expect(rig.read(0x10 + 6) & (1 << 14) == 0, "no remote IRR when nobody accepted")
        #expect(rig.apic.bus.undeliverableCount >= 1)
        rig.route(5, low: 0x300 | 0x45, destination: 0)  // reserved delivery mode 3
        rig.ioapic.setInput(5, level: true)
        rig.route(6, low: 0x600 | 0x46, destination: 0)  // startup: not from an IOAPIC
        rig.ioapic.setInput(6, level: true)
        #expect(rig.ioapic.droppedCount == 2)
        rig.ioapic.setInput(24, level: true)
        rig.ioapic.setInput(-1, level: true)
        rig.apic.memory.write(at: PCMemoryMap.ioAPICBase, size: 4, value: 0xFF)
        rig.apic.memory.write(at: PCMemoryMap.ioAPICBase + 0x10, size: 4, value: 0xFFFF_FFFF)
        #expect(rig.read(0xFF) == 0, "registers beyond the table are nothing")
        #expect(rig.apic.lapic.pendingEvents.isEmpty)
    }

    @Test func nmiAndExtINTEntries() throws {
        let rig = try IOAPICRig()
        rig.apic.lapic.connectExternalInterruptController { 0x20 }
        rig.route(0, low: 0x700, destination: 0)  // ExtINT to physical 0
        rig.ioapic.setInput(0, level: true)
        #expect(rig.apic.lapic.pendingEvents == .interrupt)
        #expect(rig.apic.lapic.acknowledgeInterrupt() == 0x20)
        #expect(rig.apic.lapic.pendingEvents.isEmpty)
        rig.route(13, low: 0x400, destination: 0)
        rig.ioapic.setInput(13, level: true)
        #expect(rig.apic.lapic.takeNMI())
    }
}
