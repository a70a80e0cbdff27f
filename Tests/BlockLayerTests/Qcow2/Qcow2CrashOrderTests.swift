import Synchronization
import Testing
@testable import BlockLayer

/// A RAM file that logs every write, truncate and flush, so a test can rebuild what the file
/// could hold after a crash at any point.
final class CrashLogDriver: BlockDriver {
    enum Event {
        case write(UInt64, [UInt8])
        case truncate(UInt64)
        case flush
    }

    let formatName = "crash-log"
    let isReadOnly = false
    let memory = MemoryDriver(size: 0)
    private let events = Mutex<[Event]>([])

    var log: [Event] { events.withLock { $0 } }

    func length() async throws(BlockError) -> UInt64 { try await memory.length() }
    func read(into buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        try await memory.read(into: buffer, at: offset)
    }
    func write(from buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        events.withLock { $0.append(.write(offset, buffer.array)) }
        try await memory.write(from: buffer, at: offset)
    }
    func flush() async throws(BlockError) { events.withLock { $0.append(.flush) } }
    func discard(at offset: UInt64, length: UInt64) async throws(BlockError) {
        try await write(from: BlockBuffer(count: Int(length)), at: offset)
    }
    func writeZeroes(at offset: UInt64, length: UInt64) async throws(BlockError) {
        try await write(from: BlockBuffer(count: Int(length)), at: offset)
    }
    func truncate(to length: UInt64) async throws(BlockError) {
        events.withLock { $0.append(.truncate(length)) }
        try await memory.truncate(to: length)
    }

    static func apply(_ event: Event, to bytes: inout [UInt8]) {
        switch event {
        case .write(let offset, let data):
            let end = Int(offset) + data.count
            if bytes.count < end { bytes += [UInt8](repeating: 0, count: end - bytes.count) }
            bytes.replaceSubrange(Int(offset)..<end, with: data)
        case .truncate(let length):
            if Int(length) < bytes.count { bytes.removeLast(bytes.count - Int(length)) } else {
                bytes += [UInt8](repeating: 0, count: Int(length) - bytes.count)
            }
        case .flush: break
        }
    }
}

/// The documented crash order holds: whatever subset of the writes since the last flush reached
/// the disk (in order, or only the later ones), the image has no corruption (leaks allowed).
@Suite struct Qcow2CrashOrderTests {
    @Test func everyCrashPointLeavesNoCorruption() async throws {
        let recorder = CrashLogDriver()
        let file = try await BlockNode(name: "file", driver: recorder)
        try await Qcow2Creator.format(file: file, size: 4 << 20, clusterSize: 4096)
        let createdEvents = recorder.log.count
        let node = try await BlockNode(name: "qcow2", driver: try await Qcow2FormatDriver.open(file: file))
        var generator = SplitMix(seed: 42)
        var written: [UInt64] = []
        for round in 0..<24 {
            var offset = generator.next() % (4 << 20 - 60_000)
            let length = Int(generator.next() % 20_000) + 1
            // Discards and zero writes hit data written earlier, so clusters get freed.
            if round % 6 >= 4, let earlier = written.randomElement(using: &generator) { offset = earlier & ~4095 }
            switch round % 6 {
            case 4: try await node.discard(at: offset, length: UInt64(length) * 3)
            case 5: try await node.writeZeroes(at: offset, length: UInt64(length) + 8192)
            default:
                try await node.write(from: BlockBuffer(pattern(length, seed: UInt8(round))), at: offset)
                written.append(offset)
            }
            if round % 3 == 2 { try await node.flush() }
        }
        try await node.flush()

        let log = recorder.log
        var flushed: [UInt8] = []
        for event in log[..<createdEvents] { CrashLogDriver.apply(event, to: &flushed) }
        var epoch: [CrashLogDriver.Event] = []
        var crashPoints = 0
        func expectConsistent(_ bytes: [UInt8], _ label: String) async throws {
            let crashed = try await BlockNode(name: "crashed", driver: MemoryDriver(contents: bytes))
            let image = try await Qcow2Image.load(file: crashed, readOnly: true, cacheBytes: 0)
            let report = try await Qcow2Checker.check(image, repairLeaks: false)
            #expect(report.corruptions == 0, "\(label): \(report.messages)")
            crashPoints += 1
        }
        for event in log[createdEvents...] {
            if case .flush = event {
                for item in epoch { CrashLogDriver.apply(item, to: &flushed) }
                epoch.removeAll()
                continue
            }
            epoch.append(event)
            // Crash now: the epoch's writes reached the disk in order...
            var inOrder = flushed
            for item in epoch { CrashLogDriver.apply(item, to: &inOrder) }
            try await expectConsistent(inOrder, "in order, \(epoch.count) of the epoch")
            // ...or only its latest writes did (the disk reordered them).
            if epoch.count > 1 {
                var latestOnly = flushed
                for item in epoch.dropFirst() where { if case .truncate = item { return false }; return true }() {
                    CrashLogDriver.apply(item, to: &latestOnly)
                }
                for item in epoch { if case .truncate = item { CrashLogDriver.apply(item, to: &latestOnly) } }
                try await expectConsistent(latestOnly, "reordered, \(epoch.count) of the epoch")
            }
        }
        #expect(crashPoints > 50)
    }

    @Test func concurrentWritesSharingClustersAllLand() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "concurrent.qcow2"
            try await ImageCreator.create(path: path, format: .qcow2, size: 4 << 20, clusterSize: 65_536)
            let node = try await ImageOpener.open(path: path)
            let backend = try BlockBackend(name: "disk", node: node)
            // 1 KiB slots, 64 to a cluster, written in a shuffled order by concurrent tasks.
            let slots = (0..<1024).shuffled()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for slot in slots {
                    group.addTask { try await backend.write(pattern(1024, seed: UInt8(truncatingIfNeeded: slot)), at: UInt64(slot) * 1024) }
                }
                try await group.waitForAll()
            }
            try await backend.flush()
            let back = try await backend.read(at: 0, count: 1 << 20)
            for slot in 0..<1024 {
                #expect(Array(back[(slot * 1024)..<((slot + 1) * 1024)]) == pattern(1024, seed: UInt8(truncatingIfNeeded: slot)))
            }
            let report = try await Qcow2Checker.check(path: path)
            #expect(report.exitCode == 0, "\(report.messages)")
            #expect(report.allocatedGuestClusters == 16)
        }
    }
}

/// A small deterministic generator for test workloads.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
