import Testing
import EmuCore
@testable import EmuPC

@Suite("Local APIC timer")
struct LocalAPICTimerTests {
    @Test func oneShotFiresAfterInitialCountTimesDivisor() throws {
        let rig = try APICRig()
        rig.enable()
        rig.write(0x3E0, 0x3)  // divide by 16
        rig.write(0x320, 0x30)  // one-shot, vector 0x30
        rig.write(0x380, 1000)
        #expect(rig.read(0x390) == 1000)
        rig.advance(by: 8000)
        #expect(rig.read(0x390) == 500, "one count per 16 ns")
        rig.advance(by: 7999)
        #expect(!rig.requested(0x30), "not before 16,000 ns")
        rig.advance(by: 1)
        #expect(rig.requested(0x30))
        #expect(rig.read(0x390) == 0)
        #expect(rig.drain() == [0x30])
        rig.advance(by: 1_000_000)
        #expect(!rig.requested(0x30), "one shot only")
    }

    @Test func divideConfigurationSelectsOneToOneHundredTwentyEight() throws {
        let rig = try APICRig()
        rig.enable()
        for (code, divisor) in [(0xB, 1), (0x0, 2), (0x1, 4), (0x2, 8), (0x3, 16), (0x8, 32), (0x9, 64), (0xA, 128)] as [(UInt32, UInt32)] {
            rig.write(0x3E0, code)
            #expect(rig.read(0x3E0) == code)
            rig.write(0x380, 1_000_000)
            rig.advance(by: UInt64(1000 * divisor))
            #expect(rig.read(0x390) == 1_000_000 - 1000, "divide code \(code)")
        }
        rig.write(0x3E0, 0xFFFF_FFFF)
        #expect(rig.read(0x3E0) == 0xB, "only bits 0, 1 and 3 exist")
    }

    @Test func periodicFiresEveryPeriodAndReloads() throws {
        let rig = try APICRig()
        rig.enable()
        rig.write(0x3E0, 0xB)  // divide by 1
        rig.write(0x320, 0x2_0031)  // periodic, vector 0x31
        rig.write(0x380, 100_000)  // 100 µs
        var fired: [Int] = []
        for step in 1...10 {
            rig.advance(by: 25_000)
            if rig.requested(0x31) {
                fired.append(step)
                #expect(rig.drain() == [0x31])
            }
        }
        #expect(fired == [4, 8], "every 100 µs")
        #expect(rig.read(0x390) == 50_000, "counting down again after the reload")
        rig.write(0x380, 0)
        rig.advance(by: 1_000_000)
        #expect(!rig.requested(0x31), "an initial count of 0 stops the timer")
    }

    @Test func maskedTimerCountsButDoesNotInterrupt() throws {
        let rig = try APICRig()
        rig.enable()
        rig.write(0x3E0, 0xB)
        rig.write(0x320, 0x1_0032)
        rig.write(0x380, 1000)
        rig.advance(by: 2000)
        #expect(!rig.requested(0x32))
        #expect(rig.read(0x390) == 0)
    }

