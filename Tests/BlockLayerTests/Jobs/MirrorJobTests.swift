import Synchronization
import Testing
@testable import BlockLayer

/// A memory image that reports only some ranges as allocated in its own layer (for sync=top).
final class PartlyAllocatedDriver: BlockDriver {
    let formatName = "partly"
    let isReadOnly = false
    let memory: MemoryDriver
    let allocated: [Range<UInt64>]
    init(contents: [UInt8], allocated: [Range<UInt64>]) {
        memory = MemoryDriver(contents: contents)
        self.allocated = allocated
    }
    func length() async throws(BlockError) -> UInt64 { try await memory.length() }
    func read(into buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) { try await memory.read(into: buffer, at: offset) }
    func write(from buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) { try await memory.write(from: buffer, at: offset) }
    func flush() async throws(BlockError) {}
    func discard(at offset: UInt64, length: UInt64) async throws(BlockError) {}
    func writeZeroes(at offset: UInt64, length: UInt64) async throws(BlockError) { try await memory.writeZeroes(at: offset, length: length) }
    func truncate(to length: UInt64) async throws(BlockError) { throw .unsupported("truncate") }
    func blockStatus(at offset: UInt64, length: UInt64) async throws(BlockError) -> BlockStatus {
        if let run = allocated.first(where: { $0.contains(offset) }) { return BlockStatus(.data, length: min(run.upperBound - offset, length)) }
        let next = allocated.map(\.lowerBound).filter { $0 > offset }.min() ?? offset + length
        return BlockStatus(.unallocated, length: min(next - offset, length))
    }
}

@Suite struct MirrorJobTests {
    static let size = 1 << 20

