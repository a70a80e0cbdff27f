import Testing
@testable import BlockLayer

@Suite struct MemoryDriverTests {
    @Test func roundTripZeroesAndTruncate() async throws {
        let driver = MemoryDriver(size: 1024)
        let node = try await BlockNode(name: "m", driver: driver)
        try await node.write(from: BlockBuffer([UInt8](1...100)), at: 10)
        let back = BlockBuffer(count: 100)
        try await node.read(into: back, at: 10)
        #expect(back.array == [UInt8](1...100))
        try await node.writeZeroes(at: 20, length: 10)
        try await node.discard(at: 50, length: 5)
        let contents = driver.contents
        #expect(contents[20..<30].allSatisfy { $0 == 0 } && contents[50..<55].allSatisfy { $0 == 0 })
        #expect(contents[30] == 21)
        try await node.truncate(to: 2048)
        #expect(node.length == 2048)
        try await node.truncate(to: 15)
        #expect(node.length == 15)
        #expect(driver.contents == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5])
    }
}
