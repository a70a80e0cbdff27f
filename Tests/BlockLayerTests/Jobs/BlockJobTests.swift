import Synchronization
import Testing
@testable import BlockLayer

/// A body that does `steps` units of `unit` bytes of pretend I/O on `node`, reading one block each.
final class StepBody: BlockJobBody {
    let kind = "test"
    let node: BlockNode
    let steps: Int
    let unit: UInt64
    let becomesReady: Bool
    let commits = Atomic<Int>(0)
    let aborts = Atomic<Int>(0)
    let ioDuringDrain = Atomic<Int>(0)
    var nodes: [BlockNode] { [node] }

    init(node: BlockNode, steps: Int, unit: UInt64 = 4096, becomesReady: Bool = false) {
        self.node = node
        self.steps = steps
        self.unit = unit
        self.becomesReady = becomesReady
    }

    func run(_ job: BlockJob) async throws(BlockJobError) {
        job.setRemaining(UInt64(steps) * unit)
        for _ in 0..<steps {
            try await job.checkpoint()
            await job.rateLimit(unit)
            try await job.io { () throws(BlockError) in
                if self.node.isDrained { self.ioDuringDrain.add(1, ordering: .relaxed) }
                try await self.node.read(into: BlockBuffer(count: 512), at: 0)
                try? await Task.sleep(for: .microseconds(200))
            }
            job.addProgress(unit)
        }
        if becomesReady {
            job.setReady()
            while job.completion == .none {
                try await job.checkpoint()
                await job.idle(upTo: .milliseconds(5))
            }
        }
    }

    func commit(_ job: BlockJob) async throws(BlockJobError) { commits.add(1, ordering: .relaxed) }
    func abort(_ job: BlockJob) async { aborts.add(1, ordering: .relaxed) }
}

@Suite struct BlockJobTests {
    @Test func theVerbTableMatchesTheJobModel() {
        let table: [BlockJobVerb: Set<BlockJobStatus>] = [
            .cancel: [.created, .running, .paused, .ready, .standby, .waiting, .pending],
            .pause: [.created, .running, .paused, .ready, .standby],
            .resume: [.created, .running, .paused, .ready, .standby],
            .setSpeed: [.created, .running, .paused, .ready, .standby],
            .complete: [.ready], .finalize: [.pending], .dismiss: [.concluded],
        ]
        for verb in BlockJobVerb.allCases {
            for status in BlockJobStatus.allCases {
                #expect(verb.allowed(in: status) == table[verb]?.contains(status), "\(verb) in \(status)")
            }
        }
        #expect(BlockJobStatus.null.successors.isEmpty)
        #expect(BlockJobStatus.aborting.successors == [.concluded])
    }

    @Test func aJobRunsToConclusionAndIsDismissedByItself() async throws {
        let body = StepBody(node: try await memoryNode("n", size: 1 << 20), steps: 20)
        let job = BlockJob(id: "j", body: body)
        #expect(job.status == .created)
        try job.start()
        try await job.waitForConclusion()
        #expect(job.statusHistory == [.created, .running, .waiting, .pending, .concluded, .null])
        #expect(job.progress.current == 20 * 4096 && job.progress.total == 20 * 4096)
        #expect(body.commits.load(ordering: .relaxed) == 1 && body.aborts.load(ordering: .relaxed) == 0)
    }

    @Test func verbsInTheWrongStateAreRefusedClearly() async throws {
        let body = StepBody(node: try await memoryNode("n", size: 1 << 20), steps: 1000)
        let job = BlockJob(id: "j", body: body, autoFinalize: false, autoDismiss: false)
        #expect(throws: BlockJobError.verbNotAllowed(.complete, status: .created)) { try job.complete() }
        #expect(throws: BlockJobError.verbNotAllowed(.finalize, status: .created)) { try job.finalize() }
        #expect(throws: BlockJobError.notPaused) { try job.resume() }
        try job.start()
        #expect(throws: BlockJobError.verbNotAllowed(.complete, status: .running)) { try job.complete() }
        #expect(throws: BlockJobError.verbNotAllowed(.dismiss, status: .running)) { try job.dismiss() }
        #expect(throws: BlockJobError.self) { try job.start() }
        #expect(job.status == .running)
        try job.cancel()
        await job.waitUntil { $0 == .concluded }
        #expect(job.failure == .cancelled)
        #expect(throws: BlockJobError.verbNotAllowed(.cancel, status: .concluded)) { try job.cancel() }
        #expect(throws: BlockJobError.verbNotAllowed(.pause, status: .concluded)) { try job.pause() }
        try job.dismiss()
        #expect(job.status == .null)
        #expect(body.aborts.load(ordering: .relaxed) == 1 && body.commits.load(ordering: .relaxed) == 0)
    }

