import Testing
@testable import BlockLayer

/// A run's bounds as an array (compared as plain numbers).
private func bounds(_ run: Range<UInt64>?) -> [UInt64]? { run.map { [$0.lowerBound, $0.upperBound] } }

@Suite struct DirtyBitmapTests {
    @Test func marksWholeChunksAndTakesRunsInOrder() throws {
        let bitmap = try BlockDirtyBitmap(length: 10 * 4096 + 100, granularity: 4096)
        #expect(bitmap.isClean)
        bitmap.mark(offset: 4095, length: 2)          // touches chunks 0 and 1
        bitmap.mark(offset: 5 * 4096, length: 1)
        bitmap.mark(offset: 10 * 4096 + 50, length: 1_000_000)  // clamped to the last, partial chunk
        #expect(bitmap.dirtyChunks == 4)
        #expect(bitmap.isDirty(offset: 5 * 4096 + 10, length: 1))
        #expect(!bitmap.isDirty(offset: 2 * 4096, length: 3 * 4096))
        let run1 = bitmap.takeNextRun(maxChunks: 8)
        #expect(bounds(run1) == [0, 8192])
        let run2 = bitmap.takeNextRun(maxChunks: 8)
        #expect(bounds(run2) == [5 * 4096, 6 * 4096])
        let run3 = bitmap.takeNextRun(maxChunks: 8)
        #expect(bounds(run3) == [10 * 4096, 10 * 4096 + 100])
        let run4 = bitmap.takeNextRun(maxChunks: 8)
        #expect(run4 == nil)
        #expect(bitmap.isClean)
    }

    @Test func runsAreBoundedAndTheSearchWraps() throws {
        let bitmap = try BlockDirtyBitmap(length: 200 * 512, granularity: 512)
        bitmap.markAll()
        #expect(bitmap.dirtyChunks == 200)
        let run5 = bitmap.takeNextRun(from: 150 * 512, maxChunks: 30)
        #expect(bounds(run5) == [150 * 512, 180 * 512])
        let run6 = bitmap.takeNextRun(from: 180 * 512, maxChunks: 64)
        #expect(bounds(run6) == [180 * 512, 200 * 512])
        let run7 = bitmap.takeNextRun(from: 200 * 512, maxChunks: 64)
        #expect(bounds(run7) == [0, 64 * 512])
        #expect(bitmap.dirtyChunks == 200 - 30 - 20 - 64)
    }

    @Test func badGranularityIsRefused() {
        for g: UInt64 in [0, 256, 1000, 4097] {
            #expect(throws: BlockError.self) { try BlockDirtyBitmap(length: 4096, granularity: g) }
        }
    }

    @Test func aNodeMarksFinishedWritesOnly() async throws {
        let node = try await memoryNode("n", size: 1 << 20)
        let bitmap = try BlockDirtyBitmap(length: node.length, granularity: 65536)
        node.addDirtyBitmap(bitmap)
        try await node.write(from: BlockBuffer([1, 2, 3]), at: 70_000)
        try await node.writeZeroes(at: 300_000, length: 10)
        try await node.discard(at: 600_000, length: 10)
        try await node.read(into: BlockBuffer(count: 4096), at: 900_000)   // reads do not mark
        #expect(bitmap.dirtyChunks == 3)
        #expect(bitmap.isDirty(offset: 65536, length: 1) && bitmap.isDirty(offset: 262_144, length: 1))
        #expect(!bitmap.isDirty(offset: 900_000, length: 1))
        node.removeDirtyBitmap(bitmap)
        try await node.write(from: BlockBuffer([1]), at: 0)
        #expect(bitmap.dirtyChunks == 3)
    }
}