    @Test func tscDeadlineModeFiresWhenTheTSCReachesTheDeadline() throws {
        let rig = try APICRig()
        rig.enable()
        #expect(rig.lapic.writeMSR(0x6E0, value: 1), "ignored outside TSC-deadline mode")
        #expect(rig.lapic.readMSR(0x6E0) == 0)
        rig.write(0x320, 0x4_0033)  // TSC-deadline, vector 0x33
        rig.write(0x380, 5)
        #expect(rig.read(0x380) == 0, "the initial count is ignored in TSC-deadline mode")
        let deadline = rig.timeBase.now + 2500  // 1 µs at 2.5 GHz
        #expect(rig.lapic.writeMSR(0x6E0, value: deadline))
        #expect(rig.lapic.readMSR(0x6E0) == deadline)
        rig.advance(by: 999)
        #expect(!rig.requested(0x33))
        rig.advance(by: 1)
        #expect(rig.requested(0x33))
        #expect(rig.lapic.readMSR(0x6E0) == 0, "the deadline disarms when it fires")
        #expect(rig.drain() == [0x33])
        #expect(rig.lapic.writeMSR(0x6E0, value: 1))
        #expect(rig.requested(0x33), "a deadline already passed fires at once")
        #expect(rig.drain() == [0x33])
        #expect(rig.lapic.writeMSR(0x6E0, value: rig.timeBase.now + 10_000))
        #expect(rig.lapic.writeMSR(0x6E0, value: 0))
        rig.advance(by: 1_000_000)
        #expect(!rig.requested(0x33), "writing 0 disarms")
        #expect(rig.lapic.writeMSR(0x6E0, value: rig.timeBase.now + 10_000))
        rig.write(0x320, 0x0_0033)  // back to one-shot: disarms
        rig.advance(by: 1_000_000)
        #expect(!rig.requested(0x33))
    }

    @Test func periodicTimerWithInitialCountOneIsRateLimited() throws {
        let rig = try APICRig()
        rig.enable()
        rig.write(0x3E0, 0xB)
        rig.write(0x320, 0x2_0034)
        rig.write(0x380, 1)
        #expect(rig.read(0x390) == 1)
        rig.advance(by: 1_000_000_000)
        #expect(rig.drain() == [0x34], "a second of 1 ns periods coalesces into one interrupt")
        rig.advance(by: LocalAPICTimer.minimumPeriodicInterval - 1)
        #expect(!rig.requested(0x34), "not again before the minimum interval")
        rig.advance(by: 1)
        #expect(rig.requested(0x34))
    }

    @Test func periodicTimerWithInitialCountOneOnARunningClockDoesNotHangTheLoop() throws {
        let rig = try APICRig(running: true)
        rig.enable()
        rig.write(0x3E0, 0xB)
        rig.write(0x320, 0x2_0035)
        rig.write(0x380, 1)
        var iterations = 0
        let finished = rig.loop.run(timeout: 20_000_000) {
            iterations += 1
            return false
        }
        #expect(!finished, "the loop ran until its timeout and returned")
        #expect(rig.requested(0x35))
    }

    @Test func extremeTimerValuesNeitherOverflowNorFireEarly() throws {
        let rig = try APICRig()
        rig.enable()
        rig.write(0x3E0, 0xA)  // divide by 128
        rig.write(0x320, 0x36)
        rig.write(0x380, 0xFFFF_FFFF)
        rig.advance(by: 1 << 38)
        #expect(!rig.requested(0x36), "2^32 counts of 128 ns are 2^39 ns")
        rig.advance(by: 1 << 38)
        #expect(rig.requested(0x36))
        rig.write(0x320, 0x4_0036)
        #expect(rig.lapic.writeMSR(0x6E0, value: .max))
        rig.advance(by: 1 << 40)
        #expect(rig.lapic.readMSR(0x6E0) == .max, "a deadline at the end of time stays armed")
        #expect(rig.drain() == [0x36])
    }

    @Test func timerRateIsTheCrystalReportedInCPUID15() throws {
        #expect(LocalAPIC.timerFrequency == 1_000_000_000)
        let leaf = try #require(LocalAPIC.cpuidLeaf15(for: TimestampCounterBase(clock: VirtualClock(), frequency: 2_500_000_000)))
        #expect(leaf.ecx == 1_000_000_000)
        #expect(UInt64(leaf.ebx) * 1_000_000_000 / UInt64(leaf.eax) == 2_500_000_000)
        #expect(leaf.eax == 2 && leaf.ebx == 5)
        let odd = try #require(LocalAPIC.cpuidLeaf15(for: TimestampCounterBase(clock: VirtualClock(), frequency: 2_394_123_457)))
        #expect(UInt64(odd.ebx) * 1_000_000_000 == 2_394_123_457 * UInt64(odd.eax))
    }
}
