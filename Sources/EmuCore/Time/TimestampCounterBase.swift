/// The time base a machine's CPU time-stamp counter and its timers share: a clock in nanoseconds
/// and the TSC frequency. The CPU's RDTSC, the local APIC's TSC-deadline timer and the
/// frequencies a CPU reports in CPUID leaves 0x15/0x16 all convert through one value of this
/// type, so they never disagree.
///
/// Conversions use full-width arithmetic: they neither overflow nor lose precision for any
/// 64-bit input (results beyond `UInt64.max` saturate).
public struct TimestampCounterBase: Sendable {
    /// The clock the counter follows (the machine's guest clock).
    public let clock: any EmuClock
    /// Counter ticks per second. Never zero.
    public let frequency: UInt64

    /// A time base counting `frequency` ticks per second of `clock`.
    /// - Precondition: `frequency` is not zero (a programming error, not input).
    public init(clock: any EmuClock, frequency: UInt64) {
        precondition(frequency > 0, "a TSC frequency of zero")
        self.clock = clock
        self.frequency = frequency
    }

    /// The counter at the clock's current time.
    public var now: UInt64 { ticks(atNanoseconds: clock.now) }

    /// The counter value at `nanoseconds` of the clock.
    public func ticks(atNanoseconds nanoseconds: UInt64) -> UInt64 {
        Self.scale(nanoseconds, by: frequency, over: 1_000_000_000)
    }

    /// The earliest clock time (nanoseconds) at which the counter reaches `ticks`.
    public func nanoseconds(atTicks ticks: UInt64) -> UInt64 {
        // Round up so a deadline computed here is never before the counter reaches `ticks`.
        let (high, low) = ticks.multipliedFullWidth(by: 1_000_000_000)
        guard high < frequency else { return .max }
        let (quotient, remainder) = frequency.dividingFullWidth((high, low))
        return remainder == 0 ? quotient : (quotient == .max ? .max : quotient + 1)
    }

    private static func scale(_ value: UInt64, by multiplier: UInt64, over divisor: UInt64) -> UInt64 {
        let (high, low) = value.multipliedFullWidth(by: multiplier)
        guard high < divisor else { return .max }
        return divisor.dividingFullWidth((high, low)).quotient
    }
}
