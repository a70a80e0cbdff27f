import Testing
import Synchronization
import EmuCore
@testable import EmuPC

@Suite("ACPI PM block and reset register")
struct ACPIPowerManagementTests {
    final class Recorder: Sendable {
        let requests = Mutex<[ACPIPowerManagement.SleepRequest]>([])
        let resets = Mutex<[Bool]>([])
    }

    static func make(loop: EventLoop? = nil) -> (ACPIPowerManagement, VirtualClock, IRQLine, Recorder) {
        let clock = VirtualClock()
        let sci = IRQLine(unconnected: "sci")
        let recorder = Recorder()
        let pm = ACPIPowerManagement(clock: clock, sci: sci, loop: loop) { request in
            recorder.requests.withLock { $0.append(request) }
        }
        return (pm, clock, sci, recorder)
    }

    @Test func timerCountsAt3579545HzAndWrapsAt32Bits() {
        let (pm, clock, _, _) = Self.make()
        #expect(pm.read(offset: 8, size: 4) == 0)
        clock.step(by: 1_000_000_000)
        #expect(pm.read(offset: 8, size: 4) == 3_579_545)
        clock.step(by: 1_000_000)
        #expect(pm.read(offset: 8, size: 4) == 3_579_545 + 3_579)  // 3579.545 ticks per ms, truncated
        // Byte reads see the same counter (the clock is paused).
        let bytes = (0..<4).map { pm.read(offset: 8 + UInt64($0), size: 1) }
        #expect(bytes.enumerated().reduce(0) { $0 | $1.element << (8 * UInt64($1.offset)) } == pm.read(offset: 8, size: 4))
        // After 2^32 ticks (about 1200 s) the counter wraps.
        let wrap = ACPIPowerManagement.nanoseconds(atTicks: 1 << 32)
        clock.advance(to: wrap)
        #expect(pm.read(offset: 8, size: 4) < 4)
        #expect(ACPIPowerManagement.ticks(at: wrap) == 1 << 32)
        #expect(ACPIPowerManagement.ticks(at: wrap - 1) == (1 << 32) - 1)
        // Far in the future the arithmetic does not overflow.
        let seconds = UInt64.max / 1_000_000_000
        #expect(ACPIPowerManagement.ticks(at: .max) / ACPIPowerManagement.timerFrequency == seconds)
    }

    @Test func timerStatusIsSetWhenBit31Changes() {
        let (pm, clock, sci, _) = Self.make()
        #expect(pm.read(offset: 0, size: 2) & 1 == 0)
        clock.advance(to: ACPIPowerManagement.nanoseconds(atTicks: 1 << 31) - 1)
        #expect(pm.read(offset: 0, size: 2) & 1 == 0)
        clock.step(by: 2)
        #expect(pm.read(offset: 0, size: 2) & 1 == 1, "TMR_STS")
        #expect(!sci.level, "TMR_EN clear")
        pm.write(offset: 0, size: 2, value: 1)
        #expect(pm.read(offset: 0, size: 2) & 1 == 0, "write 1 to clear")
    }

    @Test func timerOverflowRaisesTheSCIThroughTheLoopWhenEnabled() {
        let loop = EventLoop(name: "pm-test")
        let (pm, clock, sci, _) = Self.make(loop: loop)
        pm.write(offset: 2, size: 2, value: 1)  // TMR_EN
        #expect(!sci.level)
        clock.advance(to: ACPIPowerManagement.nanoseconds(atTicks: 1 << 31))
        _ = loop.run(timeout: 2_000_000_000) { sci.level }
        #expect(sci.level, "SCI on timer overflow")
        pm.write(offset: 0, size: 2, value: 1)
        #expect(!sci.level)
    }

    @Test func powerButtonRaisesTheSCIOnlyWhenEnabled() {
        let (pm, _, sci, _) = Self.make()
        pm.pressPowerButton()
        #expect(pm.read(offset: 0, size: 2) & 0x100 != 0 && !sci.level, "PWRBTN_EN clear")
        pm.write(offset: 3, size: 1, value: 0x01)  // PWRBTN_EN through the high byte
        #expect(pm.read(offset: 2, size: 2) == 0x100)
        #expect(sci.level)
        pm.write(offset: 0, size: 2, value: 0x100)  // the guest's handler clears the status
        #expect(!sci.level && pm.read(offset: 0, size: 2) & 0x100 == 0)
        pm.write(offset: 4, size: 2, value: 0)  // SCI_EN cleared: events no longer interrupt
        pm.pressPowerButton()
        #expect(!sci.level)
        pm.write(offset: 4, size: 2, value: 1)
        #expect(sci.level)
    }

    @Test func sleepEnableRequestsPowerOffOrSleep() {
        let (pm, _, _, recorder) = Self.make()
        #expect(pm.read(offset: 4, size: 2) == 1, "SCI_EN set at reset")
        pm.write(offset: 4, size: 2, value: 1 | 5 << 10)  // SLP_TYP alone
        #expect(recorder.requests.withLock { $0 }.isEmpty)
        #expect(pm.read(offset: 4, size: 2) == 1 | 5 << 10)
        pm.write(offset: 4, size: 2, value: 1 | 5 << 10 | 1 << 13)
        #expect(recorder.requests.withLock { $0 } == [.powerOff])
        #expect(pm.read(offset: 4, size: 2) & (1 << 13) == 0, "SLP_EN reads 0")
        pm.write(offset: 5, size: 1, value: UInt64(1 << 2 | 1 << 5))  // SLP_TYP 1 with SLP_EN, high byte only
        #expect(recorder.requests.withLock { $0 } == [.powerOff, .sleep(type: 1)])
        pm.reset(.warm)
        #expect(pm.read(offset: 4, size: 2) == 1 && pm.read(offset: 2, size: 2) == 0)
    }

    @Test func unassignedBytesReadZeroAndIgnoreWrites() {
        let (pm, clock, _, _) = Self.make()
        clock.step(by: 1_000_000)
        pm.write(offset: 6, size: 2, value: 0xFFFF)
        pm.write(offset: 8, size: 4, value: 0)
        #expect(pm.read(offset: 6, size: 2) == 0)
        #expect(pm.read(offset: 8, size: 4) == 3_579, "the timer is read-only")
        #expect(pm.read(offset: 12, size: 4) == 0)
    }

    @Test func resetControlRegisterStartsResetsOnBit2() {
        let recorder = Recorder()
        let rcr = ResetControlRegister { hard in recorder.resets.withLock { $0.append(hard) } }
        rcr.write(offset: 0, size: 1, value: 0x02)
        #expect(recorder.resets.withLock { $0 }.isEmpty && rcr.read(offset: 0, size: 1) == 0x02)
        rcr.write(offset: 0, size: 1, value: 0x06)
        rcr.write(offset: 0, size: 1, value: 0x04)
        #expect(recorder.resets.withLock { $0 } == [true, false])
        #expect(rcr.read(offset: 0, size: 1) == 0, "bit 2 reads 0")
    }
}
