import EmuCore
import Synchronization

/// The ACPI fixed-feature hardware of the PC (ACPI 6.x, 4.8): the PM1a event block (PM1_STS,
/// PM1_EN), the PM1a control block (PM1_CNT) and the 32-bit PM timer, in one 12-port I/O block
/// mapped at the FADT's `pmBase`:
///
/// | offset | size | register |
/// |---|---|---|
/// | 0 | 2 | PM1_STS: write 1 to clear; TMR_STS (bit 0), PWRBTN_STS (bit 8), WAK_STS (bit 15), ... |
/// | 2 | 2 | PM1_EN: TMR_EN (bit 0), GBL_EN (5), PWRBTN_EN (8), SLPBTN_EN (9), RTC_EN (10) |
/// | 4 | 2 | PM1_CNT: SCI_EN (bit 0, set at reset), SLP_TYP (bits 10-12), SLP_EN (bit 13, write-only) |
/// | 8 | 4 | PM_TMR: 3.579545 MHz, 32 bits (read-only) |
///
/// The SCI (level-triggered, active high) is high while SCI_EN is set and an enabled status bit
/// is set. Writing SLP_EN asks the machine, through `onSleep`, to power off (SLP_TYP equal to
/// ``sleepTypeS5``, the DSDT's `\_S5`) or to sleep (any other type). The timer counts from the
/// injected clock; TMR_STS is set each time bit 31 of the counter changes, and when an event
/// loop is given, a timer raises the SCI at that moment if TMR_EN is set.
/// Accesses of 1 to 4 bytes; bytes outside the registers read 0 and ignore writes.
public final class ACPIPowerManagement: Device, MMIOHandler {
    /// What the guest asked for by writing SLP_EN.
    public enum SleepRequest: Sendable, Equatable {
        /// S5: soft off.
        case powerOff
        /// Another sleeping state, by its SLP_TYP value.
        case sleep(type: UInt8)
    }

    /// The SLP_TYP value of S5 this device recognises by default.
    public static let sleepTypeS5: UInt8 = 5
    /// The PM timer's frequency in Hz.
    public static let timerFrequency: UInt64 = 3_579_545
    /// The number of I/O ports the block occupies.
    public static let size: UInt64 = 12

    /// PM1_STS / PM1_EN bits.
    public enum EventBit {
        public static let timer: UInt16 = 1 << 0
        public static let busMaster: UInt16 = 1 << 4
        public static let global: UInt16 = 1 << 5
        public static let powerButton: UInt16 = 1 << 8
        public static let sleepButton: UInt16 = 1 << 9
        public static let rtc: UInt16 = 1 << 10
        public static let wake: UInt16 = 1 << 15
    }

    /// PM1_CNT bits.
    public enum ControlBit {
        public static let sciEnable: UInt16 = 1 << 0
        public static let busMasterReload: UInt16 = 1 << 1
        public static let globalRelease: UInt16 = 1 << 2
        public static let sleepTypeShift: UInt16 = 10
        public static let sleepTypeMask: UInt16 = 0x7 << 10
        public static let sleepEnable: UInt16 = 1 << 13
    }

    /// Status bits that can raise the SCI when their enable bit is set.
    static let interruptingEvents = EventBit.timer | EventBit.global | EventBit.powerButton
        | EventBit.sleepButton | EventBit.rtc
    /// Status bits the guest can see (others read 0).
    static let statusMask = interruptingEvents | EventBit.busMaster | EventBit.wake
    /// Enable bits the guest can set.
    static let enableMask = interruptingEvents

    public let name: String
    /// Byte, word and dword accesses, aligned (the bus splits or widens others).
    public var accessSizes: MMIOAccessSizes { Self.sizes }
    private static let sizes = MMIOAccessSizes(minSize: 1, maxSize: 4) ?? .bytes

    private let clock: any EmuClock
    private let sci: IRQLine
    private let sleepTypeS5: UInt8
    private let onSleep: @Sendable (SleepRequest) -> Void
    private let overflowTimer = Mutex<LoopTimer?>(nil)
    private let state: Mutex<State>

    private struct State {
        var status: UInt16 = 0
        var enable: UInt16 = 0
        var control: UInt16 = ControlBit.sciEnable
        /// Counter value >> 31 when TMR_STS was last brought up to date.
        var timerEpoch: UInt64 = 0
    }

    /// Creates the block.
    /// - Parameters:
    ///   - clock: the guest's time base; the PM timer is `clock.now * 3579545 / 10^9` modulo 2^32.
    ///   - sci: the SCI line (wire it to IOAPIC pin and ISA IRQ ``PCACPIConfiguration/sciInterrupt``).
    ///   - loop: if given, raises the SCI on timer overflow when TMR_EN is set; without it,
    ///     TMR_STS is still set, as soon as the guest reads the block.
    ///   - sleepTypeS5: the SLP_TYP value that means power-off.
    ///   - onSleep: called (on the writing thread, outside the device's lock) when the guest sets SLP_EN.
    public init(name: String = "acpi-pm", clock: any EmuClock, sci: IRQLine, loop: EventLoop? = nil,
                sleepTypeS5: UInt8 = ACPIPowerManagement.sleepTypeS5,
                onSleep: @escaping @Sendable (SleepRequest) -> Void) {
        self.name = name
        self.clock = clock
        self.sci = sci
        self.sleepTypeS5 = sleepTypeS5
        self.onSleep = onSleep
        self.state = Mutex(State(timerEpoch: Self.ticks(at: clock.now) >> 31))
        if let loop {
            let timer = loop.makeTimer(on: clock) { [weak self] in self?.timerOverflowed() }
            overflowTimer.withLock { $0 = timer }
        }
    }

