import Testing
@testable import BlockLayer

@Suite struct RawFormatDriverTests {
    @Test func passthroughSeesTheChildBytes() async throws {
        let memory = MemoryDriver(contents: (0..<200).map { UInt8($0) })
        let file = try await BlockNode(name: "file", driver: memory)
        let raw = try await BlockNode(name: "raw", driver: RawFormatDriver(file: file))
        #expect(raw.length == 200)
        #expect(raw.children[.file] === file)
        try await raw.write(from: BlockBuffer([9, 9]), at: 198)
        #expect(memory.contents[198...] == [9, 9])
        try await raw.truncate(to: 300)
        #expect(file.length == 300 && raw.length == 300)
    }

    @Test func windowShiftsAndBoundsRequests() async throws {
        let memory = MemoryDriver(contents: (0..<200).map { UInt8($0) })
        let file = try await BlockNode(name: "file", driver: memory)
        let raw = try await BlockNode(name: "raw", driver: RawFormatDriver(file: file, offset: 50, size: 100))
        #expect(raw.length == 100)
        let buffer = BlockBuffer(count: 4)
        try await raw.read(into: buffer, at: 0)
        #expect(buffer.array == [50, 51, 52, 53])
        await #expect(throws: BlockError.outOfRange(offset: 98, length: 4, nodeLength: 100)) {
            try await raw.read(into: BlockBuffer(count: 4), at: 98)
        }
        try await raw.writeZeroes(at: 99, length: 1)
        #expect(memory.contents[148...150] == [148, 0, 150])
        await #expect(throws: BlockError.unsupported("truncate of a raw window")) { try await raw.truncate(to: 10) }
    }

    @Test func windowOutsideTheChildIsRefused() async throws {
        let file = try await memoryNode("file", size: 100)
        #expect(throws: BlockError.self) { _ = try RawFormatDriver(file: file, offset: 50, size: 51) }
        #expect(throws: BlockError.self) { _ = try RawFormatDriver(file: file, offset: UInt64.max, size: 2) }
    }
}
