import EmuCore

/// The local APIC timer's arithmetic: the count, the divider and when the next interrupt is due.
///
/// The timer's input clock runs at ``LocalAPICTimer/inputFrequency``: one tick per nanosecond of
/// the machine's guest clock, the clock the TSC follows (``TimestampCounterBase/clock``). That
/// is the "core crystal clock" a CPU reports in CPUID leaf 0x15 (see
/// ``LocalAPICTimer/cpuidLeaf15(tscFrequency:)``): Linux then sets its LAPIC timer period from
/// it instead of calibrating. The divide configuration register divides it by 1–128.
struct LocalAPICTimer: Sendable {
    /// The timer's input clock in Hz: 1 GHz, one tick per nanosecond of the guest clock.
    static let inputFrequency: UInt64 = 1_000_000_000

    /// A periodic timer fires at most once per this many nanoseconds of guest time: periods
    /// shorter than that coalesce (the interrupt is one IRR bit anyway), so a guest's
    /// initial count of 1 cannot keep the event loop busy. 50 µs is far below any period an OS
    /// programs (Linux: one jiffy, 4 ms at HZ=250).
    static let minimumPeriodicInterval: UInt64 = 50_000

    /// The LVT timer mode (bits 18:17).
    enum Mode: UInt32, Sendable {
        case oneShot = 0, periodic = 1, tscDeadline = 2
    }

    /// The initial count register.
    var initialCount: UInt32 = 0
    /// The divide configuration register (bits 0, 1 and 3).
    private(set) var divideConfiguration: UInt32 = 0
    /// Whether a one-shot or periodic count is in progress.
    var counting = false
    /// Clock time at which ``ticksAtBase`` was counted.
    private var baseTime: UInt64 = 0
    /// Divided ticks counted since the count started (or the last periodic reload), at ``baseTime``.
    private var ticksAtBase: UInt64 = 0
    /// IA32_TSC_DEADLINE; 0 is disarmed.
    var deadline: UInt64 = 0

    /// The divisor the divide configuration selects.
    var divisor: UInt64 {
        let code = (divideConfiguration & 3) | ((divideConfiguration >> 1) & 4)
        return code == 7 ? 1 : UInt64(2) << UInt64(code)
    }

    /// Starts counting from the initial count at `now` (a write of the initial count).
    mutating func start(initialCount: UInt32, now: UInt64) {
        self.initialCount = initialCount
        counting = initialCount != 0
        baseTime = now
        ticksAtBase = 0
    }

    /// Stops the count and disarms the deadline (a change of timer mode).
    mutating func stop() {
        initialCount = 0
        counting = false
        deadline = 0
    }

    /// Sets the divide configuration, carrying the count so far over to the new divisor.
    mutating func setDivideConfiguration(_ value: UInt32, now: UInt64) {
        ticksAtBase = elapsedTicks(at: now)
        baseTime = max(baseTime, now)
        divideConfiguration = value & 0b1011
    }

    /// Divided ticks since the count started.
    func elapsedTicks(at now: UInt64) -> UInt64 {
        let since = now > baseTime ? now - baseTime : 0
        let (sum, overflow) = ticksAtBase.addingReportingOverflow(since / divisor)
        return overflow ? .max : sum
    }

    /// The clock time at which the count reaches `ticks` elapsed ticks (saturating).
    func time(atTicks ticks: UInt64) -> UInt64 {
        guard ticks > ticksAtBase else { return baseTime }
        let (span, spanOverflow) = (ticks - ticksAtBase).multipliedReportingOverflow(by: divisor)
        let (sum, overflow) = baseTime.addingReportingOverflow(span)
        return spanOverflow || overflow ? .max : sum
    }

    /// The current count register in `mode`.
    func currentCount(at now: UInt64, mode: Mode) -> UInt32 {
        guard counting, initialCount != 0, mode != .tscDeadline else { return 0 }
        let initial = UInt64(initialCount)
        let elapsed = elapsedTicks(at: now)
        if mode == .periodic { return UInt32(initial - elapsed % initial) }
        return elapsed >= initial ? 0 : UInt32(initial - elapsed)
    }

    /// Looks at the timer at `now`: whether it expired (then it is reloaded, stopped or
    /// disarmed as its mode says) and the clock time of its next expiry, if any.
    /// `tscNow` and `deadlineTime` convert through the machine's TSC time base.
    mutating func service(now: UInt64, mode: Mode, tscNow: UInt64,
                          deadlineTime: (UInt64) -> UInt64) -> (expired: Bool, next: UInt64?) {
        switch mode {
        case .tscDeadline:
            guard deadline != 0 else { return (false, nil) }
            if tscNow >= deadline {
                deadline = 0
                return (true, nil)
            }
            return (false, deadlineTime(deadline))
        case .oneShot:
            guard counting, initialCount != 0 else { return (false, nil) }
            if elapsedTicks(at: now) >= UInt64(initialCount) {
                counting = false
                return (true, nil)
            }
            return (false, time(atTicks: UInt64(initialCount)))
        case .periodic:
            guard counting, initialCount != 0 else { return (false, nil) }
            let initial = UInt64(initialCount)
            let elapsed = elapsedTicks(at: now)
            guard elapsed >= initial else { return (false, time(atTicks: initial)) }
            // Reload: restart the count at the last period boundary passed.
            let reload = time(atTicks: elapsed - elapsed % initial)
            baseTime = reload
            ticksAtBase = 0
            let (floor, overflow) = now.addingReportingOverflow(Self.minimumPeriodicInterval)
            return (true, max(time(atTicks: initial), overflow ? .max : floor))
        }
    }

    /// CPUID leaf 0x15 for a TSC of `tscFrequency` Hz counting in the same clock as this timer:
    /// EAX/EBX the TSC/crystal ratio (denominator, numerator, reduced) and ECX the crystal
    /// (this timer's input clock) in Hz. `nil` if the ratio does not fit 32 bits.
    static func cpuidLeaf15(tscFrequency: UInt64) -> (eax: UInt32, ebx: UInt32, ecx: UInt32)? {
        guard tscFrequency > 0 else { return nil }
        var a = tscFrequency, b = inputFrequency
        while b != 0 { (a, b) = (b, a % b) }
        let numerator = tscFrequency / a, denominator = inputFrequency / a
        guard let ebx = UInt32(exactly: numerator), let eax = UInt32(exactly: denominator) else { return nil }
        return (eax, ebx, UInt32(inputFrequency))
    }
}
