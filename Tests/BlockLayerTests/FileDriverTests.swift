import Foundation
import Testing
@testable import BlockLayer

@Suite struct FileDriverTests {
    private func withTemporaryFile(size: Int, _ body: (String) async throws -> Void) async throws {
        let path = temporaryPath()
        #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0xAB, count: size)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await body(path)
    }

    @Test func readWriteRoundTripAndLength() async throws {
        try await withTemporaryFile(size: 1 << 20) { path in
            let node = try await BlockNode(name: "f", driver: FileDriver(path: path))
            #expect(node.length == 1 << 20)
            let data = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try await node.write(from: BlockBuffer(data), at: 12_345)
            try await node.flush()
            let back = BlockBuffer(count: data.count)
            try await node.read(into: back, at: 12_345)
            #expect(back.array == data)
            let onDisk = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(Array(onDisk[12_345..<(12_345 + data.count)]) == data)
            #expect(onDisk[12_344] == 0xAB)
        }
    }

    @Test func discardAndWriteZeroesReadBackAsZeroes() async throws {
        try await withTemporaryFile(size: 1 << 20) { path in
            let node = try await BlockNode(name: "f", driver: FileDriver(path: path))
            try await node.discard(at: 65_536, length: 65_536)
            try await node.writeZeroes(at: 300_000, length: 5_000)
            #expect(node.length == 1 << 20)
            let a = BlockBuffer(count: 65_536)
            try await node.read(into: a, at: 65_536)
            #expect(a.array.allSatisfy { $0 == 0 })
            let b = BlockBuffer(count: 5_002)
            try await node.read(into: b, at: 299_999)
            #expect(b.array.first == 0xAB && b.array.last == 0xAB)
            #expect(b.array[1..<5_001].allSatisfy { $0 == 0 })
        }
    }

    @Test func truncateGrowsWithZeroesAndShrinks() async throws {
        try await withTemporaryFile(size: 4096) { path in
            let node = try await BlockNode(name: "f", driver: FileDriver(path: path))
            try await node.truncate(to: 10_000)
            #expect(node.length == 10_000)
            let tail = BlockBuffer(count: 10_000 - 4096)
            try await node.read(into: tail, at: 4096)
            #expect(tail.array.allSatisfy { $0 == 0 })
            try await node.truncate(to: 100)
            #expect(node.length == 100)
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == 100)
        }
    }

    @Test func readOnlyOpenRefusesWrites() async throws {
        try await withTemporaryFile(size: 4096) { path in
            let node = try await BlockNode(name: "f", driver: FileDriver(path: path, readOnly: true))
            await #expect(throws: BlockError.readOnly) { try await node.write(from: BlockBuffer(count: 8), at: 0) }
            let buffer = BlockBuffer(count: 8)
            try await node.read(into: buffer, at: 0)
            #expect(buffer.array == [UInt8](repeating: 0xAB, count: 8))
        }
    }

    @Test func missingFileGivesErrno() {
        #expect(throws: BlockError.io(errno: ENOENT, operation: "open")) {
            _ = try FileDriver(path: "/nonexistent-\(UUID().uuidString)")
        }
    }
}