    static func pattern(_ seed: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9 &+ seed) } }

    struct Setup {
        let sourceDriver: MemoryDriver
        let targetDriver: MemoryDriver
        let backend: BlockBackend
        let target: BlockNode
    }

    static func setUp(_ contents: [UInt8]) async throws -> Setup {
        let sourceDriver = MemoryDriver(contents: contents)
        let backend = try BlockBackend(name: "vda", node: try await BlockNode(name: "src", driver: sourceDriver))
        let targetDriver = MemoryDriver(size: contents.count)
        return Setup(sourceDriver: sourceDriver, targetDriver: targetDriver, backend: backend,
                     target: try await BlockNode(name: "dst", driver: targetDriver))
    }

    @Test func fullSyncCopiesEverythingThenSwitchesOnComplete() async throws {
        let s = try await Self.setUp(Self.pattern(1))
        let mirror = try MirrorJob(backend: s.backend, target: s.target, sync: .full)
        let job = BlockJob(id: "m", body: mirror)
        try job.start()
        await job.waitUntil { $0 == .ready }
        #expect(s.targetDriver.contents == Self.pattern(1))
        #expect(job.progress.current >= UInt64(Self.size) && job.progress.current == job.progress.total)
        #expect(s.backend.node === mirror.source)
        // While ready, new guest writes are mirrored too.
        try await s.backend.write([9, 9, 9], at: 5000)
        #expect(await eventually { s.targetDriver.contents[5000..<5003] == [9, 9, 9] })
        try job.complete()
        try await job.waitForConclusion()
        #expect(mirror.switched && s.backend.node === s.target)
        #expect(s.target.writerHolder == "backend vda")
        #expect(mirror.source.writerHolder == nil)
        try await s.backend.write([7], at: 0)
        #expect(s.targetDriver.contents[0] == 7 && s.sourceDriver.contents[0] != 7)
    }

    @Test func topSyncCopiesOnlyWhatTheTopLayerHolds() async throws {
        let contents = Self.pattern(2)
        let driver = PartlyAllocatedDriver(contents: contents, allocated: [65536..<131072, 512_000..<520_000])
        let backend = try BlockBackend(name: "vda", node: try await BlockNode(name: "src", driver: driver))
        let targetDriver = MemoryDriver(size: Self.size)
        let mirror = try MirrorJob(backend: backend, target: try await BlockNode(name: "dst", driver: targetDriver),
                                   sync: .top, options: { var o = MirrorJob.Options(); o.granularity = 4096; return o }())
        let job = BlockJob(id: "m", body: mirror)
        try job.start()
        await job.waitUntil { $0 == .ready }
        let copied = targetDriver.contents
        #expect(copied[65536..<131072] == contents[65536..<131072])
        #expect(copied[512_000..<520_000] == contents[512_000..<520_000])
        #expect(copied[0..<65536].allSatisfy { $0 == 0 } && copied[200_000..<500_000].allSatisfy { $0 == 0 })
        #expect(job.progress.current == 65536 + (520_192 - 511_999 - 1))  // whole 4 KiB chunks: 126*4096..127*4096
        try job.cancel()
        try await job.waitForConclusion()
    }

    @Test func noneSyncCopiesOnlyNewWrites() async throws {
        let s = try await Self.setUp(Self.pattern(3))
        let mirror = try MirrorJob(backend: s.backend, target: s.target, sync: .none)
        let job = BlockJob(id: "m", body: mirror)
        try job.start()
        await job.waitUntil { $0 == .ready }
        #expect(s.targetDriver.contents.allSatisfy { $0 == 0 })
        try await s.backend.write([1, 2, 3, 4], at: 300_000)
        try job.complete()
        try await job.waitForConclusion()
        let target = s.targetDriver.contents
        #expect(target[300_000..<300_004] == [1, 2, 3, 4])
        // The whole 64 KiB chunk around the write was copied, nothing else.
        let chunk = 262_144..<327_680
        #expect(Array(target[chunk]) == Array(s.sourceDriver.contents[chunk]))
        #expect(target[0..<262_144].allSatisfy { $0 == 0 })
    }

    @Test func cancelBeforeReadyLeavesTheBackendOnTheSource() async throws {
        let s = try await Self.setUp(Self.pattern(4))
        let mirror = try MirrorJob(backend: s.backend, target: s.target, sync: .full)
        let job = BlockJob(id: "m", body: mirror, speed: 64 << 10)  // slow: one 1 MiB copy… then waits
        try job.start()
        try await Task.sleep(for: .milliseconds(20))
        #expect(job.status == .running)
        try job.cancel()
        await #expect(throws: BlockJobError.cancelled) { try await job.waitForConclusion() }
        #expect(!mirror.switched && s.backend.node === mirror.source)
        #expect(s.target.writerHolder == nil)             // the job gave the target back
        #expect(!mirror.source.isDrained)
    }

    @Test func cancelAfterReadyLeavesAConsistentCopyWithoutSwitching() async throws {
        let s = try await Self.setUp(Self.pattern(5))
        let mirror = try MirrorJob(backend: s.backend, target: s.target)
        let job = BlockJob(id: "m", body: mirror)
        try job.start()
        await job.waitUntil { $0 == .ready }
        try await s.backend.write([0xAA, 0xBB], at: 777_777)
        try job.cancel()
        try await job.waitForConclusion()   // a soft cancel is not a failure
        #expect(!mirror.switched && s.backend.node === mirror.source)
        #expect(s.targetDriver.contents == s.sourceDriver.contents)
        #expect(!mirror.source.isDrained && !s.backend.isDrained)
    }

    @Test func withoutAutoFinalizeTheGuestWaitsUntilFinalize() async throws {
        let s = try await Self.setUp(Self.pattern(6))
        let mirror = try MirrorJob(backend: s.backend, target: s.target)
        let job = BlockJob(id: "m", body: mirror, autoFinalize: false)
        try job.start()
        await job.waitUntil { $0 == .ready }
        try job.complete()
        await job.waitUntil { $0 == .pending }
        #expect(s.backend.isDrained)
        let write = Task { try await s.backend.write([0x5A], at: 42) }
        try await Task.sleep(for: .milliseconds(20))
        #expect(s.backend.queuedCount == 1)        // held, not lost
        try job.finalize()
        try await write.value
        try await job.waitForConclusion()
        #expect(s.targetDriver.contents[42] == 0x5A)  // admitted after the switch
        #expect(s.sourceDriver.contents[42] != 0x5A)
    }

    @Test func badMirrorsAreRefused() async throws {
        let s = try await Self.setUp(Self.pattern(7))
        #expect(throws: BlockError.self) { try MirrorJob(backend: s.backend, target: s.backend.node) }
        let small = try await memoryNode("small", size: 4096)
        #expect(throws: BlockError.self) { try MirrorJob(backend: s.backend, target: small) }
        let readOnly = try await memoryNode("ro", size: Self.size, readOnly: true)
        #expect(throws: BlockError.readOnly) { try MirrorJob(backend: s.backend, target: readOnly) }
        var options = MirrorJob.Options()
        options.granularity = 1000
        #expect(throws: BlockError.self) { try MirrorJob(backend: s.backend, target: s.target, options: options) }
        // Only one mirror may write a target.
        let first = try MirrorJob(backend: s.backend, target: s.target)
        #expect(throws: BlockError.writerConflict(node: "dst", holder: "mirror job")) { try MirrorJob(backend: s.backend, target: s.target) }
        _ = first
    }
}
