import EmuCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The PC's Motorola MC146818 real-time clock and its CMOS RAM, behind the index port 0x70 and
/// the data port 0x71; its interrupt is ISA IRQ 8.
///
/// Modelled: 128 bytes of CMOS (no second bank); the time and date registers 0–9 and the
/// century byte 0x32 in BCD or binary (register B's DM bit) and 12- or 24-hour format (bit 1;
/// bit 7 of the hour is PM in 12-hour mode); time that starts from the host's wall clock (UTC)
/// and advances with the machine's clock; writes to the time registers, taking effect when SET
/// (register B bit 7) is cleared or, while the clock runs, at once; register A's divider (DV
/// other than 010 stops the clock; restarting it places the next update 500 ms later), its
/// rate select for the periodic interrupt (RS 1–15: 256 Hz down to 2 Hz, 3 → 8192 Hz) and its
/// update-in-progress bit, set for the 244 µs before each second's update; the periodic, alarm
/// (with "don't care" values 0xC0–0xFF) and update-ended interrupts with their flags in
/// register C, whose read clears them and lowers IRQ 8; register D's valid-RAM bit. NMI masking:
/// bit 7 of a write to port 0x70 is kept and reported through ``nmiMasked``; the index is bits
/// 0–6.
///
/// Years run from 1970 to 2499 (a guest writing a later century gets 2499). Left out:
/// daylight saving (register B's DSE is stored and ignored), the square-wave output
/// pin (SQWE stored), the divider's test modes (treated as stopped) and the battery.
///
/// Time: the flags are computed from the clock when register C is read, so they never lag;
/// a ``LoopTimer`` on the clock runs only while an interrupt is enabled, armed for the next
/// event, with periodic events no closer together than ``minimumEventInterval``. Missed
/// periods are coalesced into one interrupt, as one read of register C would see them.
public final class RealTimeClock: PortIODevice {
    public let name: String
    /// ISA IRQ 8: high while register C's IRQF is set.
    public let irq: IRQLine
    /// The clock time advances with.
    public let clock: any EmuClock
    /// The shortest time between two timer services (nanoseconds): 100 µs.
    public static let minimumEventInterval: UInt64 = 100_000
    /// How long before each update register A's UIP bit is set (nanoseconds).
    public static let updateInProgressWindow: UInt64 = 244_000
    private let state: Mutex<RTCState>
    private let timer = Mutex<LoopTimer?>(nil)

    public let portRanges: [PortRange] = [.fixed(0x70, 2)]

    /// Creates the clock.
    /// - Parameters:
    ///   - clock: the machine's clock; the time of day advances with it.
    ///   - loop: the loop whose timer raises IRQ 8.
    ///   - irq: ISA IRQ 8.
    ///   - startTime: the time of day at the clock's current time, in nanoseconds since the Unix
    ///     epoch (UTC); `nil` takes the host's wall clock.
    public init(name: String = "rtc", clock: any EmuClock, loop: EventLoop, irq: IRQLine,
                startTime: UInt64? = nil) {
        self.name = name
        self.irq = irq
        self.clock = clock
        let start = startTime ?? Self.hostWallClock()
        self.state = Mutex(RTCState(epochNanoseconds: start, clockNanoseconds: clock.now))
        let timer = loop.makeTimer(on: clock) { [weak self] in self?.service() }
        self.timer.withLock { $0 = timer }
    }

