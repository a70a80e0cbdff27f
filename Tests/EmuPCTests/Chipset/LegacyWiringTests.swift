import Testing
import EmuCore
@testable import EmuPC

/// The devices wired as a PC wires them: ISA IRQs fanned out to the PIC and to an IOAPIC
/// stand-in, the PIT on IRQ 0 (GSI 2 on the IOAPIC), the UART on IRQ 4, the RTC on IRQ 8.
@Suite("Legacy chipset wired together")
struct LegacyWiringTests {
    @Test func timerSerialAndClockInterruptsReachThePICAndTheIOAPICPins() throws {
        let clock = VirtualClock(start: 0)
        let loop = EventLoop()
        let int = LineProbe()
        let pic = ProgrammableInterruptController(interruptOutput: int.line)
        let ioapicPins = (0..<24).map { _ in LineProbe() }
        func isaIRQ(_ irq: Int) -> IRQLine {
            IRQLine.fanOut([pic.input(irq), ioapicPins[irq == 0 ? 2 : irq].line], name: "isa\(irq)")
        }
        let pit = IntervalTimer(clock: clock, loop: loop, output: isaIRQ(0))
        let uart = SerialPort(clock: clock, loop: loop, irq: isaIRQ(4), host: nil)
        let rtc = RealTimeClock(clock: clock, loop: loop, irq: isaIRQ(8), startTime: 0)
        let bus = try PortBus([pic, pit, uart, rtc])

        bus.outb(0x20, 0x11); bus.outb(0x21, 0x30); bus.outb(0x21, 0x04); bus.outb(0x21, 0x01)
        bus.outb(0xA0, 0x11); bus.outb(0xA1, 0x38); bus.outb(0xA1, 0x02); bus.outb(0xA1, 0x01)
        bus.outb(0x21, 0xEA)  // IRQ 0, 2 and 4 unmasked
        bus.outb(0xA1, 0xFE)  // IRQ 8 unmasked

        bus.outb(0x43, 0x34); bus.outb(0x40, 0xA9); bus.outb(0x40, 0x04)  // 1193 ticks: 1 ms
        clock.advance(to: 1_100_000)
        loop.iterate(); loop.iterate()
        #expect(int.level)
        #expect(pic.acknowledge() == 0x30)
        #expect(ioapicPins[2].risingEdges >= 1, "the PIT reaches IOAPIC pin 2")
        #expect(ioapicPins[0].history.isEmpty)
        bus.outb(0x20, 0x20)

        bus.outb(0x3FC, 0x08); bus.outb(0x3F9, 0x02)  // OUT2, THR-empty interrupt
        #expect(pic.acknowledge() == 0x34)
        #expect(ioapicPins[4].level)
        bus.outb(0x20, 0x20)
        _ = bus.inb(0x3FA)

        bus.outb(0x70, 0x0B); bus.outb(0x71, 0x12)  // update-ended interrupt
        clock.advance(to: 1_000_000_000)
        for _ in 0..<3 { loop.iterate() }
        #expect(ioapicPins[8].level)
        var vectors: [UInt8] = []
        while int.level && vectors.count < 4 {
            vectors.append(pic.acknowledge())
            bus.outb(0x20, 0x20)
        }
        #expect(vectors.contains(0x38), "IRQ 8 arrives through the cascade: \(vectors)")
        bus.outb(0x70, 0x0C)
        #expect(bus.inb(0x71) & 0x90 == 0x90)
        #expect(!ioapicPins[8].level)
    }
}
