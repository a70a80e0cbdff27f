import EmuCore
import Synchronization

/// The PC's Intel 8254 programmable interval timer at ports 0x40–0x43: three 16-bit down
/// counters clocked at 1.193182 MHz. Channel 0's output is ISA IRQ 0; channel 1 (DRAM refresh on
/// old PCs) has no output here; channel 2's gate and output are bits 0 and 5 of port 0x61 (see
/// ``SystemControlPortB``).
///
/// Modelled: all six modes (0 interrupt on terminal count, 1 hardware one-shot, 2 rate
/// generator, 3 square wave, 4 software strobe, 5 hardware strobe; 6 and 7 alias 2 and 3),
/// binary and BCD counting, LSB/MSB/LSB-then-MSB access with its read and write flip-flops, the
/// counter-latch command, the read-back command (count and status, with OUT and null count),
/// and gates: level gating of modes 0, 2, 3 and 4, edge triggering of modes 1, 2, 3 and 5.
///
/// The counters are not stepped: count and OUT are computed from the clock when read, so any
/// rate reads exactly. Left out: the one-clock delay between writing a count and the counter
/// loading it, a new count in modes 2 and 3 waiting for the end of the current period (it takes
/// effect at once), and odd counts in mode 3 (the halves are rounded as if the count were even
/// for the count read back; OUT's high half is the longer one, as on the chip).
///
/// Time comes from the injected clock; channel 0's output is driven by one ``LoopTimer`` on
/// that clock, armed for the output's next change and never sooner than
/// ``minimumEventInterval`` after the previous service. Missed ticks are coalesced: when one
/// service finds that several periods elapsed (a fast rate, or a host that fell behind), it
/// delivers one rising edge on IRQ 0, not one per period. The rate of IRQ 0 edges, and of
/// host timer events, is therefore at most 1 / ``minimumEventInterval`` whatever the guest
/// programs.
public final class IntervalTimer: PortIODevice {
    public let name: String
    /// The counters' input clock in Hz.
    public static let inputFrequency: UInt64 = 1_193_182
    /// The shortest time (nanoseconds) between two services of channel 0's output: 100 µs, at
    /// most 10 000 IRQ 0 edges per second.
    public static let minimumEventInterval: UInt64 = 100_000
    /// Channel 0's OUT, ISA IRQ 0.
    public let output: IRQLine
    /// The counters' time base on the machine clock.
    public let timeBase: TimestampCounterBase
    private let state: Mutex<PITState>
    private let timer = Mutex<LoopTimer?>(nil)

    public let portRanges: [PortRange] = [.fixed(0x40, 4)]

    /// Creates the timer in its power-on state: every channel in mode 3 with a count of 65536,
    /// counting from now; gates of channels 0 and 1 high, channel 2's low.
    /// - Parameters:
    ///   - clock: the machine's clock; the counters advance with it.
    ///   - loop: the loop whose timer drives channel 0's output.
    ///   - output: channel 0's OUT, wired to ISA IRQ 0 (the PIC's input 0 and the IOAPIC's pin 2).
    public init(name: String = "pit", clock: any EmuClock, loop: EventLoop, output: IRQLine) {
        self.name = name
        self.output = output
        self.timeBase = TimestampCounterBase(clock: clock, frequency: Self.inputFrequency)
        self.state = Mutex(PITState(now: timeBase.now))
        let timer = loop.makeTimer(on: clock) { [weak self] in self?.serviceChannel0() }
        self.timer.withLock { $0 = timer }
        serviceChannel0()
    }

    public func readPort(_ port: UInt16) -> UInt8 {
        let index = Int(port & 3)
        guard index < 3 else { return 0xFF }  // the control word register is write-only
        let now = timeBase.now
        return state.withLock { $0.channels[index].readByte(now: now) }
    }

    public func writePort(_ port: UInt16, value: UInt8) {
        let now = timeBase.now
        state.withLock { state in
            let index = Int(port & 3)
            if index < 3 {
                state.channels[index].writeByte(value, now: now)
            } else {
                state.writeControl(value, now: now)
            }
        }
        serviceChannel0()
    }

    /// Sets the gate input of `channel` (0–2); other channels are ignored. On the PC only
    /// channel 2's gate is wired (port 0x61 bit 0); 0 and 1 are tied high.
    public func setGate(channel: Int, level: Bool) {
        guard (0..<3).contains(channel) else { return }
        let now = timeBase.now
        state.withLock { $0.channels[channel].setGate(level, now: now) }
        if channel == 0 { serviceChannel0() }
    }

    /// The gate input of `channel` (0–2); `false` for other numbers.
    public func gate(channel: Int) -> Bool {
        guard (0..<3).contains(channel) else { return false }
        return state.withLock { $0.channels[channel].gate }
    }

    /// The level of OUT of `channel` (0–2) now, computed from the clock; `false` for others.
    public func outputLevel(channel: Int) -> Bool {
        guard (0..<3).contains(channel) else { return false }
        let now = timeBase.now
        return state.withLock { $0.channels[channel].out(now: now) }
    }

