import Testing
import EmuCore
@testable import EmuPC

@Suite("i8259A pair")
struct ProgrammableInterruptControllerTests {
    let int = LineProbe()
    let pic: ProgrammableInterruptController
    let bus: PortBus

    init() throws {
        pic = ProgrammableInterruptController(interruptOutput: int.line)
        bus = try PortBus([pic])
    }

    /// Linux's init_8259A: vectors 0x30/0x38, cascade on IR2, normal EOI, then masks.
    func initialise(autoEOI: Bool = false, masterMask: UInt8 = 0x00, slaveMask: UInt8 = 0x00) {
        bus.outb(0x21, 0xFF)
        bus.outb(0xA1, 0xFF)
        bus.outb(0x20, 0x11); bus.outb(0x21, 0x30); bus.outb(0x21, 0x04); bus.outb(0x21, autoEOI ? 0x03 : 0x01)
        bus.outb(0xA0, 0x11); bus.outb(0xA1, 0x38); bus.outb(0xA1, 0x02); bus.outb(0xA1, 0x01)
        bus.outb(0x21, masterMask)
        bus.outb(0xA1, slaveMask)
    }

    func isr(master: Bool = true) -> UInt8 {
        bus.outb(master ? 0x20 : 0xA0, 0x0B)
        defer { bus.outb(master ? 0x20 : 0xA0, 0x0A) }
        return bus.inb(master ? 0x20 : 0xA0)
    }

    func irr(master: Bool = true) -> UInt8 {
        bus.outb(master ? 0x20 : 0xA0, 0x0A)
        return bus.inb(master ? 0x20 : 0xA0)
    }

    @Test func maskRegistersReadBackAsLinuxProbesThem() {
        bus.outb(0x21, 0xFF)
        #expect(bus.inb(0x21) == 0xFF)
        bus.outb(0xA1, 0x5A)
        #expect(bus.inb(0xA1) == 0x5A)
        initialise(masterMask: 0xFB, slaveMask: 0xFF)
        #expect(bus.inb(0x21) == 0xFB && bus.inb(0xA1) == 0xFF, "ICW1 clears the mask; OCW1 sets it")
    }

    @Test func edgeInterruptIsDeliveredAcknowledgedAndEnded() {
        initialise()
        #expect(!int.level)
        pic.input(0).raise()
        #expect(int.level)
        #expect(irr() & 1 == 1)
        #expect(pic.acknowledge() == 0x30)
        #expect(!int.level, "in service, nothing else requested")
        #expect(isr() == 0x01)
        #expect(irr() & 1 == 0, "an edge request is consumed by INTA")
        bus.outb(0x20, 0x20)  // non-specific EOI
        #expect(isr() == 0)
        #expect(!int.level, "the line is still high but an edge input needs a new edge")
        pic.input(0).lower()
        pic.input(0).raise()
        #expect(int.level)
    }

    @Test func slaveInterruptCascadesThroughIR2AndNeedsBothEOIs() {
        initialise(masterMask: 0xFB, slaveMask: 0x00)
        pic.input(12).raise()
        #expect(int.level)
        #expect(irr() & 0x04 != 0, "the master sees the cascade request")
        #expect(pic.acknowledge() == 0x3C)
        #expect(isr() == 0x04 && isr(master: false) == 0x10)
        bus.outb(0xA0, 0x60 | 4)   // specific EOI for IRQ 12 on the slave
        bus.outb(0x20, 0x60 | 2)   // and for the cascade on the master
        #expect(isr() == 0 && isr(master: false) == 0)
        #expect(!int.level)
    }

    @Test func fixedPriorityNestsHigherAndHoldsLower() {
        initialise()
        pic.setIRQ(3, level: true)
        pic.setIRQ(1, level: true)
        #expect(pic.acknowledge() == 0x31, "IRQ 1 outranks IRQ 3")
        #expect(!int.level, "IRQ 3 waits while IRQ 1 is in service")
        pic.setIRQ(0, level: true)
        #expect(int.level, "IRQ 0 outranks the one in service")
        #expect(pic.acknowledge() == 0x30)
        bus.outb(0x20, 0x20)
        #expect(isr() == 0x02, "non-specific EOI ends the highest in service")
        bus.outb(0x20, 0x20)
        #expect(int.level)
        #expect(pic.acknowledge() == 0x33)
    }

    @Test func maskedRequestsWaitAndAreDeliveredWhenUnmasked() {
        initialise(masterMask: 0x10)
        pic.setIRQ(4, level: true)
        #expect(!int.level)
        #expect(irr() & 0x10 != 0, "masked requests still show in IRR")
        bus.outb(0x21, 0x00)
        #expect(int.level)
        #expect(pic.acknowledge() == 0x34)
    }

