import Testing
@testable import EmuCore

@Suite("Timers and clocks")
struct TimerTests {
    @Test func hostTimerFiresAfterItsDeadlineAndOnce() {
        let loop = EventLoop()
        let fired = Recorder<UInt64>()
        let start = HostClock.shared.now
        let timer = loop.makeTimer(on: HostClock.shared) { fired.append(HostClock.shared.now) }
        timer.arm(after: 5_000_000)
        #expect(timer.isArmed)
        #expect(loop.run(timeout: 2_000_000_000) { fired.count == 1 })
        #expect(fired.all[0] >= start + 5_000_000, "never early")
        #expect(!timer.isArmed)
        loop.run(timeout: 20_000_000) { false }
        #expect(fired.count == 1, "one-shot")
    }

    @Test func cancelledTimerDoesNotFire() {
        let loop = EventLoop()
        let fired = Recorder<Int>()
        let timer = loop.makeTimer(on: HostClock.shared) { fired.append(1) }
        timer.arm(after: 1_000_000)
        timer.cancel()
        loop.run(timeout: 20_000_000) { false }
        #expect(fired.count == 0)
    }

    @Test func virtualTimerFiresOnlyWhenTheClockIsSteppedPastItsDeadline() {
        let loop = EventLoop()
        let clock = VirtualClock()
        let fired = Recorder<UInt64>()
        let timer = loop.makeTimer(on: clock) { fired.append(clock.now) }
        timer.arm(at: 100)
        loop.run(timeout: 10_000_000) { false }
        #expect(fired.count == 0, "a paused clock does not reach the deadline")
        clock.step(by: 50)
        loop.iterate()
        #expect(fired.count == 0)
        clock.step(by: 50)
        loop.iterate()
        #expect(fired.all == [100])
    }

    @Test func dueVirtualTimersRunInDeadlineOrder() {
        let loop = EventLoop()
        let clock = VirtualClock()
        let order = Recorder<String>()
        let timers = [("c", UInt64(30)), ("a", 10), ("b", 20), ("later", 1_000)].map { name, deadline in
            let timer = loop.makeTimer(on: clock) { order.append(name) }
            timer.arm(at: deadline)
            return timer
        }
        clock.step(by: 100)
        loop.iterate()
        #expect(order.all == ["a", "b", "c"])
        #expect(timers[3].isArmed)
    }

    @Test func timerRearmedFromItsHandlerIsPeriodic() {
        let loop = EventLoop()
        let clock = VirtualClock()
        let ticks = Recorder<UInt64>()
        let holder = TimerHolder()
        holder.timer = loop.makeTimer(on: clock) {
            ticks.append(clock.now)
            holder.timer?.arm(after: 10)
        }
        holder.timer?.arm(at: 10)
        for _ in 0..<5 { clock.step(by: 10); loop.iterate() }
        #expect(ticks.all == [10, 20, 30, 40, 50])
    }

    @Test func runningVirtualClockFiresByItselfAndPauseFreezesIt() {
        let loop = EventLoop()
        let clock = VirtualClock(running: true)
        let fired = Recorder<Int>()
        let timer = loop.makeTimer(on: clock) { fired.append(1) }
        timer.arm(after: 2_000_000)
        #expect(loop.run(timeout: 2_000_000_000) { fired.count == 1 })
        clock.pause()
        let frozen = clock.now
        timer.arm(after: 1_000_000)
        loop.run(timeout: 20_000_000) { false }
        #expect(fired.count == 1, "paused: the timer waits")
        #expect(clock.now == frozen)
        clock.resume()
        #expect(loop.run(timeout: 2_000_000_000) { fired.count == 2 })
    }

    @Test func virtualClockNeverGoesBackAndSaturates() {
        let clock = VirtualClock(start: 1_000)
        clock.advance(to: 10)
        #expect(clock.now == 1_000)
        clock.step(by: .max)
        #expect(clock.now == .max)
        #expect(clock.hostTime(reaching: 5) != nil, "a passed deadline is due now")
    }
}

final class TimerHolder: @unchecked Sendable {
    // Test-only: set once before the loop runs, then read on the loop's single thread.
    var timer: LoopTimer?
}
