import Testing
import Synchronization
@testable import EmuCore

@Suite("Bottom halves and submitted work")
struct BottomHalfTests {
    @Test func submittedWorkRunsOnceInOrder() {
        let loop = EventLoop()
        let seen = Recorder<Int>()
        for i in 0..<100 { loop.submit { seen.append(i) } }
        #expect(seen.count == 0, "nothing runs before the loop is iterated")
        loop.iterate()
        #expect(seen.all == Array(0..<100))
        loop.iterate()
        #expect(seen.count == 100, "work runs once")
    }

    @Test func schedulingTwiceBeforeRunningRunsOnce() {
        let loop = EventLoop()
        let runs = Recorder<String>()
        let bh = loop.makeBottomHalf { runs.append("bh") }
        bh.schedule()
        bh.schedule()
        #expect(bh.isScheduled)
        loop.iterate()
        #expect(runs.all == ["bh"])
        #expect(!bh.isScheduled)
        bh.schedule()
        loop.iterate()
        #expect(runs.count == 2)
    }

    @Test func cancelledBottomHalfDoesNotRun() {
        let loop = EventLoop()
        let runs = Recorder<Int>()
        let bh = loop.makeBottomHalf { runs.append(1) }
        bh.schedule()
        bh.cancel()
        loop.iterate()
        #expect(runs.count == 0)
    }

    @Test func bottomHalvesAndSubmitShareOneFifo() {
        let loop = EventLoop()
        let order = Recorder<String>()
        let a = loop.makeBottomHalf { order.append("a") }
        let b = loop.makeBottomHalf { order.append("b") }
        b.schedule()
        loop.submit { order.append("x") }
        a.schedule()
        loop.iterate()
        #expect(order.all == ["b", "x", "a"])
    }

    @Test func selfReschedulingBottomHalfDoesNotStarveOtherSources() throws {
        let loop = EventLoop()
        let spins = Recorder<Int>()
        let box = Mutex<BottomHalf?>(nil)
        let bh = loop.makeBottomHalf {
            spins.append(1)
            box.withLock { $0 }?.schedule()
        }
        box.withLock { $0 = bh }
        let notifier = try EventNotifier(signalled: true)
        let fdRuns = Recorder<Int>()
        let handler = loop.addHandler(notifier: notifier) { fdRuns.append(1) }
        bh.schedule()
        for _ in 0..<5 { loop.iterate() }
        #expect(fdRuns.count == 1, "the fd handler ran although the bottom half keeps rescheduling")
        #expect(spins.count >= 2 && spins.count <= 5, "one run per iteration, not a busy inner loop")
        bh.cancel()
        handler.remove()
        box.withLock { $0 = nil }
    }

    @Test func workSubmittedFromManyThreadsRunsOnTheLoopThreadInPerThreadOrder() throws {
        let io = try IOThread(name: "bh-test")
        defer { io.stop() }
        let seen = Recorder<(thread: Int, seq: Int, onLoop: Bool)>()
        let threads = 4, perThread = 500
        let started = Recorder<Int>()
        var workers: [pthread_t] = []
        for t in 0..<threads {
            let worker = try spawnThread {
                started.append(t)
                for s in 0..<perThread {
                    io.loop.submit { seen.append((t, s, io.loop.isCurrentThreadOwner)) }
                }
            }
            workers.append(worker)
        }
        for worker in workers { pthread_join(worker, nil) }
        #expect(waitUntil { seen.count == threads * perThread })
        let all = seen.all
        #expect(all.allSatisfy { $0.onLoop }, "every item ran on the loop's thread")
        for t in 0..<threads {
            #expect(all.filter { $0.thread == t }.map(\.seq) == Array(0..<perThread),
                    "thread \(t)'s work ran once each, in its order")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

private final class ThreadStart {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Starts a plain host thread (not a Swift task) running `body`.
func spawnThread(_ body: @escaping @Sendable () -> Void) throws -> pthread_t {
    var tid = pthread_t()
    let start = Unmanaged.passRetained(ThreadStart(body)).toOpaque()
    let rc = pthread_create(&tid, nil, { arg in
        Unmanaged<ThreadStart>.fromOpaque(arg!).takeRetainedValue().body()
        return nil
    }, start)
    try #require(rc == 0)
    return tid
}
