import Testing
import EmuCore
@testable import EmuPC

@Suite("MC146818 RTC and CMOS")
struct RealTimeClockTests {
    static let second: UInt64 = 1_000_000_000
    /// 2024-02-29 23:59:58 UTC, a Thursday.
    static let leapDayEvening: UInt64 = 1_709_251_198 * second

    let clock = VirtualClock()
    let loop = EventLoop()
    let irq8 = LineProbe()
    let rtc: RealTimeClock
    let bus: PortBus

    init() throws {
        rtc = RealTimeClock(clock: clock, loop: loop, irq: irq8.line, startTime: Self.leapDayEvening)
        bus = try PortBus([rtc])
    }

    func cmos(_ index: UInt8) -> UInt8 {
        bus.outb(0x70, index)
        return bus.inb(0x71)
    }

    func setCMOS(_ index: UInt8, _ value: UInt8) {
        bus.outb(0x70, index)
        bus.outb(0x71, value)
    }

    func run(until target: UInt64, step: UInt64 = 1_000_000) {
        while clock.now < target {
            clock.advance(to: min(target, clock.now + step))
            loop.iterate()
        }
    }

    @Test func startsFromTheGivenWallClockInBCDAnd24Hours() {
        #expect(cmos(0x00) == 0x58 && cmos(0x02) == 0x59 && cmos(0x04) == 0x23)
        #expect(cmos(0x07) == 0x29 && cmos(0x08) == 0x02 && cmos(0x09) == 0x24 && cmos(0x32) == 0x20)
        #expect(cmos(0x06) == 5, "Thursday, with Sunday = 1")
        clock.step(by: 2 * Self.second)
        #expect(cmos(0x00) == 0x00 && cmos(0x02) == 0x00 && cmos(0x04) == 0x00)
        #expect(cmos(0x07) == 0x01 && cmos(0x08) == 0x03, "the day after 29 February 2024 is 1 March")
        #expect(cmos(0x06) == 6)
    }

    @Test func binaryAnd12HourFormats() {
        setCMOS(0x0B, 0x04)  // binary, 12-hour
        #expect(cmos(0x04) == 0x80 | 11, "11 PM")
        #expect(cmos(0x00) == 58 && cmos(0x07) == 29 && cmos(0x09) == 24)
        clock.step(by: 2 * Self.second)
        #expect(cmos(0x04) == 12, "midnight is 12 AM")
        setCMOS(0x0B, 0x02)
        #expect(cmos(0x04) == 0x00)
    }

    @Test func hostWallClockIsTheDefault() throws {
        let host = RealTimeClock(clock: clock, loop: loop, irq: IRQLine(unconnected: "irq8"))
        let difference = Int64(bitPattern: host.currentTime &- RealTimeClock.hostWallClock())
        #expect(abs(difference) < 5 * Int64(Self.second))
        #expect(host.currentTime / Self.second > 1_700_000_000)
    }

    @Test func settingTheTimeWithSETTakesEffectWhenItIsCleared() {
        setCMOS(0x0B, 0x82)  // SET, 24-hour, BCD
        setCMOS(0x00, 0x09); setCMOS(0x02, 0x05); setCMOS(0x04, 0x13)
        setCMOS(0x07, 0x04); setCMOS(0x08, 0x07); setCMOS(0x09, 0x31)
        clock.step(by: 10 * Self.second)
        #expect(cmos(0x00) == 0x09, "frozen while SET")
        #expect(cmos(0x0A) & 0x80 == 0, "no update in progress while SET")
        setCMOS(0x0B, 0x02)
        #expect(rtc.currentTime / Self.second == 1_940_936_709)
        clock.step(by: 3 * Self.second)
        #expect(cmos(0x00) == 0x12)
    }

