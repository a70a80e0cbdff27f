import Foundation
import Testing
@testable import BlockLayer

@Suite struct Qcow2ReadWriteTests {
    @Test(arguments: [512, 4096, 65_536, 2 << 20])
    func writeFlushReopenReadsBack(clusterSize: Int) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "a.qcow2"
            let size: UInt64 = 8 << 20
            try await ImageCreator.create(path: path, format: .qcow2, size: size, clusterSize: clusterSize)
            let writes: [(UInt64, [UInt8])] = [
                (0, pattern(100, seed: 1)),
                (UInt64(clusterSize) - 3, pattern(10, seed: 2)),
                (3 << 20 + 17, pattern(300_000, seed: 3)),
                (size - 5, pattern(5, seed: 4)),
            ]
            do {
                let node = try await ImageOpener.open(path: path)
                #expect(node.driver.formatName == "qcow2" && node.length == size)
                for (offset, data) in writes { try await node.write(from: BlockBuffer(data), at: offset) }
                // Overwrite inside an allocated cluster (in place).
                try await node.write(from: BlockBuffer([0xEE, 0xEF]), at: 50)
                try await node.flush()
            }
            let node = try await ImageOpener.open(path: path, readOnly: true)
            var expected = [UInt8](repeating: 0, count: Int(size))
            for (offset, data) in writes { expected.replaceSubrange(Int(offset)..<(Int(offset) + data.count), with: data) }
            expected[50] = 0xEE
            expected[51] = 0xEF
            #expect(try await readBytes(node, at: 0, count: Int(size)) == expected)
            let report = try await Qcow2Checker.check(path: path)
            #expect(report.corruptions == 0 && report.leaks == 0, "\(report.messages)")
        }
    }

    @Test func zeroesDiscardAndStatus() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "z.qcow2"
            try await ImageCreator.create(path: path, format: .qcow2, size: 1 << 20, clusterSize: 4096)
            let node = try await ImageOpener.open(path: path)
            try await node.write(from: BlockBuffer(pattern(64 << 10, seed: 5)), at: 0)
            #expect(try await node.blockStatus(at: 0, length: 1 << 20) == BlockStatus(.data, length: 64 << 10))
            #expect(try await node.blockStatus(at: 64 << 10, length: 100) == BlockStatus(.unallocated, length: 100))
            try await node.writeZeroes(at: 4096, length: 8192 + 10)
            #expect(try await node.blockStatus(at: 4096, length: 100_000) == BlockStatus(.zero, length: 8192))
            try await node.discard(at: 32 << 10, length: 8192)
            #expect(try await node.blockStatus(at: 32 << 10, length: 8192) == BlockStatus(.unallocated, length: 8192))
            try await node.flush()
            var expected = pattern(64 << 10, seed: 5) + [UInt8](repeating: 0, count: (1 << 20) - (64 << 10))
            for index in 4096..<(4096 + 8192 + 10) { expected[index] = 0 }
            for index in (32 << 10)..<((32 << 10) + 8192) { expected[index] = 0 }
            #expect(try await readBytes(node, at: 0, count: 1 << 20) == expected)
            let report = try await Qcow2Checker.check(path: path)
            #expect(report.corruptions == 0 && report.leaks == 0, "\(report.messages)")
            // Freed clusters are reused by later allocations instead of growing the file.
            let before = node.children[.file]?.length
            try await node.write(from: BlockBuffer(pattern(8192, seed: 6)), at: 512 << 10)
            try await node.flush()
            #expect(node.children[.file]?.length == before)
        }
    }

    @Test func growingTheRefcountTable() async throws {
        // 512-byte clusters: one refcount block counts 256 clusters and the first table holds 64
        // blocks (8 MiB of clusters), so 10 MiB of data needs a larger table.
        try await withTemporaryDirectory { directory in
            let path = directory + "grow.qcow2"
            try await ImageCreator.create(path: path, format: .qcow2, size: 24 << 20, clusterSize: 512)
            let data = pattern(10 << 20, seed: 7)
            do {
                let node = try await ImageOpener.open(path: path)
                for chunk in stride(from: 0, to: data.count, by: 1 << 20) {
                    try await node.write(from: BlockBuffer(Array(data[chunk..<(chunk + (1 << 20))])), at: UInt64(chunk) * 2)
                }
                try await node.flush()
                #expect((node.driver as? Qcow2FormatDriver)?.image.header.refcountTableClusters ?? 0 > 1)
            }
            let node = try await ImageOpener.open(path: path, readOnly: true)
            for chunk in stride(from: 0, to: data.count, by: 1 << 20) {
                #expect(try await readBytes(node, at: UInt64(chunk) * 2, count: 1 << 20) == Array(data[chunk..<(chunk + (1 << 20))]))
            }
            let report = try await Qcow2Checker.check(path: path)
            #expect(report.corruptions == 0 && report.leaks == 0, "\(report.messages)")
        }
    }
}

@Suite struct Qcow2CacheEvictionTests {
    @Test func smallL2CacheWritesBackDirtyTablesInOrder() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "evict.qcow2"
            // 512-byte clusters: one L2 table maps 32 KiB, so 1 MiB of scattered writes touches
            // 32 tables through a cache of 4.
            try await ImageCreator.create(path: path, format: .qcow2, size: 1 << 20, clusterSize: 512)
            let file = try await BlockNode(name: "f", driver: FileDriver(path: path))
            let node = try await BlockNode(name: "q", driver: try await Qcow2FormatDriver.open(file: file, cacheBytes: 2048))
            var expected = [UInt8](repeating: 0, count: 1 << 20)
            var generator = SplitMix(seed: 5)
            for round in 0..<200 {
                let offset = Int(generator.next() % UInt64((1 << 20) - 3000))
                let data = pattern(Int(generator.next() % 3000) + 1, seed: UInt8(truncatingIfNeeded: round))
                try await node.write(from: BlockBuffer(data), at: UInt64(offset))
                expected.replaceSubrange(offset..<(offset + data.count), with: data)
                if round % 50 == 49 {
                    // Mid-run (tables evicted, not flushed) the image on disk has no corruption.
                    let report = try await Qcow2Checker.check(path: path)
                    #expect(report.corruptions == 0, "\(report.messages)")
                }
            }
            #expect(try await readBytes(node, at: 0, count: 1 << 20) == expected)
            try await node.flush()
            let reopened = try await ImageOpener.open(path: path, readOnly: true)
            #expect(try await readBytes(reopened, at: 0, count: 1 << 20) == expected)
            #expect(try await Qcow2Checker.check(path: path).exitCode == 0)
        }
    }
}