    /// Returns to the power-on state. The channel 2 gate is lowered too.
    public func reset(_ kind: ResetKind) {
        let now = timeBase.now
        state.withLock { $0 = PITState(now: now) }
        serviceChannel0()
    }

    /// Brings IRQ 0 up to date with channel 0 and arms the timer for its next change.
    private func serviceChannel0() {
        let nowNanoseconds = timeBase.clock.now
        let now = timeBase.ticks(atNanoseconds: nowNanoseconds)
        let next: UInt64? = state.withLock { state in
            let channel = state.channels[0]
            if channel.epoch != state.deliveredEpoch {
                state.deliveredEpoch = channel.epoch
                state.deliveredRises = 0
            }
            let elapsed = channel.elapsed(now: now)
            let rises = elapsed.map { channel.risingEdges(elapsed: $0) } ?? 0
            let level = channel.out(now: now)
            if rises > state.deliveredRises {
                state.deliveredRises = rises
                if output.level { output.lower() }
                output.raise()
            }
            output.set(level)
            guard let elapsed, let change = channel.nextChange(elapsed: elapsed) else { return nil }
            let (tick, overflow) = channel.startTick.addingReportingOverflow(change)
            return overflow ? nil : tick
        }
        let armed = timer.withLock { $0 }
        guard let next else {
            armed?.cancel()
            return
        }
        let earliest = nowNanoseconds.addingReportingOverflow(Self.minimumEventInterval)
        let floor = earliest.overflow ? UInt64.max : earliest.partialValue
        armed?.arm(at: max(timeBase.nanoseconds(atTicks: next), floor))
    }
}

/// The three channels and what channel 0's output has delivered.
struct PITState {
    var channels: [PITChannel]
    /// Rising edges of channel 0 delivered on IRQ 0 since its counting epoch began.
    var deliveredRises: UInt64 = 0
    var deliveredEpoch: UInt64 = 0

    init(now: UInt64) {
        channels = (0..<3).map { PITChannel(gate: $0 != 2, now: now) }
        deliveredEpoch = channels[0].epoch
    }

    mutating func writeControl(_ value: UInt8, now: UInt64) {
        let select = Int(value >> 6)
        guard select == 3 else {
            if value & 0x30 == 0 {
                channels[select].latchCount(now: now)
            } else {
                channels[select].program(control: value)
            }
            return
        }
        // Read-back: bit 5 clear latches counts, bit 4 clear latches statuses; bits 3:1 select.
        for index in 0..<3 where value & (2 << UInt8(index)) != 0 {
            if value & 0x10 == 0 { channels[index].latchStatus(now: now) }
            if value & 0x20 == 0 { channels[index].latchCount(now: now) }
        }
    }
}

/// One 8254 counter. Times are in input-clock ticks on the machine clock.
struct PITChannel {
    var mode: UInt8 = 3
    /// 1 LSB only, 2 MSB only, 3 LSB then MSB.
    var access: UInt8 = 3
    var bcd = false
    /// The count in effect: 1...65536 (1...10000 in BCD).
    var reload: UInt32 = 65536
    /// A count has been written since the control word.
    var loaded = true
    var nullCount = false
    var gate: Bool
    /// When counting (re)started.
    var startTick: UInt64
    /// Modes 1 and 5: a gate edge has started the count.
    var triggered = false
    /// The elapsed ticks where a low gate stopped counting.
    var frozen: UInt64?
    /// Changes each time counting restarts, so the output's edges are counted afresh.
    var epoch: UInt64 = 0
    var writeHighNext = false
    var pendingLow: UInt8 = 0
    var readHighNext = false
    var latchedBytes: [UInt8] = []
    var latchedStatus: UInt8?

    init(gate: Bool, now: UInt64) {
        self.gate = gate
        self.startTick = now
        self.frozen = gate ? nil : 0
    }

    var modulus: UInt32 { bcd ? 10_000 : 65_536 }
    var isHardwareTriggered: Bool { mode == 1 || mode == 5 }

    mutating func program(control: UInt8) {
        access = (control >> 4) & 3
        mode = (control >> 1) & 7
        if mode >= 6 { mode -= 4 }
        bcd = control & 1 != 0
        loaded = false
        nullCount = true
        writeHighNext = false
        readHighNext = false
        latchedBytes = []
        latchedStatus = nil
        epoch &+= 1
    }

    /// Ticks counted since the start, or nil when the counter is not counting at all.
    func elapsed(now: UInt64) -> UInt64? {
        guard loaded else { return nil }
        if let frozen { return frozen }
        if isHardwareTriggered && !triggered { return nil }
        return now >= startTick ? now - startTick : 0
    }

    func out(now: UInt64) -> Bool {
        guard loaded else { return mode != 0 }
        guard let elapsed = elapsed(now: now) else { return true }
        switch mode {
        case 0, 1: return elapsed >= UInt64(reload)
        case 2:
            if !gate || reload == 1 { return true }
            return elapsed % UInt64(reload) != UInt64(reload) - 1
        case 3:
            if !gate { return true }
            return elapsed % UInt64(reload) < (UInt64(reload) + 1) / 2
        default: return elapsed != UInt64(reload)
        }
    }