    @Test func linuxSetTimeSequenceWithDividerReset() {
        // mc146818_set_time: SET, divider reset, registers, restore B, restore A.
        setCMOS(0x0B, cmos(0x0B) | 0x80)
        let a = cmos(0x0A)
        setCMOS(0x0A, a | 0x70)
        setCMOS(0x00, 0x00); setCMOS(0x02, 0x00); setCMOS(0x04, 0x12)
        setCMOS(0x0B, cmos(0x0B) & ~0x80)
        clock.step(by: 5 * Self.second)
        #expect(cmos(0x00) == 0x00, "still stopped by the divider")
        setCMOS(0x0A, a)
        clock.step(by: Self.second / 2)
        #expect(cmos(0x00) == 0x01, "the first update comes 500 ms after the divider restarts")
    }

    @Test func updateInProgressIsSetJustBeforeEachSecond() {
        #expect(cmos(0x0A) == 0x26)
        clock.step(by: Self.second - RealTimeClock.updateInProgressWindow - 1_000)
        #expect(cmos(0x0A) & 0x80 == 0)
        clock.step(by: 2_000)
        #expect(cmos(0x0A) & 0x80 != 0)
        clock.step(by: RealTimeClock.updateInProgressWindow)
        #expect(cmos(0x0A) & 0x80 == 0)
        #expect(cmos(0x00) == 0x59)
    }

    /// Runs the clock to `end` in `step` increments and counts IRQ 8, answering each with a
    /// read of register C that must show the periodic flag and lower the line.
    func countPeriodicInterrupts(until end: UInt64, step: UInt64) -> Int {
        var interrupts = 0
        while clock.now < end {
            clock.advance(to: clock.now + step)
            loop.iterate()
            if irq8.level {
                interrupts += 1
                #expect(cmos(0x0C) & 0xC0 == 0xC0)
                #expect(!irq8.level, "reading C lowers IRQ 8")
            }
        }
        return interrupts
    }

    @Test func periodicInterruptAtTheRegisterARate() {
        setCMOS(0x0B, 0x42)  // PIE
        #expect(countPeriodicInterrupts(until: 100_000_000, step: 50_000) == 102, "1024 Hz for 100 ms")
    }

    @Test func fastestPeriodicRateIsDelivered() {
        setCMOS(0x0A, 0x23)  // 8192 Hz
        setCMOS(0x0B, 0x42)
        #expect(countPeriodicInterrupts(until: 10_000_000, step: 10_000) == 81, "8192 Hz for 10 ms")
    }

    @Test func periodicFlagIsSetWithoutItsInterrupt() {
        clock.step(by: 2_000_000)
        #expect(cmos(0x0C) == 0x40, "PF without PIE: no IRQF")
        #expect(cmos(0x0C) == 0x00, "cleared by the read")
        #expect(irq8.history.isEmpty)
    }

    @Test func updateEndedInterruptOncePerSecond() {
        setCMOS(0x0A, 0x20)  // no periodic rate
        setCMOS(0x0B, 0x12)  // UIE
        run(until: 1_500_000_000, step: 10_000_000)
        #expect(irq8.level)
        #expect(cmos(0x0C) == 0x90)
        #expect(!irq8.level)
        run(until: 1_900_000_000, step: 10_000_000)
        #expect(!irq8.level, "no second boundary crossed since")
        run(until: 2_600_000_000, step: 10_000_000)
        #expect(cmos(0x0C) & 0xD0 == 0x90, "UF and IRQF (AF may match the zeroed alarm at midnight)")
    }

    @Test func alarmFiresAtItsTimeAndDontCareMatchesEverySecond() {
        setCMOS(0x0A, 0x20)
        setCMOS(0x01, 0x03); setCMOS(0x03, 0x00); setCMOS(0x05, 0x00)  // 00:00:03
        setCMOS(0x0B, 0x22)  // AIE
        run(until: 4_900_000_000, step: 10_000_000)
        #expect(!irq8.level, "not yet 00:00:03")
        run(until: 5_100_000_000, step: 10_000_000)
        #expect(irq8.level)
        #expect(cmos(0x0C) & 0xA0 == 0xA0)
        setCMOS(0x01, 0xFF); setCMOS(0x03, 0xC0); setCMOS(0x05, 0xC0)
        run(until: 6_100_000_000, step: 10_000_000)
        #expect(cmos(0x0C) & 0xA0 == 0xA0, "don't-care values match every second")
    }