    // MARK: Host side

    /// Presses the power button: sets PWRBTN_STS; the SCI rises if PWRBTN_EN and SCI_EN are set.
    /// (The guest's button driver then clears the status and, with an acpid, powers off.)
    public func pressPowerButton() {
        state.withLock { $0.status |= EventBit.powerButton }
        updateInterrupt()
    }

    /// The current PM timer value.
    public var timerValue: UInt32 { UInt32(truncatingIfNeeded: Self.ticks(at: clock.now)) }

    /// PM1_STS as the guest would read it.
    public var status: UInt16 { state.withLock { refreshTimerStatus(&$0); return $0.status } }

    /// Returns the registers to their reset values (SCI_EN set, everything else clear); the timer
    /// keeps counting.
    public func reset(_ kind: ResetKind) {
        state.withLock { state in
            state.status = 0
            state.enable = 0
            state.control = ControlBit.sciEnable
            state.timerEpoch = Self.ticks(at: clock.now) >> 31
        }
        overflowTimer.withLock { $0 }?.cancel()
        updateInterrupt()
    }

    // MARK: Guest side

    public func read(offset: UInt64, size: Int) -> UInt64 {
        let now = clock.now
        // The twelve bytes of the block, little-endian: STS, EN, CNT (SLP_EN reads 0), 2 unused, TMR.
        let (low, timer): (UInt64, UInt64) = state.withLock { state in
            refreshTimerStatus(&state, now: now)
            let control = state.control & ~ControlBit.sleepEnable
            return (UInt64(state.status) | UInt64(state.enable) << 16 | UInt64(control) << 32,
                    UInt64(UInt32(truncatingIfNeeded: Self.ticks(at: now))))
        }
        var value: UInt64 = 0
        for i in 0..<min(size, 4) {
            let at = offset &+ UInt64(i)
            let byte: UInt64 = switch at {
            case 0..<6: (low >> (8 * at)) & 0xFF
            case 8..<12: (timer >> (8 * (at - 8))) & 0xFF
            default: 0
            }
            value |= byte << (8 * UInt64(i))
        }
        return value
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let request: SleepRequest? = state.withLock { state in
            refreshTimerStatus(&state)
            var request: SleepRequest?
            for i in 0..<min(size, 4) {
                let at = offset &+ UInt64(i)
                let byte = UInt16(truncatingIfNeeded: value >> (8 * UInt64(i)))
                let shift: UInt16 = at % 2 == 0 ? 0 : 8
                let bits = byte << shift
                let lane: UInt16 = 0xFF << shift
                switch at {
                case 0, 1:
                    state.status &= ~(bits & Self.statusMask)
                case 2, 3:
                    state.enable = (state.enable & ~lane) | (bits & lane & Self.enableMask)
                case 4, 5:
                    let writable = ControlBit.sciEnable | ControlBit.sleepTypeMask
                    state.control = (state.control & ~(lane & writable)) | (bits & lane & writable)
                    if bits & ControlBit.sleepEnable != 0 {
                        let type = UInt8((state.control & ControlBit.sleepTypeMask) >> ControlBit.sleepTypeShift)
                        request = type == sleepTypeS5 ? .powerOff : .sleep(type: type)
                    }
                default:
                    break  // the timer is read-only; the rest is unassigned
                }
            }
            return request
        }
        updateInterrupt()
        if let request { onSleep(request) }
    }

    // MARK: Internals

    /// Ticks of the 3.579545 MHz timer at clock time `nanoseconds` (exact, no overflow).
    static func ticks(at nanoseconds: UInt64) -> UInt64 {
        let product = nanoseconds.multipliedFullWidth(by: timerFrequency)
        // The quotient fits: timerFrequency < 10^9.
        return UInt64(1_000_000_000).dividingFullWidth((product.high, product.low)).quotient
    }

    /// The clock time at which the timer reaches `ticks` (rounded up).
    static func nanoseconds(atTicks ticks: UInt64) -> UInt64 {
        let product = ticks.multipliedFullWidth(by: 1_000_000_000)
        guard product.high < timerFrequency else { return .max }
        let (q, r) = timerFrequency.dividingFullWidth((product.high, product.low))
        return r == 0 ? q : q &+ 1
    }

    private func refreshTimerStatus(_ state: inout State, now: UInt64? = nil) {
        let epoch = Self.ticks(at: now ?? clock.now) >> 31
        if epoch != state.timerEpoch {
            state.timerEpoch = epoch
            state.status |= EventBit.timer
        }
    }

    private func timerOverflowed() {
        state.withLock { refreshTimerStatus(&$0) }
        updateInterrupt()
    }

    /// Sets the SCI's level from the registers and arms the overflow timer when TMR_EN is set.
    private func updateInterrupt() {
        let (level, nextOverflow) = state.withLock { state -> (Bool, UInt64?) in
            let level = state.control & ControlBit.sciEnable != 0
                && state.status & state.enable & Self.interruptingEvents != 0
            let timerArmed = state.enable & EventBit.timer != 0
            return (level, timerArmed ? Self.nanoseconds(atTicks: (state.timerEpoch &+ 1) << 31) : nil)
        }
        sci.set(level)
        if let timer = overflowTimer.withLock({ $0 }) {
            if let nextOverflow { timer.arm(at: nextOverflow) } else { timer.cancel() }
        }
    }
}
