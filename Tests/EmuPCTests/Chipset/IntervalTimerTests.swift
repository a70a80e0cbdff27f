import Testing
import EmuCore
@testable import EmuPC

@Suite("i8254 PIT and port 0x61")
struct IntervalTimerTests {
    let clock = VirtualClock()
    let loop = EventLoop()
    let irq0 = LineProbe()
    let pit: IntervalTimer
    let port61: SystemControlPortB
    let bus: PortBus

    init() throws {
        pit = IntervalTimer(clock: clock, loop: loop, output: irq0.line)
        port61 = SystemControlPortB(timer: pit)
        bus = try PortBus([pit, port61])
    }

    /// Nanoseconds until the counters have counted `ticks` from time 0.
    func time(ofTicks ticks: UInt64) -> UInt64 { pit.timeBase.nanoseconds(atTicks: ticks) }

    /// Advances the clock to `target` in `step` increments, letting the loop run timers.
    func run(until target: UInt64, step: UInt64 = 50_000) {
        while clock.now < target {
            clock.advance(to: min(target, clock.now + step))
            loop.iterate()
        }
    }

    func readCount(_ channel: UInt16 = 0x40) -> UInt16 {
        let low = bus.inb(channel)
        return UInt16(low) | UInt16(bus.inb(channel)) << 8
    }

    @Test func rateGeneratorRaisesIRQ0OncePerPeriod() {
        bus.outb(0x43, 0x34)  // channel 0, LSB then MSB, mode 2: Linux's periodic tick
        bus.outb(0x40, UInt8(1193 & 0xFF))
        bus.outb(0x40, UInt8(1193 >> 8))
        irq0.clear()
        run(until: 10_500_000)
        #expect(irq0.risingEdges == 10, "1193 ticks = 1 ms; 10 periods end within 10.5 ms")
    }

    @Test func fastestRateIsCoalescedInsteadOfFloodingTheHost() {
        bus.outb(0x43, 0x34)
        bus.outb(0x40, 2)
        bus.outb(0x40, 0)  // a period of 1.7 µs: 596 591 periods a second
        irq0.clear()
        while clock.now < 10_000_000 {
            clock.advance(to: clock.now + 20_000)
            loop.iterate()
        }
        let limit = Int(10_000_000 / IntervalTimer.minimumEventInterval) + 1
        #expect(irq0.risingEdges >= limit / 2, "ticks still arrive (coalesced)")
        #expect(irq0.risingEdges <= limit, "at most one edge per minimum interval")
        // The counter itself still runs at full rate: its count moves between reads.
        bus.outb(0x43, 0x00)
        let first = readCount()
        clock.advance(to: time(ofTicks: pit.timeBase.ticks(atNanoseconds: clock.now) + 1))
        bus.outb(0x43, 0x00)
        #expect(readCount() != first)
    }

    @Test func fastestRateOnARunningClockKeepsTheLoopIdleBetweenServices() {
        let running = VirtualClock(running: true)
        let line = LineProbe()
        let fast = IntervalTimer(name: "pit-fast", clock: running, loop: loop, output: line.line)
        fast.writePort(0x43, value: 0x34)
        fast.writePort(0x40, value: 2)
        fast.writePort(0x40, value: 0)
        line.clear()
        let start = running.now
        loop.run(timeout: 100_000_000) { false }
        let elapsed = running.now - start
        let bound = Int(elapsed / IntervalTimer.minimumEventInterval) + 1
        #expect(line.risingEdges >= 1)
        #expect(line.risingEdges <= bound, "\(line.risingEdges) edges in \(elapsed) ns of host time")
    }

    @Test func countsDownFromTheClockAndLatchesACount() {
        bus.outb(0x43, 0x30)  // channel 0, LSB then MSB, mode 0, binary
        bus.outb(0x40, 0x00)
        bus.outb(0x40, 0x10)
        clock.advance(to: time(ofTicks: 100))
        #expect(readCount() == 0x1000 - 100)
        bus.outb(0x43, 0x00)  // latch channel 0
        clock.advance(to: time(ofTicks: 300))
        #expect(readCount() == 0x1000 - 100, "the latched count, not the live one")
        #expect(readCount() == 0x1000 - 300, "the latch is gone once read")
    }

    @Test func readBackLatchesStatusThenCount() {
        bus.outb(0x43, 0xB0)  // channel 2, LSB then MSB, mode 0
        bus.outb(0x42, 0x20)
        bus.outb(0x42, 0x00)
        bus.outb(0x61, 0x01)  // gate 2 high
        clock.advance(to: time(ofTicks: 0x10))
        bus.outb(0x43, 0xC8)  // read-back: count and status of channel 2
        #expect(bus.inb(0x42) == 0x30, "OUT low, count loaded, LSB/MSB, mode 0, binary")
        #expect(readCount(0x42) == 0x10)
        clock.advance(to: time(ofTicks: 0x21))
        bus.outb(0x43, 0xE8)  // status only
        #expect(bus.inb(0x42) == 0xB0, "OUT high after the terminal count")
        bus.outb(0x43, 0xB0)
        bus.outb(0x43, 0xE8)
        #expect(bus.inb(0x42) & 0x40 != 0, "null count until a count is written")
    }