    /// The host's `CLOCK_REALTIME` in nanoseconds since the epoch.
    public static func hostWallClock() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(max(0, ts.tv_sec)) &* 1_000_000_000 &+ UInt64(max(0, ts.tv_nsec))
    }

    /// Whether the guest has masked NMIs (bit 7 of its last write to port 0x70).
    public var nmiMasked: Bool { state.withLock { $0.nmiMasked } }

    /// The guest's time of day now, in nanoseconds since the epoch.
    public var currentTime: UInt64 {
        let now = clock.now
        return state.withLock { $0.guestTime(at: now) }
    }

    /// Reads CMOS byte `index` (0–127) as the guest would, without side effects on register C.
    public func cmosByte(_ index: Int) -> UInt8 {
        guard (0..<128).contains(index) else { return 0xFF }
        let now = clock.now
        return state.withLock { state in
            var copy = state
            return copy.read(index, at: now, clearFlags: false)
        }
    }

    /// Sets CMOS byte `index` (14–127; the clock's own registers 0–13 are refused) as firmware
    /// would, e.g. the equipment or boot bytes. Out-of-range indices are ignored.
    public func setCMOSByte(_ index: Int, _ value: UInt8) {
        guard (14..<128).contains(index) else { return }
        state.withLock { $0.cmos[index] = value }
    }

    /// Stores the machine's memory sizes where PC firmware does: base memory (0x15/0x16, 640
    /// KiB), memory above 1 MiB in KiB (0x17/0x18 and 0x30/0x31, at most 0xFFFF), memory above
    /// 16 MiB in 64 KiB units (0x34/0x35, below 4 GiB), memory above 4 GiB in 64 KiB units
    /// (0x5B–0x5D), and the standard checksum over 0x10–0x2D at 0x2E/0x2F.
    /// - Parameters:
    ///   - belowFourGiB: bytes of RAM mapped from address 0 up (below the PCI hole).
    ///   - aboveFourGiB: bytes of RAM mapped from 4 GiB up.
    public func setMemorySize(belowFourGiB: UInt64, aboveFourGiB: UInt64) {
        let extendedKiB = min(belowFourGiB > 1 << 20 ? (belowFourGiB - (1 << 20)) >> 10 : 0, 0xFFFF)
        let above16M = min(belowFourGiB > 16 << 20 ? (belowFourGiB - (16 << 20)) >> 16 : 0, 0xFFFF)
        let above4G = min(aboveFourGiB >> 16, 0xFF_FFFF)
        state.withLock { state in
            state.cmos[0x15] = 0x80
            state.cmos[0x16] = 0x02
            for base in [0x17, 0x30] {
                state.cmos[base] = UInt8(extendedKiB & 0xFF)
                state.cmos[base + 1] = UInt8(extendedKiB >> 8)
            }
            state.cmos[0x34] = UInt8(above16M & 0xFF)
            state.cmos[0x35] = UInt8(above16M >> 8)
            state.cmos[0x5B] = UInt8(above4G & 0xFF)
            state.cmos[0x5C] = UInt8(above4G >> 8 & 0xFF)
            state.cmos[0x5D] = UInt8(above4G >> 16)
            let sum = state.cmos[0x10...0x2D].reduce(UInt16(0)) { $0 &+ UInt16($1) }
            state.cmos[0x2E] = UInt8(sum >> 8)
            state.cmos[0x2F] = UInt8(sum & 0xFF)
        }
    }

    public func readPort(_ port: UInt16) -> UInt8 {
        guard port == 0x71 else { return 0xFF }  // the index port is write-only
        let now = clock.now
        let (value, index) = state.withLock { state in
            defer { updateIRQ(state) }
            return (state.read(Int(state.index), at: now, clearFlags: true), state.index)
        }
        if index == 0x0C { service() }  // flags cleared: the next interrupt needs the timer
        return value
    }

    public func writePort(_ port: UInt16, value: UInt8) {
        let now = clock.now
        state.withLock { state in
            if port == 0x70 {
                state.index = value & 0x7F
                state.nmiMasked = value & 0x80 != 0
            } else {
                state.write(Int(state.index), value, at: now)
                updateIRQ(state)
            }
        }
        service()
    }

    /// Power-on reset clears the interrupt enables and flags (registers B's PIE, AIE, UIE and
    /// register C) and lowers IRQ 8; the time and the CMOS contents survive, as with a battery.
    public func reset(_ kind: ResetKind) {
        let now = clock.now
        state.withLock { state in
            state.cmos[0x0B] &= ~0x70
            state.flags = 0
            state.sync(at: now)
            updateIRQ(state)
        }
        service()
    }

    private func updateIRQ(_ state: RTCState) { irq.set(state.flags & 0x80 != 0) }

    /// Raises the flags that came due and arms the timer for the next enabled event.
    private func service() {
        let now = clock.now
        let next: UInt64? = state.withLock { state in
            state.collectFlags(at: now)
            updateIRQ(state)
            return state.nextInterruptTime(after: now)
        }
        let armed = timer.withLock { $0 }
        guard let next else {
            armed?.cancel()
            return
        }
        let (floor, overflow) = now.addingReportingOverflow(Self.minimumEventInterval)
        armed?.arm(at: max(next, overflow ? UInt64.max : floor))
    }
}

