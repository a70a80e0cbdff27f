import Testing
@testable import BlockLayer

/// Many tasks at once write, zero, discard, read and flush through one backend on a qcow2 image.
/// Each task owns a byte range that is not cluster-aligned, so neighbours share clusters and L2
/// tables (copy-on-write of a cluster races with the neighbour's writes into it). Each task keeps
/// its own model; at the end every range matches its model and the image checks clean.
@Suite struct Qcow2ConcurrencyTests {
    @Test func mixedRequestsFromManyTasksMatchTheirModels() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "mixed.qcow2"
            let clusterSize = 4096
            let regionSize = 10_000, regions = 24
            try await ImageCreator.create(path: path, format: .qcow2, size: UInt64(regionSize * regions + 5000), clusterSize: clusterSize)
            let node = try await ImageOpener.open(path: path)
            let backend = try BlockBackend(name: "disk", node: node)
            let models = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
                for region in 0..<regions {
                    group.addTask {
                        var model = [UInt8](repeating: 0, count: regionSize)
                        var generator = SplitMix(seed: UInt64(region) + 100)
                        let base = region * regionSize + 1234
                        for step in 0..<30 {
                            let start = Int(generator.next() % UInt64(regionSize - 1))
                            let length = Int(generator.next() % UInt64(regionSize - start - 1)) + 1
                            let at = UInt64(base + start)
                            switch generator.next() % 8 {
                            case 0:
                                try await backend.writeZeroes(at: at, length: UInt64(length))
                                for index in start..<(start + length) { model[index] = 0 }
                            case 1:
                                try await backend.discard(at: at, length: UInt64(length))
                                // Whole clusters inside the range read as zeroes; the rest is kept.
                                let first = (base + start + clusterSize - 1) / clusterSize * clusterSize
                                let end = (base + start + length) / clusterSize * clusterSize
                                if first < end { for index in (first - base)..<(end - base) { model[index] = 0 } }
                            case 2:
                                try await backend.flush()
                            case 3:
                                let back = try await backend.read(at: at, count: length)
                                #expect(back == Array(model[start..<(start + length)]), "region \(region) step \(step)")
                            default:
                                let data = pattern(length, seed: UInt8(truncatingIfNeeded: region * 31 + step))
                                try await backend.write(data, at: at)
                                model.replaceSubrange(start..<(start + length), with: data)
                            }
                        }
                        return (region, model)
                    }
                }
                var models: [Int: [UInt8]] = [:]
                for try await (region, model) in group { models[region] = model }
                return models
            }
            try await backend.flush()
            let reopened = try await ImageOpener.open(path: path, readOnly: true)
            for region in 0..<regions {
                let back = try await readBytes(reopened, at: UInt64(region * regionSize + 1234), count: regionSize)
                #expect(back == models[region], "region \(region)")
            }
            let report = try await Qcow2Checker.check(path: path)
            #expect(report.exitCode == 0, "\(report.messages)")
        }
    }
}

/// A RAM file whose first read after arming is held at a gate.
final class GatedReadDriver: BlockDriver {
    let formatName = "gated"
    let isReadOnly = false
    let memory = MemoryDriver(size: 0)
    let gate = AsyncGate()
    let armed = SharedFlag()
    let heldReads = SharedFlag()

    func length() async throws(BlockError) -> UInt64 { try await memory.length() }
    func read(into buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        if armed.isSet && heldReads.counted == 0 {
            heldReads.increment()
            await gate.wait()
        }
        try await memory.read(into: buffer, at: offset)
    }
    func write(from buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) { try await memory.write(from: buffer, at: offset) }
    func flush() async throws(BlockError) {}
    func discard(at offset: UInt64, length: UInt64) async throws(BlockError) { try await memory.discard(at: offset, length: length) }
    func writeZeroes(at offset: UInt64, length: UInt64) async throws(BlockError) { try await memory.writeZeroes(at: offset, length: length) }
    func truncate(to length: UInt64) async throws(BlockError) { try await memory.truncate(to: length) }
}

@Suite struct Qcow2FreeAfterUnlockedIOTests {
    /// A read mapped to a cluster before a discard keeps that cluster from being freed (and so
    /// handed to another guest offset) until the read has finished.
    @Test func aFlushFreesADiscardedClusterOnlyAfterReadsMappedToIt() async throws {
        let file = GatedReadDriver()
        let fileNode = try await BlockNode(name: "file", driver: file)
        try await Qcow2Creator.format(file: fileNode, size: 1 << 20, clusterSize: 4096)
        let node = try await BlockNode(name: "q", driver: try await Qcow2FormatDriver.open(file: fileNode))
        try await node.write(from: BlockBuffer(pattern(4096, seed: 1)), at: 0)
        try await node.flush()

        file.armed.set()
        let reader = Task { try await readBytes(node, at: 0, count: 4096) }
        #expect(await eventually { file.heldReads.counted == 1 })
        try await node.discard(at: 0, length: 4096)
        let flushed = SharedFlag()
        let flusher = Task {
            try await node.flush()
            flushed.set()
        }
        try await Task.sleep(nanoseconds: 50_000_000)
        #expect(!flushed.isSet, "the flush freed the cluster while a read mapped to it was in flight")
        file.gate.open()
        #expect(try await reader.value == pattern(4096, seed: 1))
        try await flusher.value
        #expect(flushed.isSet)
        // The freed cluster is reused by the next allocation, and the old read saw the old data.
        try await node.write(from: BlockBuffer(pattern(4096, seed: 2)), at: 8192)
        try await node.flush()
        #expect(try await readBytes(node, at: 8192, count: 4096) == pattern(4096, seed: 2))
    }
}
