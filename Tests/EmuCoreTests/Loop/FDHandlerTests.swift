import Testing
@testable import EmuCore
#if canImport(Glibc)
import Glibc
#endif

@Suite("File-descriptor handlers and event notifiers")
struct FDHandlerTests {
    @Test func readableFDDispatchesUntilDrainedAndStopsAfterRemove() throws {
        let loop = EventLoop()
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let events = Recorder<IOEvents>()
        let readEnd = fds[0]
        let handler = loop.addHandler(fd: readEnd) { revents in
            events.append(revents)
            var byte: UInt8 = 0
            _ = read(readEnd, &byte, 1)
        }
        #expect(!loop.iterate(), "nothing ready before a write")
        var two: [UInt8] = [1, 2]
        #expect(write(fds[1], &two, 2) == 2)
        loop.iterate()
        loop.iterate()
        #expect(events.count == 2, "level triggered: one call per iteration while data remains")
        #expect(events.all.allSatisfy { $0.contains(.readable) })
        loop.iterate()
        #expect(events.count == 2, "no call once drained")
        #expect(loop.fdHandlerCount == 1)
        handler.remove()
        handler.remove()
        #expect(loop.fdHandlerCount == 0, "removal is idempotent and unregisters")
        _ = write(fds[1], &two, 1)
        loop.iterate()
        #expect(events.count == 2, "removed handler is not called")
    }

    @Test func writableInterestCanBeSwitchedOnAndOff() throws {
        let loop = EventLoop()
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let calls = Recorder<IOEvents>()
        let handler = loop.addHandler(fd: fds[1], events: []) { calls.append($0) }
        loop.iterate()
        #expect(calls.count == 0)
        handler.setEvents(.writable)
        loop.iterate()
        #expect(calls.all.first?.contains(.writable) == true)
        handler.setEvents([])
        let before = calls.count
        loop.iterate()
        #expect(calls.count == before)
        handler.remove()
    }

    @Test func closedFDIsReportedOnceAsInvalidAndThenIgnored() throws {
        let loop = EventLoop()
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        let calls = Recorder<IOEvents>()
        let handler = loop.addHandler(fd: fds[0]) { calls.append($0) }
        close(fds[0])
        close(fds[1])
        for _ in 0..<5 { loop.iterate() }
        #expect(calls.count == 1)
        #expect(calls.all.first?.contains(.invalid) == true)
        handler.remove()
    }

    @Test func notifierCoalescesSignalsAndClears() throws {
        let notifier = try EventNotifier()
        #expect(!notifier.testAndClear())
        notifier.notify()
        notifier.notify()
        #expect(notifier.testAndClear())
        #expect(!notifier.testAndClear())
        let signalled = try EventNotifier(signalled: true)
        #expect(signalled.testAndClear())
    }

    @Test func notifierHandlerRunsOncePerBurstOfSignals() throws {
        let loop = EventLoop()
        let notifier = try EventNotifier()
        let calls = Recorder<Int>()
        let handler = loop.addHandler(notifier: notifier) { calls.append(1) }
        notifier.notify(); notifier.notify(); notifier.notify()
        loop.iterate(); loop.iterate()
        #expect(calls.count == 1)
        notifier.notify()
        loop.iterate()
        #expect(calls.count == 2)
        handler.remove()
    }

    @Test func notifierSignalledFromAnotherThreadWakesABlockedLoop() throws {
        let io = try IOThread(name: "notify")
        defer { io.stop() }
        let notifier = try EventNotifier()
        let calls = Recorder<Bool>()
        let handler = io.loop.addHandler(notifier: notifier) {
            calls.append(io.loop.isCurrentThreadOwner)
        }
        notifier.notify()
        #expect(waitUntil { calls.count == 1 })
        #expect(calls.all == [true])
        handler.remove()
    }
}