/// The clock's registers and time base.
struct RTCState {
    var cmos = [UInt8](repeating: 0, count: 128)
    var index: UInt8 = 0
    var nmiMasked = false
    /// Guest time (ns since the epoch) at `baseClock`, while the clock runs; when it is
    /// stopped, the frozen time.
    var baseEpoch: UInt64
    var baseClock: UInt64
    /// Register C's flags: IRQF 0x80, PF 0x40, AF 0x20, UF 0x10.
    var flags: UInt8 = 0
    /// Up to which guest time (ns) flags have been collected.
    var flagsCollected: UInt64
    /// Up to which clock time (ns) periodic flags have been collected.
    var periodicCollected: UInt64

    static let second: UInt64 = 1_000_000_000

    init(epochNanoseconds: UInt64, clockNanoseconds: UInt64) {
        baseEpoch = epochNanoseconds
        baseClock = clockNanoseconds
        flagsCollected = epochNanoseconds
        periodicCollected = clockNanoseconds
        cmos[0x0A] = 0x26
        cmos[0x0B] = 0x02
        cmos[0x0D] = 0x80
        storeTime(epochNanoseconds / Self.second)
    }

    var registerA: UInt8 { cmos[0x0A] }
    var registerB: UInt8 { cmos[0x0B] }
    var isBinary: Bool { registerB & 0x04 != 0 }
    var is24Hour: Bool { registerB & 0x02 != 0 }
    /// The divider runs (32.768 kHz time base) and SET is clear: the time advances.
    var isRunning: Bool { registerA & 0x70 == 0x20 && registerB & 0x80 == 0 }
    var dividerRuns: Bool { registerA & 0x70 == 0x20 }

    func guestTime(at now: UInt64) -> UInt64 {
        guard isRunning else { return baseEpoch }
        let elapsed = now >= baseClock ? now - baseClock : 0
        let (sum, overflow) = baseEpoch.addingReportingOverflow(elapsed)
        return overflow ? .max : sum
    }

    /// Re-bases the time on the clock's current value (before a change of running state).
    mutating func sync(at now: UInt64) {
        baseEpoch = guestTime(at: now)
        baseClock = now
    }

    // MARK: Register access

    mutating func read(_ index: Int, at now: UInt64, clearFlags: Bool) -> UInt8 {
        switch index {
        case 0x00, 0x02, 0x04, 0x06...0x09, 0x32:
            if isRunning { storeTime(guestTime(at: now) / Self.second) }
            return cmos[index]
        case 0x0A:
            let time = guestTime(at: now)
            let uip = isRunning && time % Self.second >= Self.second - RealTimeClock.updateInProgressWindow
            return (registerA & 0x7F) | (uip ? 0x80 : 0)
        case 0x0C:
            collectFlags(at: now)
            let value = flags
            if clearFlags { flags = 0 }
            return value
        case 0x0D: return 0x80
        default: return cmos[index & 0x7F]
        }
    }

