import Foundation
import Testing
@testable import BlockLayer

@Suite struct Qcow2BackingTests {
    @Test func threeLevelChainReadsThroughAndCopiesOnWrite() async throws {
        try await withTemporaryDirectory { directory in
            let base = directory + "base.raw", middle = directory + "mid.qcow2", top = directory + "top.qcow2"
            let baseData = pattern(1 << 20, seed: 1)
            try Data(baseData).write(to: URL(fileURLWithPath: base))
            try await ImageCreator.create(path: middle, format: .qcow2, size: 2 << 20, clusterSize: 4096,
                                          backingFile: "base.raw")
            do {
                let node = try await ImageOpener.open(path: middle)
                try await node.write(from: BlockBuffer(pattern(5000, seed: 2)), at: 10_000)
                try await node.flush()
            }
            try await ImageCreator.create(path: top, format: .qcow2, size: 2 << 20, clusterSize: 65_536,
                                          backingFile: middle, backingFormat: .qcow2)
            let node = try await ImageOpener.open(path: top)
            let chain = ImageOpener.chain(node)
            #expect(chain.map { $0.driver.formatName } == ["qcow2", "qcow2", "raw"])
            let middleFormat = (chain[1].driver as? Qcow2FormatDriver)?.openedHeader.backingFormat
            #expect(middleFormat == "raw")
            let backingsReadOnly = chain.dropFirst().filter { !$0.isReadOnly }.isEmpty
            #expect(backingsReadOnly)

            var expected = baseData + [UInt8](repeating: 0, count: 1 << 20)
            expected.replaceSubrange(10_000..<15_000, with: pattern(5000, seed: 2))
            #expect(try await readBytes(node, at: 0, count: 2 << 20) == expected)
            #expect(try await node.blockStatus(at: 0, length: 1 << 20) == BlockStatus(.unallocated, length: 1 << 20))

            // A small write in the top copies the rest of its cluster up from the chain.
            try await node.write(from: BlockBuffer([1, 2, 3]), at: 12_000)
            expected.replaceSubrange(12_000..<12_003, with: [1, 2, 3])
            // Discard with a backing file leaves zeroes, not the backing data.
            try await node.discard(at: 131_072, length: 65_536)
            expected.replaceSubrange(131_072..<196_608, with: [UInt8](repeating: 0, count: 65_536))
            try await node.flush()
            #expect(try await readBytes(node, at: 0, count: 2 << 20) == expected)
            #expect(try await node.blockStatus(at: 0, length: 1 << 20) == BlockStatus(.data, length: 65_536))
            #expect(try await node.blockStatus(at: 131_072, length: 1 << 20) == BlockStatus(.zero, length: 65_536))
            let reopened = try await ImageOpener.open(path: top, readOnly: true)
            #expect(try await readBytes(reopened, at: 0, count: 2 << 20) == expected)
            // The backing files were not written.
            #expect(try fileBytes(base) == baseData)
            #expect(try await Qcow2Checker.check(path: top).exitCode == 0)
        }
    }

    @Test func compressedClustersAndVersion2() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "v.qcow2"
            try await ImageCreator.create(path: path, format: .qcow2, size: 1 << 20, clusterSize: 4096)
            let plain = (0..<4096).map { UInt8(truncatingIfNeeded: $0 / 64) }
            do {
                let file = try await BlockNode(name: "f", driver: FileDriver(path: path))
                let image = try await Qcow2Image.load(file: file, readOnly: false)
                let compressed = try #require(plain.withUnsafeBytes { Qcow2Compression.deflateCluster($0) })
                let host = try await image.allocateClusters(1)
                try await image.writeBytes(compressed, at: host)
                let sectors = UInt64((compressed.count + 511) / 512 - 1)
                let entry = Qcow2Cluster.compressedFlag | sectors << UInt64(62 - 4) | host
                try await image.setL2Entry(guestOffset: 8192, to: entry)
                try await image.writeBack()
            }
            do {
                let node = try await ImageOpener.open(path: path)
                #expect(try await readBytes(node, at: 8192, count: 4096) == plain)
                #expect(try await node.blockStatus(at: 8192, length: 4096) == BlockStatus(.data, length: 4096))
                #expect(try await Qcow2Checker.check(path: path).exitCode == 0)
                // Writing into a compressed cluster moves it to a plain one and frees the old one.
                try await node.write(from: BlockBuffer([9]), at: 8192 + 100)
                try await node.flush()
                var expected = plain
                expected[100] = 9
                #expect(try await readBytes(node, at: 8192, count: 4096) == expected)
                #expect(try await Qcow2Checker.check(path: path).exitCode == 0)
            }
            // The same file as version 2 (its v3 fields read as the end of the extensions).
            try patchFile(path, at: 4, bigEndian(UInt32(2)))
            let v2 = try await ImageOpener.open(path: path, readOnly: true)
            #expect((v2.driver as? Qcow2FormatDriver)?.openedHeader.version == 2)
            #expect(try await readBytes(v2, at: 8192 + 99, count: 3) == [plain[99], 9, plain[101]])
            await #expect(throws: BlockError.unsupported("writing qcow2 version 2 images (open read-only or convert)")) {
                _ = try await ImageOpener.open(path: path)
            }
        }
    }
}
