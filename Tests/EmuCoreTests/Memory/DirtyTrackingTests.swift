import Testing
@testable import EmuCore

@Suite("Dirty tracking")
struct DirtyTrackingTests {
    func machine() throws -> (AddressSpace, RAMBlock) {
        let root = try MemoryRegion.container(name: "sys", size: 0x1000000)
        let ram = try MemoryRegion.ram(name: "ram", size: 0x100000)
        try root.addSubregion(ram, at: 0x100000)
        return (AddressSpace(name: "m", root: root), try #require(ram.ramBlock))
    }

    @Test func clientsAreIndependent() throws {
        let (space, block) = try machine()
        block.startDirtyTracking(.code)
        block.startDirtyTracking(.migration)
        space.write(at: 0x100000 + 0x3000 + 5, size: 4, value: 1)  // page 3
        #expect(block.testAndClearDirty(.code) == [3])
        #expect(block.testAndClearDirty(.code) == [])
        #expect(block.isDirty(.migration, offset: 0x3000, length: 1))
        #expect(!block.isDirty(.migration, offset: 0x4000, length: 0x1000))
        #expect(block.testAndClearDirty(.migration) == [3])
        #expect(!block.isDirty(.display))
    }

    @Test func disabledClientSeesNothing() throws {
        let (space, block) = try machine()
        block.startDirtyTracking(.display)
        block.stopDirtyTracking(.display)
        space.write(at: 0x100000, size: 8, value: 1)
        try space.store(UInt8(1), at: 0x101000)
        #expect(!block.isTrackingDirty(.display))
        #expect(block.testAndClearDirty(.display) == [])
        let custom = try #require(DirtyMemoryClient.custom(0))
        #expect(DirtyMemoryClient.custom(DirtyMemoryClient.customCount) == nil)
        #expect(block.testAndClearDirty(custom) == [])
    }

    @Test func busGuestMemoryAndDMAUnmapAllMarkPages() throws {
        let (space, block) = try machine()
        let client = try #require(DirtyMemoryClient.custom(1))
        block.startDirtyTracking(client)
        space.write(at: 0x100FFF, size: 2, value: 0xFFFF)           // pages 0 and 1 (crosses)
        try space.write([UInt8](repeating: 1, count: 0x2001), at: 0x105000)  // pages 5, 6, 7
        space.writeBytes([1], at: 0x10A000)                          // page 10
        let mapping = try space.map(0x120000, length: 0x3000, access: .write)
        #expect(block.testAndClearDirty(client) == [0, 1, 5, 6, 7, 10])  // mapping not yet
        space.unmap(mapping, bytesWritten: 0x1001)                   // pages 0x20, 0x21
        space.unmap(mapping, bytesWritten: 0x3000)                   // second unmap: no effect
        #expect(block.testAndClearDirty(client) == [0x20, 0x21])
        let readMapping = try space.map(0x130000, length: 0x1000, access: .read)
        space.unmap(readMapping, bytesWritten: 0x1000)               // read mapping marks nothing
        _ = try space.read(count: 16, at: 0x140000)
        _ = space.read(at: 0x150000, size: 8)
        #expect(block.testAndClearDirty(client) == [])
    }

    @Test func rangeQueriesClearOnlyTheirRange() throws {
        let (space, block) = try machine()
        block.startDirtyTracking(.migration)
        for page in [1, 63, 64, 65, 200] as [UInt64] {
            space.write(at: 0x100000 + page * 0x1000, size: 1, value: 0)
        }
        #expect(block.testAndClearDirty(.migration, offset: 63 * 0x1000, length: 2 * 0x1000 + 1) == [63, 64, 65])
        #expect(block.testAndClearDirty(.migration, offset: .max, length: 10) == [])
        #expect(block.testAndClearDirty(.migration, offset: 0, length: 0) == [])
        #expect(block.testAndClearDirty(.migration) == [1, 200])
    }

    @Test func concurrentWritersLoseNoBits() async throws {
        let (space, block) = try machine()
        block.startDirtyTracking(.code)
        block.startDirtyTracking(.migration)
        let pages = Int(block.pageCount)  // 256
        let threads = 8
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<threads {
                group.addTask {
                    // Thread t writes pages t, t+threads, ...: every word is shared by all threads.
                    for round in 0..<20 {
                        for page in stride(from: t, to: pages, by: threads) {
                            space.write(at: 0x100000 + UInt64(page) * 0x1000 + UInt64(round), size: 1, value: 1)
                        }
                        if t == 0 { _ = block.testAndClearDirty(.code) }  // racing clears of another client
                    }
                }
            }
        }
        #expect(block.testAndClearDirty(.migration) == (0..<UInt64(pages)).map { $0 })
    }

    @Test func concurrentRawMarkingSetsEveryBit() async throws {
        let block = try RAMBlock(name: "race", size: 64 * 64 * 4096)  // 4096 pages, 64 words
        block.startDirtyTracking(.display)
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<4 {
                group.addTask {
                    for page in stride(from: UInt64(t), to: block.pageCount, by: 4) {
                        block.markDirty(offset: page * 4096, length: 1)
                    }
                }
            }
        }
        #expect(block.testAndClearDirty(.display).count == 4096)
    }
}
