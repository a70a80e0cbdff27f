import Testing
import Synchronization
@testable import EmuCore
#if canImport(Glibc)
import Glibc
#endif

/// Seed 004: guest-originated work must not slip in while a drained section is open.
@Suite("Drained sections")
struct DrainedSectionTests {
    @Test func externalFDReadyInsideSectionIsDispatchedOnlyAfterItEnds() throws {
        let loop = EventLoop()
        let kick = try EventNotifier()
        let completion = try EventNotifier()
        let log = Recorder<String>()
        let guestKick = loop.addHandler(notifier: kick, kind: .external) { log.append("kick") }
        let hostCompletion = loop.addHandler(notifier: completion, kind: .internal) { log.append("completion") }
        let timer = loop.makeTimer(on: HostClock.shared) { log.append("timer") }

        loop.beginDrained()
        #expect(loop.isDrained)
        kick.notify()
        completion.notify()
        timer.arm(after: 0)
        loop.makeBottomHalf { log.append("bh") }.schedule()
        for _ in 0..<10 { loop.iterate() }
        #expect(!log.all.contains("kick"), "the external handler is held back")
        #expect(Set(log.all) == ["completion", "timer", "bh"], "internal work still runs")

        loop.endDrained()
        #expect(!loop.isDrained)
        loop.iterate()
        #expect(log.all.filter { $0 == "kick" }.count == 1, "the held-back event is not lost")
        guestKick.remove()
        hostCompletion.remove()
    }

    @Test func hungUpExternalFDDoesNotSpinTheLoopDuringASection() throws {
        let loop = EventLoop()
        var pair: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[0]) }
        let calls = Recorder<IOEvents>()
        let handler = loop.addHandler(fd: pair[0], kind: .external) { calls.append($0) }
        close(pair[1]) // the peer hangs up: poll reports it whatever events are asked for
        loop.beginDrained()
        #expect(!loop.iterate(), "nothing is dispatched, and poll does not return at once")
        #expect(calls.count == 0)
        loop.endDrained()
        loop.iterate()
        #expect(calls.all.first?.contains(.hangup) == true, "the hang-up is reported after the section")
        handler.remove()
    }

    @Test func nestedSectionsHoldUntilTheOutermostEnds() throws {
        let loop = EventLoop()
        let kick = try EventNotifier()
        let kicks = Recorder<Int>()
        let handler = loop.addHandler(notifier: kick, kind: .external) { kicks.append(1) }
        loop.beginDrained()
        loop.beginDrained()
        #expect(loop.drainedDepth == 2)
        kick.notify()
        loop.iterate()
        loop.endDrained()
        loop.iterate()
        #expect(kicks.count == 0, "one section is still open")
        loop.endDrained()
        loop.iterate()
        #expect(kicks.count == 1)
        loop.endDrained()
        #expect(loop.drainedDepth == 0, "an unbalanced end is ignored")
        handler.remove()
    }

    @Test func handlerRegisteredDuringSectionStartsGated() throws {
        let loop = EventLoop()
        let kick = try EventNotifier(signalled: true)
        let kicks = Recorder<Int>()
        loop.beginDrained()
        let handler = loop.addHandler(notifier: kick, kind: .external) { kicks.append(1) }
        loop.iterate()
        #expect(kicks.count == 0)
        loop.endDrained()
        loop.iterate()
        #expect(kicks.count == 1)
        handler.remove()
    }

    @Test func sectionOpenedByAnInternalHandlerStopsAnExternalOneReadyInTheSameIteration() throws {
        // Both fds are ready in one poll; whichever GLib dispatches first, once the internal one
        // has opened the section the external one must not run.
        let loop = EventLoop()
        let kick = try EventNotifier(signalled: true)
        let completion = try EventNotifier(signalled: true)
        let log = Recorder<String>()
        let external = loop.addHandler(notifier: kick, kind: .external) { log.append("kick") }
        let internalHandler = loop.addHandler(notifier: completion) {
            log.append("drain")
            loop.beginDrained()
        }
        for _ in 0..<3 { loop.iterate() }
        let entries = log.all
        let drainAt = try #require(entries.firstIndex(of: "drain"))
        #expect(!entries[drainAt...].contains("kick"))
        loop.endDrained()
        for _ in 0..<2 { loop.iterate() }
        #expect(log.all.filter { $0 == "kick" }.count == 1)
        external.remove()
        internalHandler.remove()
    }

    @Test func sectionBegunFromAnotherThreadHoldsTheLoopThreadBack() throws {
        let io = try IOThread(name: "drain")
        defer { io.stop() }
        let kick = try EventNotifier()
        let kicks = Recorder<Int>()
        let handler = io.loop.addHandler(notifier: kick, kind: .external) { kicks.append(1) }
        kick.notify()
        #expect(waitUntil { kicks.count == 1 })

        io.loop.beginDrained() // returns only once the loop thread applied it
        kick.notify()
        let heartbeat = Recorder<Int>()
        io.loop.submit { heartbeat.append(1) }
        #expect(waitUntil { heartbeat.count == 1 }, "the loop keeps running internal work")
        #expect(!waitUntil(seconds: 0.2) { kicks.count > 1 }, "no external dispatch inside the section")
        io.loop.endDrained()
        #expect(waitUntil { kicks.count == 2 })
        handler.remove()
    }

    @Test func manyThreadsOpeningAndClosingSectionsNeverLetAKickThroughWhileOneIsOpen() throws {
        // A stress version: kicks arrive continuously; a checker section verifies that while
        // it is open no kick handler runs.
        let io = try IOThread(name: "drain-stress")
        defer { io.stop() }
        let kick = try EventNotifier()
        let inSection = Atomic<Int>(0)
        let violations = Atomic<Int>(0)
        let kicks = Atomic<Int>(0)
        let handler = io.loop.addHandler(notifier: kick, kind: .external) {
            if inSection.load(ordering: .acquiring) > 0 { violations.add(1, ordering: .relaxed) }
            kicks.add(1, ordering: .relaxed)
        }
        let stop = Atomic<Bool>(false)
        let kicker = try spawnThread {
            while !stop.load(ordering: .relaxed) { kick.notify(); sched_yield() }
        }
        var starved = 0
        for round in 0..<200 {
            io.loop.beginDrained()
            inSection.add(1, ordering: .releasing)
            sched_yield()
            inSection.subtract(1, ordering: .releasing)
            io.loop.endDrained()
            if round % 20 == 19 {
                // Make sure kicks really interleave with the sections (a loaded machine might
                // otherwise run all 200 back to back): the held-back kicks must get through now.
                let before = kicks.load(ordering: .relaxed)
                if !waitUntil({ kicks.load(ordering: .relaxed) > before }) { starved += 1 }
            }
        }
        stop.store(true, ordering: .relaxed)
        pthread_join(kicker, nil)
        #expect(violations.load(ordering: .relaxed) == 0)
        #expect(starved == 0, "after each batch of sections the pending kicks ran")
        handler.remove()
    }
}