    mutating func write(_ index: Int, _ value: UInt8, at now: UInt64) {
        collectFlags(at: now)
        switch index {
        case 0x00, 0x02, 0x04, 0x06...0x09, 0x32:
            if isRunning { storeTime(guestTime(at: now) / Self.second) }
            cmos[index] = value
            if isRunning { adoptRegisters(at: now, fraction: guestTime(at: now) % Self.second) }
        case 0x0A:
            let wasRunning = isRunning, dividerRan = dividerRuns
            sync(at: now)
            cmos[0x0A] = value & 0x7F
            if !dividerRan && dividerRuns && isRunning {
                adoptRegisters(at: now, fraction: Self.second / 2)
            } else if wasRunning && !isRunning {
                storeTime(baseEpoch / Self.second)
            }
            periodicCollected = now
        case 0x0B:
            let wasRunning = isRunning
            if wasRunning { storeTime(guestTime(at: now) / Self.second) }
            sync(at: now)
            var newValue = value
            if newValue & 0x80 != 0 { newValue &= ~0x10 }  // SET clears UIE
            let formatChanged = (cmos[0x0B] ^ newValue) & 0x06 != 0
            let timeSeconds = registersToSeconds()
            cmos[0x0B] = newValue
            if formatChanged { storeTime(timeSeconds) }
            if !wasRunning && isRunning {
                adoptRegisters(at: now, fraction: baseEpoch % Self.second)
            }
            flags = recomputedIRQF(flags)
        case 0x0C, 0x0D: break  // read-only
        default: cmos[index & 0x7F] = value
        }
    }

    /// Takes the time registers as the new time, `fraction` ns into its second.
    mutating func adoptRegisters(at now: UInt64, fraction: UInt64) {
        baseEpoch = registersToSeconds() &* Self.second &+ fraction
        baseClock = now
        flagsCollected = baseEpoch
    }

    // MARK: Flags

    /// Sets PF, UF and AF for every event up to `now`, then IRQF.
    mutating func collectFlags(at now: UInt64) {
        let period = periodicInterval
        if let period, now > periodicCollected {
            let periods = (now - periodicCollected) / period
            if periods > 0 {
                flags |= 0x40
                periodicCollected += periods * period
            }
        } else if period == nil {
            periodicCollected = now
        }
        let time = guestTime(at: now)
        if isRunning && time / Self.second > flagsCollected / Self.second {
            flags |= 0x10
            // Each second updated since the last collection may match the alarm; a day covers
            // every pattern, so at most one day of seconds is examined.
            let last = time / Self.second
            let first = max(flagsCollected / Self.second + 1, last >= 86_400 ? last - 86_399 : 0)
            for second in first...last where alarmMatches(second) {
                flags |= 0x20
                break
            }
        }
        if isRunning || time > flagsCollected { flagsCollected = max(flagsCollected, time) }
        flags = recomputedIRQF(flags)
    }

    func recomputedIRQF(_ flags: UInt8) -> UInt8 {
        let enabled = flags & registerB & 0x70
        return enabled != 0 ? flags | 0x80 : flags & 0x7F
    }

    /// The periodic interrupt's period in ns, or nil when RS is 0 or the divider is stopped.
    var periodicInterval: UInt64? {
        let select = registerA & 0x0F
        guard select != 0, dividerRuns else { return nil }
        let shift = select <= 2 ? select + 7 : select - 1
        return (Self.second << UInt64(shift)) / 32_768
    }

    func alarmMatches(_ epochSecond: UInt64) -> Bool {
        let ofDay = epochSecond % 86_400
        let fields = [(0x01, ofDay % 60), (0x03, ofDay / 60 % 60), (0x05, ofDay / 3600)]
        for (register, actual) in fields {
            let alarm = cmos[register]
            if alarm & 0xC0 == 0xC0 { continue }
            let decoded = register == 0x05 ? decodeHour(alarm) : decode(alarm)
            if UInt64(decoded) != actual { return false }
        }
        return true
    }