    @Test func slowCalibrationSeesOUT2RiseOnPort61() {
        // What Linux's pit_calibrate_tsc does: gate high, speaker off, mode 0, 50 ms.
        bus.outb(0x61, (bus.inb(0x61) & ~0x02) | 0x01)
        bus.outb(0x43, 0xB0)
        let latch: UInt16 = 59_659
        bus.outb(0x42, UInt8(latch & 0xFF))
        bus.outb(0x42, UInt8(latch >> 8))
        var polls = 0
        while bus.inb(0x61) & 0x20 == 0 && polls < 1_000 {
            clock.step(by: 100_000)
            polls += 1
        }
        #expect(polls == 500, "OUT2 rises after 50 ms of clock, polled every 0.1 ms")
        #expect(bus.inb(0x61) & 0x01 == 1)
    }

    @Test func lowGatePausesModeZero() {
        bus.outb(0x43, 0xB0)
        bus.outb(0x42, 0x00)
        bus.outb(0x42, 0x01)  // 256, gate low: not counting
        clock.advance(to: time(ofTicks: 1_000))
        #expect(readCount(0x42) == 0x100)
        bus.outb(0x61, 0x01)
        clock.advance(to: time(ofTicks: 1_100))
        bus.outb(0x61, 0x00)
        clock.advance(to: time(ofTicks: 5_000))
        let paused = Int(readCount(0x42))
        #expect(abs(paused - (0x100 - 100)) <= 1, "counted only while the gate was high")
        #expect(bus.inb(0x61) & 0x20 == 0)
    }

    @Test func squareWaveOnChannel2HighThenLowAndForcedHighByTheGate() {
        bus.outb(0x61, 0x01)
        bus.outb(0x43, 0xB6)  // channel 2, LSB/MSB, mode 3
        bus.outb(0x42, 100)
        bus.outb(0x42, 0)
        let start = clock.now
        let startTick = pit.timeBase.ticks(atNanoseconds: start)
        clock.advance(to: time(ofTicks: startTick + 10))
        #expect(bus.inb(0x61) & 0x20 != 0, "first half high")
        clock.advance(to: time(ofTicks: startTick + 60))
        #expect(bus.inb(0x61) & 0x20 == 0, "second half low")
        bus.outb(0x61, 0x00)
        #expect(bus.inb(0x61) & 0x20 != 0, "a low gate forces OUT high in mode 3")
    }

    @Test func bcdCountingReadsDecimalDigits() {
        bus.outb(0x43, 0x31)  // channel 0, LSB/MSB, mode 0, BCD
        bus.outb(0x40, 0x00)
        bus.outb(0x40, 0x10)  // 1000 decimal
        clock.advance(to: time(ofTicks: 10))
        #expect(readCount() == 0x0990)
        clock.advance(to: time(ofTicks: 1_001))
        #expect(readCount() == 0x9999, "wraps within 10000")
    }

    @Test func softwareStrobeGivesOneEdge() {
        bus.outb(0x43, 0x38)  // mode 4: Linux's one-shot clockevent
        bus.outb(0x40, 0xE8)
        bus.outb(0x40, 0x03)  // 1000 ticks
        irq0.clear()
        run(until: 5_000_000)
        #expect(irq0.risingEdges == 1)
        #expect(pit.outputLevel(channel: 0), "OUT back high after its one-clock strobe")
    }

    @Test func modeZeroRaisesIRQ0AtTerminalCountAndHoldsIt() {
        bus.outb(0x43, 0x30)
        bus.outb(0x40, 0xE8)
        #expect(!pit.outputLevel(channel: 0), "the first byte of a mode 0 count stops it with OUT low")
        bus.outb(0x40, 0x03)
        irq0.clear()
        run(until: 800_000)
        #expect(irq0.risingEdges == 0)
        run(until: 900_000)
        #expect(irq0.risingEdges == 1)
        #expect(irq0.level)
        run(until: 100_000_000, step: 1_000_000)
        #expect(irq0.risingEdges == 1, "mode 0 does not repeat")
    }

    @Test func hardwareTriggeredOneShotStartsOnTheGateEdge() {
        bus.outb(0x43, 0xB2)  // channel 2, mode 1
        bus.outb(0x42, 50)
        bus.outb(0x42, 0)
        clock.advance(to: time(ofTicks: 500))
        #expect(bus.inb(0x61) & 0x20 != 0, "OUT high until triggered")
        bus.outb(0x61, 0x01)
        let trigger = pit.timeBase.ticks(atNanoseconds: clock.now)
        #expect(bus.inb(0x61) & 0x20 == 0, "the gate's edge starts the one-shot")
        clock.advance(to: time(ofTicks: trigger + 50))
        #expect(bus.inb(0x61) & 0x20 != 0)
    }

    @Test func port61KeepsEnablesAndTogglesRefresh() {
        bus.outb(0x61, 0x0E)
        #expect(bus.inb(0x61) & 0x0F == 0x0E)
        let first = bus.inb(0x61) & 0x10
        clock.step(by: SystemControlPortB.refreshToggleInterval)
        #expect(bus.inb(0x61) & 0x10 != first)
        #expect(!pit.gate(channel: 2))
    }

    @Test func powerOnStateTicksAt18HzAndResetRestoresIt() {
        irq0.clear()
        run(until: 120_000_000, step: 1_000_000)
        #expect(irq0.risingEdges == 2, "65536 ticks = 54.9 ms")
        bus.outb(0x43, 0x30)
        bus.outb(0x40, 1); bus.outb(0x40, 0)
        pit.reset(.cold)
        bus.outb(0x43, 0xE2)
        #expect(bus.inb(0x40) & 0x3F == 0x36, "mode 3, LSB/MSB, binary after reset")
    }
}
