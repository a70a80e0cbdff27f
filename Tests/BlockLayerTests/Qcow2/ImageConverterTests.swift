import Foundation
import Testing
@testable import BlockLayer

@Suite struct ImageConverterTests {
    @Test func convertsAChainIntoASparseQcow2AndBackToRaw() async throws {
        try await withTemporaryDirectory { directory in
            let base = directory + "base.raw", top = directory + "top.qcow2"
            let flat = directory + "flat.qcow2", raw = directory + "flat.raw"
            let size = 5 << 20 + 1000
            var expected = [UInt8](repeating: 0, count: size)
            expected.replaceSubrange(0..<300_000, with: pattern(300_000, seed: 1))
            try Data(expected).write(to: URL(fileURLWithPath: base))
            try await ImageCreator.create(path: top, format: .qcow2, size: UInt64(size), clusterSize: 4096, backingFile: "base.raw")
            do {
                let node = try await ImageOpener.open(path: top)
                try await node.write(from: BlockBuffer(pattern(70_000, seed: 2)), at: 4 << 20)
                try await node.writeZeroes(at: 0, length: 8192)
                try await node.flush()
            }
            expected.replaceSubrange((4 << 20)..<((4 << 20) + 70_000), with: pattern(70_000, seed: 2))
            expected.replaceSubrange(0..<8192, with: [UInt8](repeating: 0, count: 8192))

            let source = try await ImageOpener.open(path: top, readOnly: true)
            #expect(try await ImageConverter.chainStatus(source, at: 0, length: 1 << 20) == BlockStatus(.zero, length: 8192))
            #expect(try await ImageConverter.chainStatus(source, at: 8192, length: 1 << 20) == BlockStatus(.data, length: 1 << 20))
            try await ImageCreator.create(path: flat, format: .qcow2, size: source.length, clusterSize: 65_536)
            let target = try await ImageOpener.open(path: flat)
            var reports: [UInt64] = []
            // A small chunk size so the read/write overlap runs many rounds.
            try await ImageConverter.copy(from: source, to: target, chunkSize: 64 << 10) { done, _ in reports.append(done) }
            #expect(reports.last == UInt64(size) && reports == reports.sorted())
            #expect(try await readBytes(target, at: 0, count: size) == expected)
            #expect(target.children[.backing] == nil)
            // Zeroes (the zero cluster, the base's zero tail) were not written: the image stays small.
            let report = try await Qcow2Checker.check(path: flat)
            #expect(report.exitCode == 0 && report.allocatedGuestClusters == 7, "\(report)")

            try await ImageCreator.create(path: raw, format: .raw, size: target.length)
            let rawNode = try await ImageOpener.open(path: raw)
            try await ImageConverter.copy(from: target, to: rawNode)
            #expect(try fileBytes(raw) == expected)
            #expect(try await ImageConverter.firstDifference(rawNode, source) == nil)
            try await rawNode.write(from: BlockBuffer([0x42]), at: 12_345)
            #expect(try await ImageConverter.firstDifference(rawNode, source) == 12_345)

            // Into an existing image full of old data: zero runs are written as zeroes too.
            let old = try await memoryNode("old", size: size)
            try await old.write(from: BlockBuffer([UInt8](repeating: 0xEE, count: size)), at: 0)
            try await ImageConverter.copy(from: source, to: old, chunkSize: 64 << 10, targetReadsZero: false)
            #expect(try await ImageConverter.firstDifference(old, source) == nil)
        }
    }
}

@Suite struct CompressedWriteTests {
    @Test(arguments: [4096, 65_536])
    func convertCompressedPacksClustersAndReadsBack(clusterSize: Int) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "c.qcow2"
            let size = 3 << 20 + 700
            // Text-like (compressible) clusters, a run of zeroes, random (incompressible) bytes.
            var data = (0..<size).map { UInt8(truncatingIfNeeded: ($0 / 7) % 26 + 97) }
            data.replaceSubrange((1 << 20)..<((1 << 20) + 300_000), with: [UInt8](repeating: 0, count: 300_000))
            var generator = SplitMix(seed: 3)
            for index in (2 << 20)..<((2 << 20) + 100_000) { data[index] = UInt8(truncatingIfNeeded: generator.next()) }
            let source = try await BlockNode(name: "src", driver: MemoryDriver(contents: data))
            try await ImageCreator.create(path: path, format: .qcow2, size: UInt64(size), clusterSize: clusterSize)
            let target = try await ImageOpener.open(path: path)
            try await ImageConverter.copy(from: source, to: target, compress: true)
            #expect(try await readBytes(target, at: 0, count: size) == data)
            let fileLength = try #require(target.children[.file]).length
            #expect(fileLength < UInt64(size) / 3, "compressed image of \(fileLength) bytes")
            var report = try await Qcow2Checker.check(path: path)
            #expect(report.exitCode == 0, "\(report.messages)")
            // Overwriting inside a compressed cluster, and discarding one, keep the image clean.
            try await target.write(from: BlockBuffer([1, 2, 3]), at: 5000)
            try await target.discard(at: UInt64(clusterSize) * 2, length: UInt64(clusterSize))
            try await target.flush()
            data.replaceSubrange(5000..<5003, with: [1, 2, 3])
            data.replaceSubrange((clusterSize * 2)..<(clusterSize * 3), with: [UInt8](repeating: 0, count: clusterSize))
            let reopened = try await ImageOpener.open(path: path, readOnly: true)
            #expect(try await readBytes(reopened, at: 0, count: size) == data)
            report = try await Qcow2Checker.check(path: path)
            #expect(report.exitCode == 0, "\(report.messages)")
            await #expect(throws: BlockError.self) {
                try await (target.driver as? Qcow2FormatDriver)?.writeCompressed(from: BlockBuffer(count: clusterSize), at: 0)
            }
        }
    }
}
