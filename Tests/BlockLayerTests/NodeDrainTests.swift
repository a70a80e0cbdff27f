import Testing
@testable import BlockLayer

@Suite struct NodeDrainTests {
    @Test func drainingANodeQuiescesItsBackendsAndNests() async throws {
        let node = try await memoryNode("disk", size: 4096)
        let writer = try BlockBackend(name: "vda", node: node)
        let reader = try BlockBackend(name: "ro", node: node, readOnly: true)
        let observer = RecordingObserver()
        writer.setDrainObserver(observer)
        await node.drainedBegin()
        await node.drainedBegin()
        #expect(node.isDrained && writer.isDrained && reader.isDrained)
        #expect(observer.log == ["begin"])
        let queued = Task { try await writer.write([7], at: 0) }
        #expect(await eventually { writer.queuedCount == 1 })
        try node.drainedEnd()
        #expect(writer.isDrained && writer.queuedCount == 1)
        try node.drainedEnd()
        try await queued.value
        #expect(!writer.isDrained && !reader.isDrained && observer.log == ["begin", "end"])
        #expect(try await reader.read(at: 0, count: 1) == [7])
        #expect(throws: BlockError.unbalancedDrain) { try node.drainedEnd() }
    }

    @Test func aSwitchInsideTheSourceNodesSectionEndsOnTheMovedBackend() async throws {
        let source = try await memoryNode("source", size: 4096)
        let target = try await memoryNode("target", size: 4096)
        let backend = try BlockBackend(name: "vda", node: source)
        await source.drainedBegin()
        try backend.replaceNode(with: target)
        try source.drainedEnd()
        #expect(!backend.isDrained)
        // The backend is now a parent of the target only.
        await target.drainedBegin()
        #expect(backend.isDrained)
        try target.drainedEnd()
        await source.drainedBegin()
        #expect(!backend.isDrained)
        try source.drainedEnd()
    }
}