    @Test func levelTriggeredInputsFollowTheirLineAndReassertAfterEOI() {
        initialise()
        bus.outb(0x4D0, 0xFF)
        bus.outb(0x4D1, 0xFF)
        #expect(bus.inb(0x4D0) == 0xF8, "IRQ 0-2 are always edge")
        #expect(bus.inb(0x4D1) == 0xDE, "IRQ 8 and 13 are always edge")
        #expect(pic.edgeLevelControl == 0xDEF8)
        pic.setIRQ(10, level: true)
        #expect(pic.acknowledge() == 0x3A)
        bus.outb(0xA0, 0x20); bus.outb(0x20, 0x20)
        #expect(int.level, "still high after EOI: requested again")
        pic.setIRQ(10, level: false)
        #expect(!int.level, "a level request goes away with its line")
        #expect(irr(master: false) & 0x04 == 0)
        // An edge input on the same chip does not reassert while its line stays high.
        bus.outb(0x4D1, 0x00)
        pic.setIRQ(11, level: true)
        #expect(pic.acknowledge() == 0x3B)
        bus.outb(0xA0, 0x20); bus.outb(0x20, 0x20)
        #expect(!int.level)
    }

    @Test func acknowledgeWithNothingRequestedGivesSpuriousIRQ7WithoutInService() {
        initialise()
        bus.outb(0x4D0, 0x20)
        pic.setIRQ(5, level: true)
        #expect(int.level)
        pic.setIRQ(5, level: false)   // withdrawn before the CPU's INTA
        #expect(pic.acknowledge() == 0x37)
        #expect(isr() == 0, "Linux tells a spurious IRQ 7 by its missing ISR bit")
    }

    @Test func spuriousIRQ15WhenTheSlaveRequestIsGoneAtItsAcknowledge() {
        initialise(masterMask: 0xFB)
        // The slave's request is masked away between the master's and the slave's INTA cycles:
        // drive the state machine directly to reach that window.
        var pair = PICPairState()
        pair.chips[0].vectorBase = 0x30
        pair.chips[1].vectorBase = 0x38
        pair.chips[0].setPin(2, level: true)
        #expect(pair.acknowledge() == 0x3F)
        #expect(pair.chips[0].isr == 0x04, "the master holds the cascade in service, so Linux EOIs it")
        #expect(pair.chips[1].isr == 0)
    }

    @Test func pollModeReturnsAndAcceptsTheHighestRequest() {
        initialise()
        bus.outb(0x20, 0x0C)
        #expect(bus.inb(0x20) == 0, "nothing requested")
        pic.setIRQ(6, level: true)
        pic.setIRQ(3, level: true)
        bus.outb(0x20, 0x0C)
        #expect(bus.inb(0x20) == 0x83)
        #expect(isr() == 0x08, "the poll read is the acknowledge")
        #expect(irr() & 0x08 == 0)
    }

    @Test func rotationOnEOIMakesTheServicedInputLowest() {
        initialise()
        pic.setIRQ(0, level: true)
        #expect(pic.acknowledge() == 0x30)
        bus.outb(0x20, 0xA0)  // rotate on non-specific EOI
        pic.setIRQ(0, level: false)
        pic.setIRQ(0, level: true)
        pic.setIRQ(4, level: true)
        #expect(pic.acknowledge() == 0x34, "after rotation IRQ 0 has the lowest priority")
        bus.outb(0x20, 0xE4)  // rotate on specific EOI 4: IRQ 5 is now highest
        pic.setIRQ(7, level: true)
        #expect(pic.acknowledge() == 0x37, "IRQ 7 outranks IRQ 0 after rotation to 5")
        bus.outb(0x20, 0x67)
        bus.outb(0x20, 0xC7)  // set priority: IRQ 7 lowest, IRQ 0 highest
        pic.setIRQ(1, level: true)
        #expect(pic.acknowledge() == 0x30)
    }

    @Test func automaticEOILeavesNothingInService() {
        initialise(autoEOI: true)
        pic.setIRQ(2 + 1, level: true)
        #expect(pic.acknowledge() == 0x33)
        #expect(isr() == 0)
        pic.setIRQ(1, level: true)
        #expect(int.level, "no EOI needed before the next interrupt")
    }

    @Test func specialMaskModeLetsLowerPrioritiesThrough() {
        initialise()
        pic.setIRQ(3, level: true)
        #expect(pic.acknowledge() == 0x33)
        pic.setIRQ(5, level: true)
        #expect(!int.level)
        bus.outb(0x21, 0x08)  // mask the in-service IRQ 3
        bus.outb(0x20, 0x68)  // set special mask mode
        #expect(int.level, "IRQ 5 gets through while IRQ 3 is masked in service")
        #expect(pic.acknowledge() == 0x35)
        bus.outb(0x20, 0x48)  // reset special mask mode
        #expect(isr() == 0x28)
    }

    @Test func resetReturnsBothChipsToPowerOn() {
        initialise(masterMask: 0xAA)
        bus.outb(0x4D1, 0x04)
        pic.setIRQ(1, level: true)
        _ = pic.acknowledge()
        pic.reset(.cold)
        #expect(bus.inb(0x21) == 0)
        #expect(isr() == 0)
        #expect(bus.inb(0x4D1) == 0)
        #expect(pic.acknowledge() == 0x07, "vector base 0 until initialised again")
    }

    @Test func cascadeInputAndOutOfRangeIRQsAreIgnored() {
        initialise()
        pic.input(2).raise()
        pic.setIRQ(16, level: true)
        pic.setIRQ(-1, level: true)
        #expect(!int.level)
        #expect(pic.input(9) === pic.input(9), "one line per IRQ")
    }
}
