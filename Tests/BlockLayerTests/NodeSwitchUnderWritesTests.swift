import Synchronization
import Testing
@testable import BlockLayer

/// Seed 004: a guest keeps writing while the backend is switched to another node (a mirror's
/// final step). Every acknowledged write must be in the node that is current afterwards.
@Suite struct NodeSwitchUnderWritesTests {
    static let sector = 512
    static let sectors = 64

    /// The 512 bytes writer `writer` puts in its `iteration`-th write.
    static func pattern(writer: Int, iteration: Int) -> [UInt8] {
        (0..<sector).map { UInt8(truncatingIfNeeded: writer &* 131 &+ iteration &* 7 &+ $0) }
    }

    @Test(arguments: 0..<50) func everyAcknowledgedWriteSurvivesTheSwitch(round: Int) async throws {
        let size = Self.sector * Self.sectors
        let initial = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ round) }
        let oldDriver = ProbeDriver(size: size)
        try await oldDriver.memory.write(from: BlockBuffer(initial), at: 0)
        let old = try await BlockNode(name: "source", driver: oldDriver)
        let targetDriver = ProbeDriver(size: size)
        let target = try await BlockNode(name: "target", driver: targetDriver)
        let backend = try BlockBackend(name: "vda", node: old)
        let observer = RecordingObserver()
        backend.setDrainObserver(observer)

        let switched = SharedFlag()
        let writerCount = 3

        // Each writer owns the sectors s with s % writerCount == writer, so its model is exact:
        // the last acknowledged pattern per sector.
        let writers = (0..<writerCount).map { writer in
            Task { () throws -> [Int: [UInt8]] in
                var model: [Int: [UInt8]] = [:]
                var iteration = 0
                var afterSwitch = 0
                while afterSwitch < 20 {
                    let sector = Int.random(in: 0..<(Self.sectors / writerCount)) * writerCount + writer
                    let data = Self.pattern(writer: writer, iteration: iteration)
                    let wasSwitched = switched.isSet
                    try await backend.write(data, at: UInt64(sector * Self.sector))
                    model[sector] = data
                    iteration += 1
                    if wasSwitched {
                        afterSwitch += 1
                        switched.increment()
                    }
                    if Int.random(in: 0..<3) == 0 { await Task.yield() }
                }
                return model
            }
        }

        // The switch: drain, final copy of everything, switch, end the section.
        try await Task.sleep(nanoseconds: UInt64.random(in: 0...3_000_000))
        await backend.drainedBegin()
        #expect(backend.inFlight == 0)
        oldDriver.retired.store(true, ordering: .sequentiallyConsistent)
        let copy = BlockBuffer(count: size)
        try await old.read(into: copy, at: 0)
        try await target.write(from: copy, at: 0)
        try backend.replaceNode(with: target)
        let oldAtSwitch = oldDriver.memory.contents
        switched.set()
        try await Task.sleep(nanoseconds: UInt64.random(in: 0...1_000_000))
        try backend.drainedEnd()

        var expected = initial
        for writer in writers {
            for (sector, data) in try await writer.value {
                expected.replaceSubrange((sector * Self.sector)..<((sector + 1) * Self.sector), with: data)
            }
        }
        #expect(switched.counted >= writerCount * 20)
        let lateWrites = oldDriver.writesAfterRetire.load(ordering: .sequentiallyConsistent)
        #expect(lateWrites == 0)
        #expect(oldDriver.memory.contents == oldAtSwitch)
        #expect(targetDriver.memory.contents == expected)
        #expect(observer.log == ["begin", "end"])
    }
}
