import Testing
@testable import BlockLayer

@Suite struct NodeRequestCheckTests {
    @Test func overflowIsRefusedBeforeTheDriver() async throws {
        let node = try await memoryNode("m", size: 4096)
        await #expect(throws: BlockError.overflow(offset: UInt64.max - 1, length: 16)) {
            try await node.read(into: BlockBuffer(count: 16), at: UInt64.max - 1)
        }
        await #expect(throws: BlockError.overflow(offset: 8, length: UInt64.max)) {
            try await node.discard(at: 8, length: UInt64.max)
        }
    }

    @Test func pastTheEndIsOutOfRange() async throws {
        let node = try await memoryNode("m", size: 4096)
        await #expect(throws: BlockError.outOfRange(offset: 4000, length: 512, nodeLength: 4096)) {
            try await node.write(from: BlockBuffer(count: 512), at: 4000)
        }
        await #expect(throws: BlockError.outOfRange(offset: 4097, length: 0, nodeLength: 4096)) {
            try await node.writeZeroes(at: 4097, length: 0)
        }
        // Exactly up to the end is fine; so is an empty request at the end.
        try await node.write(from: BlockBuffer([UInt8](repeating: 7, count: 96)), at: 4000)
        try await node.read(into: BlockBuffer(count: 0), at: 4096)
    }

    @Test func alignmentAndTransferLimitsOfTheDriverAreEnforced() async throws {
        let driver = ProbeDriver(size: 8192, limits: BlockLimits(requestAlignment: 512, maxTransfer: 1024))
        let node = try await BlockNode(name: "p", driver: driver)
        await #expect(throws: BlockError.misaligned(offset: 100, length: 512, alignment: 512)) {
            try await node.write(from: BlockBuffer(count: 512), at: 100)
        }
        await #expect(throws: BlockError.tooLarge(length: 2048, maximum: 1024)) {
            try await node.read(into: BlockBuffer(count: 2048), at: 0)
        }
        try await node.write(from: BlockBuffer(count: 1024), at: 512)
        #expect(driver.writesEntered.load(ordering: .relaxed) == 1)
    }

    @Test func readOnlyNodeRefusesEveryWriteKind() async throws {
        let node = try await memoryNode("ro", size: 4096, readOnly: true)
        await #expect(throws: BlockError.readOnly) { try await node.write(from: BlockBuffer(count: 1), at: 0) }
        await #expect(throws: BlockError.readOnly) { try await node.discard(at: 0, length: 1) }
        await #expect(throws: BlockError.readOnly) { try await node.writeZeroes(at: 0, length: 1) }
        await #expect(throws: BlockError.readOnly) { try await node.truncate(to: 0) }
        #expect(throws: BlockError.readOnly) { _ = try node.claimWriter(holder: "x") }
        try await node.read(into: BlockBuffer(count: 16), at: 0)
    }
}