    /// The clock time of the next enabled interrupt that is not yet flagged, or nil.
    func nextInterruptTime(after now: UInt64) -> UInt64? {
        var next: UInt64?
        if registerB & 0x40 != 0, flags & 0x40 == 0, let period = periodicInterval {
            next = periodicCollected &+ period
        }
        if registerB & 0x30 != 0, isRunning {
            let time = guestTime(at: now)
            let untilSecond = Self.second - time % Self.second
            let at = now &+ untilSecond
            next = min(next ?? at, at)
        }
        return next
    }

    // MARK: Time registers

    func encode(_ value: Int) -> UInt8 {
        isBinary ? UInt8(value) : UInt8((value / 10) << 4 | value % 10)
    }

    func decode(_ value: UInt8) -> Int {
        isBinary ? Int(value) : Int(value >> 4) * 10 + Int(value & 0x0F)
    }

    func decodeHour(_ value: UInt8) -> Int {
        guard !is24Hour else { return decode(value) }
        let hour12 = decode(value & 0x7F) % 12
        return value & 0x80 != 0 ? hour12 + 12 : hour12
    }

    func encodeHour(_ hour: Int) -> UInt8 {
        guard !is24Hour else { return encode(hour) }
        let hour12 = hour % 12 == 0 ? 12 : hour % 12
        return encode(hour12) | (hour >= 12 ? 0x80 : 0)
    }

    mutating func storeTime(_ epochSecond: UInt64) {
        let date = CivilDate(epochDay: Int64(epochSecond / 86_400))
        let ofDay = Int(epochSecond % 86_400)
        cmos[0x00] = encode(ofDay % 60)
        cmos[0x02] = encode(ofDay / 60 % 60)
        cmos[0x04] = encodeHour(ofDay / 3600)
        cmos[0x06] = UInt8(date.weekday + 1)
        cmos[0x07] = encode(date.day)
        cmos[0x08] = encode(date.month)
        cmos[0x09] = encode(Int(date.year % 100))
        cmos[0x32] = encode(Int(date.year / 100 % 100))
    }

    /// The latest year the clock keeps (its time in nanoseconds must fit 64 bits).
    static let latestYear: Int64 = 2499

    /// The time the registers show, in seconds since the epoch. Out-of-range fields are
    /// clamped (years to 1970...``latestYear``), so any guest value gives some time rather than
    /// a fault.
    func registersToSeconds() -> UInt64 {
        let second = min(decode(cmos[0x00]), 59)
        let minute = min(decode(cmos[0x02]), 59)
        let hour = min(decodeHour(cmos[0x04]), 23)
        let day = max(1, min(decode(cmos[0x07]), 31))
        let month = max(1, min(decode(cmos[0x08]), 12))
        let year = Int64(min(decode(cmos[0x32]), 99) * 100 + min(decode(cmos[0x09]), 99))
        let days = max(0, CivilDate.epochDay(year: min(max(year, 1970), Self.latestYear), month: month, day: day))
        return UInt64(days) * 86_400 + UInt64(hour * 3600 + minute * 60 + second)
    }
}

/// A proleptic Gregorian calendar date and its day number from 1970-01-01.
struct CivilDate: Equatable {
    var year: Int64
    var month: Int
    var day: Int
    /// 0 = Sunday.
    var weekday: Int

    /// The date `epochDay` days after 1970-01-01 (which was a Thursday).
    init(epochDay: Int64) {
        // Count in 400-year eras of 146 097 days starting on 0000-03-01, so leap days end a year.
        let shifted = epochDay + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153  // 0 = March
        day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let w = (epochDay + 4) % 7
        weekday = Int(w >= 0 ? w : w + 7)
    }

    /// Days from 1970-01-01 to the given date.
    static func epochDay(year: Int64, month: Int, day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month > 2 ? month - 3 : month + 9)
        let dayOfYear = (153 * m + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
