import Testing
@testable import EmuCore

/// An actor pinned to an event loop.
actor LoopBoundCounter {
    nonisolated let loop: EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
    private(set) var value = 0
    private(set) var ranOnLoop = true

    init(loop: EventLoop) { self.loop = loop }

    func increment() {
        value += 1
        ranOnLoop = ranOnLoop && loop.isCurrentThreadOwner
    }
}

@Suite("The loop as a Swift executor")
struct ExecutorTests {
    @Test func actorMethodsRunOnTheLoopThread() async throws {
        let io = try IOThread(name: "actor")
        defer { io.stop() }
        let counter = LoopBoundCounter(loop: io.loop)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<100 { group.addTask { await counter.increment() } }
        }
        #expect(await counter.value == 100)
        #expect(await counter.ranOnLoop)
    }

    @Test func taskWithLoopPreferenceRunsOnTheLoop() async throws {
        let io = try IOThread(name: "task")
        defer { io.stop() }
        let loop = io.loop
        let onLoop = await Task(executorPreference: loop) { loop.isCurrentThreadOwner }.value
        #expect(onLoop)
    }

    @Test func assumeIsolatedSucceedsInsideALoopDispatch() throws {
        let loop = EventLoop()
        let counter = LoopBoundCounter(loop: loop)
        let result = Recorder<Int>()
        loop.submit {
            counter.assumeIsolated { counter in
                counter.increment()
                result.append(counter.value)
            }
        }
        loop.iterate()
        #expect(result.all == [1])
    }
}