    @Test func pauseStopsProgressAndResumeContinues() async throws {
        let body = StepBody(node: try await memoryNode("n", size: 1 << 20), steps: 400)
        let job = BlockJob(id: "j", body: body)
        try job.start()
        try job.pause()
        try job.pause()  // pauses nest
        await job.waitUntil { $0 == .paused }
        let frozen = job.progress.current
        try await Task.sleep(for: .milliseconds(30))
        #expect(job.progress.current == frozen)
        try job.resume()
        try await Task.sleep(for: .milliseconds(10))
        #expect(job.status == .paused)  // one pause is still held
        try job.resume()
        try await job.waitForConclusion()
        #expect(job.statusHistory.starts(with: [.created, .running, .paused, .running]))
        #expect(job.progress.current == 400 * 4096)
    }

    @Test func aDrainedSectionOfItsNodeQuiescesTheJob() async throws {
        let node = try await memoryNode("n", size: 1 << 20)
        let body = StepBody(node: node, steps: 300)
        let job = BlockJob(id: "j", body: body)
        try job.start()
        try await Task.sleep(for: .milliseconds(5))
        await node.drainedBegin()
        let frozen = job.progress.current
        try await Task.sleep(for: .milliseconds(30))
        #expect(job.progress.current == frozen)
        #expect(body.ioDuringDrain.load(ordering: .relaxed) == 0)
        #expect(job.status == .paused)
        try node.drainedEnd()
        try await job.waitForConclusion()
        #expect(body.ioDuringDrain.load(ordering: .relaxed) == 0)
    }

    @Test func theSpeedLimitHoldsTheNextUnitBack() async throws {
        // At 4 KiB/s the second 64 KiB unit may start only ~16 s after the first: in 100 ms the
        // job does exactly one unit (the first, which is not held back). Raising the limit lets it finish.
        let body = StepBody(node: try await memoryNode("n", size: 1 << 20), steps: 4, unit: 65536)
        let job = BlockJob(id: "j", body: body, speed: 4096)
        try job.start()
        #expect(await eventually { job.progress.current >= 65536 })  // the first unit goes at once
        try await Task.sleep(for: .milliseconds(100))
        #expect(job.progress.current == 65536)
        try job.setSpeed(0)
        try await job.waitForConclusion()
        #expect(job.progress.current == 4 * 65536)
        #expect(job.speed == 0)
    }

    @Test func withoutAutoFinalizeTheJobWaitsInPending() async throws {
        let body = StepBody(node: try await memoryNode("n", size: 1 << 20), steps: 3)
        let job = BlockJob(id: "j", body: body, autoFinalize: false, autoDismiss: false)
        try job.start()
        await job.waitUntil { $0 == .pending }
        try await Task.sleep(for: .milliseconds(20))
        #expect(job.status == .pending)
        #expect(body.commits.load(ordering: .relaxed) == 0)
        try job.finalize()
        await job.waitUntil { $0 == .concluded }
        #expect(body.commits.load(ordering: .relaxed) == 1)
        #expect(job.failure == nil)
        try job.dismiss()
        #expect(job.statusHistory == [.created, .running, .waiting, .pending, .concluded, .null])
    }

    @Test func cancellingAPendingJobAbortsIt() async throws {
        let body = StepBody(node: try await memoryNode("n", size: 1 << 20), steps: 1)
        let job = BlockJob(id: "j", body: body, autoFinalize: false)
        try job.start()
        await job.waitUntil { $0 == .pending }
        try job.cancel()
        await job.waitUntil { $0 == .null }
        #expect(job.failure == .cancelled)
        #expect(job.statusHistory.suffix(3) == [.aborting, .concluded, .null])
        #expect(body.aborts.load(ordering: .relaxed) == 1 && body.commits.load(ordering: .relaxed) == 0)
    }

    @Test func aReadyJobStandsByWhilePausedAndCompletes() async throws {
        let body = StepBody(node: try await memoryNode("n", size: 1 << 20), steps: 2, becomesReady: true)
        let job = BlockJob(id: "j", body: body)
        try job.start()
        await job.waitUntil { $0 == .ready }
        try job.pause()
        await job.waitUntil { $0 == .standby }
        try job.resume()
        await job.waitUntil { $0 == .ready }
        try job.complete()
        try await job.waitForConclusion()
        #expect(job.statusHistory == [.created, .running, .ready, .standby, .ready, .waiting, .pending, .concluded, .null])
    }

    @Test func aJobCancelledBeforeItStartsConcludes() async throws {
        let body = StepBody(node: try await memoryNode("n", size: 1 << 20), steps: 1)
        let job = BlockJob(id: "j", body: body, autoDismiss: false)
        try job.cancel()
        #expect(job.status == .concluded)
        #expect(job.failure == .cancelled)
        #expect(throws: BlockJobError.self) { try job.start() }
    }
}
