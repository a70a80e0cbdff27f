import EmuCore
import Testing

@Suite struct TimestampCounterBaseTests {
    @Test func ticksFollowTheClockAtTheFrequency() {
        let clock = VirtualClock(start: 0)
        let base = TimestampCounterBase(clock: clock, frequency: 2_500_000_000)
        #expect(base.now == 0)
        clock.step(by: 1_000_000)  // 1 ms
        #expect(base.now == 2_500_000)
        #expect(base.ticks(atNanoseconds: 3) == 7)  // 7.5 truncated
    }

    @Test func nanosecondsRoundUpSoADeadlineIsNeverEarly() {
        let clock = VirtualClock(start: 0)
        let base = TimestampCounterBase(clock: clock, frequency: 3_000_000_000)
        #expect(base.nanoseconds(atTicks: 3) == 1)
        #expect(base.nanoseconds(atTicks: 4) == 2)  // 1.33 ns rounds up
        for ticks: UInt64 in [1, 17, 999_999_999, 1 << 40] {
            #expect(base.ticks(atNanoseconds: base.nanoseconds(atTicks: ticks)) >= ticks)
        }
    }

    @Test func extremeValuesSaturateInsteadOfOverflowing() {
        let base = TimestampCounterBase(clock: VirtualClock(start: 0), frequency: 4_000_000_000)
        #expect(base.ticks(atNanoseconds: .max) == .max)
        #expect(base.nanoseconds(atTicks: .max) == UInt64.max / 4 + 1)  // (2^64 - 1) / 4 rounded up
        let slow = TimestampCounterBase(clock: VirtualClock(start: 0), frequency: 1)
        #expect(slow.nanoseconds(atTicks: .max) == .max)
    }
}
