import Synchronization
import Testing
@testable import BlockLayer

@Suite struct DrainedSectionTests {
    @Test func sectionsNestAndTheObserverSeesOnlyTheOutermost() async throws {
        let backend = try BlockBackend(name: "vda", node: try await memoryNode("m", size: 4096))
        let observer = RecordingObserver()
        backend.setDrainObserver(observer)
        await backend.drainedBegin()
        await backend.drainedBegin()
        #expect(observer.log == ["begin"])
        try backend.drainedEnd()
        #expect(backend.isDrained && observer.log == ["begin"])
        try backend.drainedEnd()
        #expect(!backend.isDrained && observer.log == ["begin", "end"])
        #expect(throws: BlockError.unbalancedDrain) { try backend.drainedEnd() }
    }

    @Test func beginCallsTheObserverThenWaitsForInFlight() async throws {
        let gate = AsyncGate()
        let driver = ProbeDriver(size: 4096, gate: gate)
        let backend = try BlockBackend(name: "vda", node: try await BlockNode(name: "p", driver: driver))
        let observer = RecordingObserver()
        backend.setDrainObserver(observer)
        let write = Task { try await backend.write([1, 2, 3], at: 0) }
        #expect(await eventually { driver.writesEntered.load(ordering: .relaxed) == 1 })
        #expect(backend.inFlight == 1)
        let drained = SharedFlag()
        let drain = Task {
            await backend.drainedBegin()
            drained.set()
        }
        #expect(await eventually { observer.log == ["begin"] })
        try await Task.sleep(nanoseconds: 20_000_000)
        #expect(!drained.isSet)
        gate.open()
        await drain.value
        #expect(backend.inFlight == 0)
        #expect(driver.writesCompleted.load(ordering: .relaxed) == 1)
        try await write.value
        try backend.drainedEnd()
        #expect(observer.log == ["begin", "end"])
    }

    @Test func requestsDuringTheSectionWaitAndResumeInSubmissionOrder() async throws {
        let driver = ProbeDriver(size: 4096)
        let backend = try BlockBackend(name: "vda", node: try await BlockNode(name: "p", driver: driver))
        backend.recordAdmissions()
        await backend.drainedBegin()
        var tasks: [Task<Void, any Error>] = []
        for index in 0..<8 {
            tasks.append(Task { try await backend.write([UInt8(index + 1)], at: UInt64(index)) })
            #expect(await eventually { backend.queuedCount == index + 1 })
        }
        try await Task.sleep(nanoseconds: 10_000_000)
        #expect(driver.writesEntered.load(ordering: .relaxed) == 0)
        await backend.drainedBegin()
        try backend.drainedEnd()
        #expect(backend.queuedCount == 8)
        try backend.drainedEnd()
        try await backend.write([100], at: 8)
        for task in tasks { try await task.value }
        #expect(backend.admissions == Array(0...8))
        #expect(driver.memory.contents[0...8] == [1, 2, 3, 4, 5, 6, 7, 8, 100])
        #expect(backend.queuedCount == 0 && backend.inFlight == 0)
    }

    @Test func replaceNodeOnlyInsideADrainedSection() async throws {
        let old = try await memoryNode("old", size: 4096)
        let target = try await memoryNode("target", size: 4096)
        let backend = try BlockBackend(name: "vda", node: old)
        #expect(throws: BlockError.notDrained) { try backend.replaceNode(with: target) }
        #expect(backend.node === old)

        let taken = try target.claimWriter(holder: "job")
        await backend.drainedBegin()
        #expect(throws: BlockError.writerConflict(node: "target", holder: "job")) { try backend.replaceNode(with: target) }
        #expect(backend.node === old && old.writerHolder == "backend vda")
        taken.release()
        try backend.replaceNode(with: target)
        try backend.drainedEnd()
        #expect(backend.node === target)
        #expect(target.writerHolder == "backend vda" && old.writerHolder == nil)
        try await backend.write([5], at: 0)
        #expect(try await target.driver.length() == 4096)
        let byte = BlockBuffer(count: 1)
        try await target.read(into: byte, at: 0)
        #expect(byte.array == [5])
    }
}
