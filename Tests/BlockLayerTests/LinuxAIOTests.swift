import EmuCore
import Foundation
import Testing
@testable import BlockLayer

/// The file driver's two engines and O_DIRECT padding. O_DIRECT files live in /var/tmp (on
/// disk; /tmp may be tmpfs, which has no O_DIRECT).
@Suite struct LinuxAIOTests {
    /// A scratch file path on a disk-backed file system.
    static func diskPath() -> String { "/var/tmp/emu-aio-\(UUID().uuidString).img" }

    static func engines(_ thread: IOThread) throws -> [(String, LinuxAIOEngine?)] {
        [("threads", nil), ("linux-aio", try LinuxAIOEngine(loop: thread.loop, depth: 8))]
    }

    @Test func buffersRoundTripThroughEitherEngine() async throws {
        let thread = try IOThread(name: "aio-test")
        defer { thread.stop() }
        for (name, engine) in try Self.engines(thread) {
            let path = Self.diskPath()
            defer { unlink(path) }
            let driver = try FileDriver(path: path, create: true, aio: engine)
            #expect(driver.engineName == name)
            let node = try await BlockNode(name: "f", driver: driver)
            try await node.truncate(to: 4 << 20)
            let data = (0..<(1 << 20) + 333).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
            try await node.write(from: BlockBuffer(data), at: 4096 + 7)
            let back = BlockBuffer(count: data.count)
            try await node.read(into: back, at: 4096 + 7)
            #expect(back.array == data, "\(name)")
            // Past the host file's end reads as zeroes (the file shrank under the node).
            #expect(truncate(path, 8192) == 0)
            let tail = BlockBuffer(count: 8192)
            tail.bytes.initializeMemory(as: UInt8.self, repeating: 0xFF)
            try await node.read(into: tail, at: 4096)
            #expect(Array(tail.array[4096...]).allSatisfy { $0 == 0 }, "\(name)")
            #expect(Array(tail.array[7..<4096]) == Array(data[0..<(4096 - 7)]), "\(name)")
        }
    }

    @Test func moreRequestsThanTheDepthAllComplete() async throws {
        let thread = try IOThread(name: "aio-depth")
        defer { thread.stop() }
        let engine = try LinuxAIOEngine(loop: thread.loop, depth: 4)
        let path = Self.diskPath()
        defer { unlink(path) }
        let node = try await BlockNode(name: "f", driver: try FileDriver(path: path, create: true, direct: true, aio: engine))
        try await node.truncate(to: 1 << 20)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for block in 0..<64 {
                group.addTask {
                    try await node.write(from: BlockBuffer([UInt8](repeating: UInt8(block), count: 4096)), at: UInt64(block * 4096))
                }
            }
            try await group.waitForAll()
        }
        #expect(engine.pending == (0, 0))
        let all = BlockBuffer(count: 64 * 4096)
        try await node.read(into: all, at: 0)
        let bytes = all.array
        for block in 0..<64 {
            #expect(bytes[(block * 4096)..<((block + 1) * 4096)].allSatisfy { $0 == UInt8(block) }, "block \(block)")
        }
    }

    @Test func unalignedRequestsArePaddedUnderODirect() async throws {
        let thread = try IOThread(name: "aio-direct")
        defer { thread.stop() }
        for (name, engine) in try Self.engines(thread) {
            let path = Self.diskPath()
            defer { unlink(path) }
            let driver = try FileDriver(path: path, create: true, direct: true, aio: engine)
            let node = try await BlockNode(name: "f", driver: driver)
            try await node.truncate(to: 64 << 10)
            var model = [UInt8](repeating: 0, count: 64 << 10)
            for (offset, count, seed) in [(4000, 100, 1), (10, 5000, 2), (8191, 1, 3), (12_288, 4096, 4), (20_000, 9000, 5)] {
                let data = (0..<count).map { UInt8(truncatingIfNeeded: $0 &+ seed &* 31) }
                try await node.write(from: BlockBuffer(data, alignment: 1), at: UInt64(offset))
                model.replaceSubrange(offset..<(offset + count), with: data)
            }
            for (offset, count) in [(4090, 3), (0, 65536), (20_001, 8999), (1, 1)] {
                let back = BlockBuffer(count: count, alignment: 1)
                try await node.read(into: back, at: UInt64(offset))
                #expect(back.array == Array(model[offset..<(offset + count)]), "\(name) read \(offset)+\(count)")
            }
        }
    }

    /// Read-modify-writes of one block must not undo each other: 32 small writes into the same
    /// two blocks, all at once, must all be there.
    @Test(arguments: ["threads", "linux-aio"]) func concurrentSmallWritesIntoOneBlockAreAllKept(engineName: String) async throws {
        let thread = try IOThread(name: "aio-rmw")
        defer { thread.stop() }
        let engine = engineName == "linux-aio" ? try LinuxAIOEngine(loop: thread.loop, depth: 16) : nil
        let path = Self.diskPath()
        defer { unlink(path) }
        let node = try await BlockNode(name: "f", driver: try FileDriver(path: path, create: true, direct: true, aio: engine))
        try await node.truncate(to: 8192)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<32 {
                group.addTask {
                    try await node.write(from: BlockBuffer([UInt8](repeating: UInt8(i + 1), count: 100), alignment: 1), at: UInt64(i * 256 + 3))
                }
            }
            try await group.waitForAll()
        }
        let back = BlockBuffer(count: 8192)
        try await node.read(into: back, at: 0)
        let bytes = back.array
        var lost: [Int] = []
        for i in 0..<32 {
            let start = i * 256 + 3
            if !bytes[start..<(start + 100)].allSatisfy({ $0 == UInt8(i + 1) }) { lost.append(i) }
        }
        #expect(lost.isEmpty, "writes lost: \(lost)")
    }
}