    @Test func registerDReportsValidRAMAndCIsReadOnly() {
        #expect(cmos(0x0D) == 0x80)
        setCMOS(0x0D, 0x00)
        setCMOS(0x0C, 0xFF)
        #expect(cmos(0x0D) == 0x80)
        #expect(cmos(0x0C) & 0xF0 != 0xF0)
    }

    @Test func nmiMaskBitIsKeptApartFromTheIndex() {
        bus.outb(0x70, 0x80 | 0x0D)
        #expect(rtc.nmiMasked)
        #expect(bus.inb(0x71) == 0x80, "the index is bits 0-6")
        bus.outb(0x70, 0x0D)
        #expect(!rtc.nmiMasked)
    }

    @Test func cmosRAMHoldsBytesAndMemorySizes() {
        setCMOS(0x40, 0xA5)
        setCMOS(0x7F, 0x5A)
        #expect(cmos(0x40) == 0xA5 && cmos(0x7F) == 0x5A)
        rtc.setMemorySize(belowFourGiB: 3 << 30, aboveFourGiB: 1 << 30)
        #expect(cmos(0x15) == 0x80 && cmos(0x16) == 0x02, "640 KiB base memory")
        #expect(cmos(0x17) == 0xFF && cmos(0x18) == 0xFF, "above 1 MiB, capped at 0xFFFF KiB")
        #expect(cmos(0x30) == 0xFF && cmos(0x31) == 0xFF)
        let above16M = UInt16(cmos(0x34)) | UInt16(cmos(0x35)) << 8
        #expect(above16M == UInt16(((3 << 30) - (16 << 20)) >> 16))
        let above4G = UInt32(cmos(0x5B)) | UInt32(cmos(0x5C)) << 8 | UInt32(cmos(0x5D)) << 16
        #expect(above4G == (1 << 30) >> 16)
        let sum = (0x10...0x2D).reduce(UInt16(0)) { $0 &+ UInt16(cmos(UInt8($1))) }
        #expect(UInt16(cmos(0x2E)) << 8 | UInt16(cmos(0x2F)) == sum)
        rtc.setMemorySize(belowFourGiB: 8 << 20, aboveFourGiB: 0)
        #expect(UInt16(cmos(0x17)) | UInt16(cmos(0x18)) << 8 == 7 * 1024)
        #expect(cmos(0x34) == 0 && cmos(0x35) == 0)
    }

    @Test func resetKeepsTimeAndRAMButDisablesInterrupts() {
        setCMOS(0x0B, 0x72)
        setCMOS(0x50, 0x11)
        clock.step(by: 2_000_000)
        rtc.reset(.cold)
        #expect(cmos(0x0B) == 0x02)
        #expect(cmos(0x50) == 0x11)
        #expect(cmos(0x00) == 0x58)
        #expect(!irq8.level)
    }

    @Test func hostileTimeRegisterValuesGiveSomeTime() {
        setCMOS(0x0B, 0x82)
        for index: UInt8 in [0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32] { setCMOS(index, 0xFF) }
        setCMOS(0x0B, 0x02)
        clock.step(by: Self.second)
        #expect(rtc.currentTime / Self.second == 16_725_225_600, "clamped to 2499-12-31 23:59:59, plus a second")
        #expect(cmos(0x09) == 0x00 && cmos(0x32) == 0x25)
    }

    @Test func civilCalendarRoundTrips() {
        for day in stride(from: Int64(0), through: 200_000, by: 997) {
            let date = CivilDate(epochDay: day)
            #expect(CivilDate.epochDay(year: date.year, month: date.month, day: date.day) == day)
        }
        let first = CivilDate(epochDay: 0)
        #expect(first.year == 1970 && first.month == 1 && first.day == 1 && first.weekday == 4)
    }
}