    /// Rising edges of OUT after `elapsed` ticks of counting.
    func risingEdges(elapsed: UInt64) -> UInt64 {
        let count = UInt64(reload)
        switch mode {
        case 0, 1: return elapsed >= count ? 1 : 0
        case 2, 3: return frozen == nil ? elapsed / count : 0
        default: return elapsed > count ? 1 : 0
        }
    }

    /// The elapsed tick count at which OUT next changes or rises, or nil if it never will.
    func nextChange(elapsed: UInt64) -> UInt64? {
        let count = UInt64(reload)
        guard frozen == nil else { return nil }
        switch mode {
        case 0, 1: return elapsed < count ? count : nil
        case 2:
            let phase = elapsed % count
            if count == 1 || phase == count - 1 { return elapsed + 1 }
            return elapsed - phase + count - 1
        case 3:
            let phase = elapsed % count
            let half = (count + 1) / 2
            return phase < half ? elapsed - phase + half : elapsed - phase + count
        default:
            if elapsed < count { return count }
            return elapsed == count ? count + 1 : nil
        }
    }

    /// The counting element as the guest reads it (BCD-encoded in BCD mode).
    func count(now: UInt64) -> UInt16 {
        let modulus = UInt64(self.modulus)
        let count = UInt64(reload)
        let value: UInt64
        if let elapsed = elapsed(now: now) {
            switch mode {
            case 2: value = count - elapsed % count
            case 3: value = count - (2 * (elapsed % count)) % count
            default: value = (count + modulus - elapsed % modulus) % modulus
            }
        } else {
            value = count
        }
        let wrapped = value % modulus
        return bcd ? Self.toBCD(UInt16(wrapped)) : UInt16(truncatingIfNeeded: wrapped)
    }

    mutating func latchCount(now: UInt64) {
        guard latchedBytes.isEmpty else { return }  // the first latch holds until read
        let value = count(now: now)
        switch access {
        case 1: latchedBytes = [UInt8(value & 0xFF)]
        case 2: latchedBytes = [UInt8(value >> 8)]
        default: latchedBytes = [UInt8(value & 0xFF), UInt8(value >> 8)]
        }
    }

    mutating func latchStatus(now: UInt64) {
        guard latchedStatus == nil else { return }
        latchedStatus = (out(now: now) ? 0x80 : 0) | (nullCount ? 0x40 : 0) | access << 4 | mode << 1 | (bcd ? 1 : 0)
    }

    mutating func readByte(now: UInt64) -> UInt8 {
        if let status = latchedStatus {
            latchedStatus = nil
            return status
        }
        if !latchedBytes.isEmpty { return latchedBytes.removeFirst() }
        let value = count(now: now)
        switch access {
        case 1: return UInt8(value & 0xFF)
        case 2: return UInt8(value >> 8)
        default:
            defer { readHighNext.toggle() }
            return readHighNext ? UInt8(value >> 8) : UInt8(value & 0xFF)
        }
    }

    mutating func writeByte(_ value: UInt8, now: UInt64) {
        switch access {
        case 1: load(UInt16(value), now: now)
        case 2: load(UInt16(value) << 8, now: now)
        case 3:
            if writeHighNext {
                writeHighNext = false
                load(UInt16(pendingLow) | UInt16(value) << 8, now: now)
            } else {
                writeHighNext = true
                pendingLow = value
                if mode == 0 { loaded = false }  // the first byte stops a mode 0 count
            }
        default: break  // no access mode chosen yet: the write goes nowhere
        }
    }

    private mutating func load(_ raw: UInt16, now: UInt64) {
        var value = bcd ? UInt32(Self.fromBCD(raw)) : UInt32(raw)
        if value == 0 || value > modulus { value = modulus }
        reload = value
        loaded = true
        nullCount = false
        startTick = now
        triggered = false
        frozen = gate || isHardwareTriggered ? nil : 0
        epoch &+= 1
    }

    mutating func setGate(_ level: Bool, now: UInt64) {
        defer { gate = level }
        guard level != gate else { return }
        let current = elapsed(now: now)
        switch (mode, level) {
        case (1, true), (5, true), (2, true), (3, true):
            startTick = now
            triggered = true
            frozen = nil
            epoch &+= 1
        case (0, true), (4, true):
            if let frozen {
                startTick = now >= frozen ? now - frozen : 0
                self.frozen = nil
            }
        case (0, false), (4, false), (2, false), (3, false):
            frozen = current ?? 0
        default: break
        }
    }

    static func toBCD(_ value: UInt16) -> UInt16 {
        let v = value % 10_000
        return (v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10
    }

    static func fromBCD(_ value: UInt16) -> UInt16 {
        (value >> 12) * 1000 + (value >> 8 & 0xF) * 100 + (value >> 4 & 0xF) * 10 + (value & 0xF)
    }
}
