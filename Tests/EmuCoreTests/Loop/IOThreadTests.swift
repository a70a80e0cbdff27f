import Testing
@testable import EmuCore

@Suite("IOThread")
struct IOThreadTests {
    @Test func stopJoinsAndIsIdempotent() throws {
        let io = try IOThread(name: "io-stop")
        let ran = Recorder<Int>()
        io.loop.submit { ran.append(1) }
        #expect(waitUntil { ran.count == 1 })
        io.stop()
        io.stop()
        io.loop.submit { ran.append(2) }
        #expect(!waitUntil(seconds: 0.1) { ran.count == 2 }, "a stopped thread runs nothing")
        io.loop.iterate()
        #expect(ran.all == [1, 2], "the loop itself survives and can be iterated by another thread")
    }

    @Test func stopFromInsideItsOwnLoopDoesNotDeadlock() throws {
        let io = try IOThread(name: "io-self")
        let done = Recorder<Int>()
        io.loop.submit {
            io.stop()
            done.append(1)
        }
        #expect(waitUntil { done.count == 1 })
    }
}
