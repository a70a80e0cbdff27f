import Foundation
import Synchronization
import Testing
@testable import BlockLayer

/// Stream and commit on real qcow2 chains in files: base ← mid ← top, each layer holding some data.
@Suite struct StreamAndCommitTests {
    static let size = 2 << 20

    struct Chain {
        let directory: String
        var base: String { directory + "base.qcow2" }
        var mid: String { directory + "mid.qcow2" }
        var top: String { directory + "top.qcow2" }
        /// What the top image reads as.
        let expected: [UInt8]
    }

    /// Builds the chain: base holds 0..<1 MiB, mid 256..<512 KiB, top 384..<448 KiB.
    static func makeChain(_ directory: String) async throws -> Chain {
        let chain = Chain(directory: directory, expected: [])
        var expected = [UInt8](repeating: 0, count: size)
        try await ImageCreator.create(path: chain.base, format: .qcow2, size: UInt64(size))
        try await ImageCreator.create(path: chain.mid, format: .qcow2, size: UInt64(size), backingFile: chain.base, backingFormat: .qcow2)
        try await ImageCreator.create(path: chain.top, format: .qcow2, size: UInt64(size), backingFile: chain.mid, backingFormat: .qcow2)
        for (path, range, seed) in [(chain.base, 0..<(1 << 20), UInt8(1)), (chain.mid, (256 << 10)..<(512 << 10), 2),
                                    (chain.top, (384 << 10)..<(448 << 10), 3)] {
            let node = try await ImageOpener.open(path: path)
            let data = pattern(range.count, seed: seed)
            try await node.write(from: BlockBuffer(data), at: UInt64(range.lowerBound))
            try await node.flush()
            expected.replaceSubrange(range, with: data)
        }
        return Chain(directory: directory, expected: expected)
    }

    static func backingFile(of path: String) async throws -> String? {
        let node = try await ImageOpener.open(path: path, readOnly: true)
        return (node.driver as? Qcow2FormatDriver)?.openedHeader.backingFile
    }

    @Test func streamingTheWholeChainLeavesNoBacking() async throws {
        try await withTemporaryDirectory { directory in
            let chain = try await Self.makeChain(directory)
            do {
                let top = try await ImageOpener.open(path: chain.top)
                let job = BlockJob(id: "s", body: try StreamJob(top: top))
                try job.start()
                try await job.waitForConclusion()
                #expect(top.children[.backing] == nil)
                #expect(job.progress.current == UInt64(Self.size))
                try await top.flush()
            }
            #expect(try await Self.backingFile(of: chain.top) == nil)
            try FileManager.default.removeItem(atPath: chain.mid)
            try FileManager.default.removeItem(atPath: chain.base)
            let reopened = try await ImageOpener.open(path: chain.top, readOnly: true)
            #expect(try await readBytes(reopened, at: 0, count: Self.size) == chain.expected)
            #expect(try await Qcow2Checker.check(path: chain.top).exitCode == 0)
        }
    }

    @Test func streamingDownToABaseKeepsIt() async throws {
        try await withTemporaryDirectory { directory in
            let chain = try await Self.makeChain(directory)
            do {
                let top = try await ImageOpener.open(path: chain.top)
                let base = ImageOpener.chain(top)[2]
                let job = BlockJob(id: "s", body: try StreamJob(top: top, base: base))
                try job.start()
                try await job.waitForConclusion()
                #expect(top.children[.backing] === base)
                // Only what mid held was copied: 256 KiB, less the 64 KiB top already had.
                #expect(try await top.blockStatus(at: 0, length: 256 << 10) == BlockStatus(.unallocated, length: 256 << 10))
                #expect(try await readBytes(top, at: 0, count: Self.size) == chain.expected)
            }
            #expect(try await Self.backingFile(of: chain.top) == chain.base)
            try FileManager.default.removeItem(atPath: chain.mid)
            let reopened = try await ImageOpener.open(path: chain.top, readOnly: true)
            #expect(try await readBytes(reopened, at: 0, count: Self.size) == chain.expected)
        }
    }

    @Test(arguments: 0..<5) func streamingNeverOverwritesWhatTheGuestWrites(round: Int) async throws {
        try await withTemporaryDirectory { directory in
            let chain = try await Self.makeChain(directory)
            let top = try await ImageOpener.open(path: chain.top)
            let backend = try BlockBackend(name: "vda", node: top)
            let job = BlockJob(id: "s", body: try StreamJob(top: top, chunkSize: 65536))
            // Four writers hammer the first MiB (what the stream copies), each on its own blocks
            // (block % 4 == writer) and recording its last acknowledged data per block.
            let writers = (0..<4).map { writer in
                Task { () throws -> [Int: [UInt8]] in
                    var last: [Int: [UInt8]] = [:]
                    var round = 0
                    while job.status != .null && job.status != .concluded {
                        let block = Int.random(in: 0..<64) * 4 + writer
                        let data = pattern(4096, seed: UInt8(truncatingIfNeeded: 100 + round * 4 + writer))
                        try await backend.write(data, at: UInt64(block * 4096))
                        last[block] = data
                        round += 1
                    }
                    return last
                }
            }
            try job.start()
            try await job.waitForConclusion()
            var expected = chain.expected
            var written = 0
            for writer in writers {
                for (block, data) in try await writer.value {
                    expected.replaceSubrange((block * 4096)..<((block + 1) * 4096), with: data)
                    written += 1
                }
            }
            #expect(written > 0)
            #expect(try await readBytes(top, at: 0, count: Self.size) == expected)
            #expect(top.children[.backing] == nil)
        }
    }

    @Test func committingAnIntermediateImageRelinksTheOverlay() async throws {
        try await withTemporaryDirectory { directory in
            let chain = try await Self.makeChain(directory)
            do {
                let top = try await ImageOpener.open(path: chain.top, backingWritable: true)
                let nodes = ImageOpener.chain(top)
                let job = BlockJob(id: "c", body: try CommitJob(top: nodes[1], base: nodes[2], overlay: top))
                try job.start()
                try await job.waitForConclusion()
                #expect(top.children[.backing] === nodes[2])
                #expect(try await readBytes(top, at: 0, count: Self.size) == chain.expected)
                try await top.flush()
            }
            #expect(try await Self.backingFile(of: chain.top) == chain.base)
            try FileManager.default.removeItem(atPath: chain.mid)
            let reopened = try await ImageOpener.open(path: chain.top, readOnly: true)
            #expect(try await readBytes(reopened, at: 0, count: Self.size) == chain.expected)
            #expect(try await Qcow2Checker.check(path: chain.base).exitCode == 0)
        }
    }

    @Test func activeCommitMovesTheGuestOntoTheBase() async throws {
        try await withTemporaryDirectory { directory in
            let chain = try await Self.makeChain(directory)
            let top = try await ImageOpener.open(path: chain.top, backingWritable: true)
            let base = ImageOpener.chain(top)[2]
            let backend = try BlockBackend(name: "vda", node: top)
            // The base is not "below" itself; the top is written by the backend.
            #expect(throws: BlockError.self) { try CommitJob(top: top, base: base) }
            let mirror = try CommitJob.activeCommit(backend: backend, base: base)
            let job = BlockJob(id: "ac", body: mirror)
            var expected = chain.expected
            try job.start()
            try await backend.write([0xEE, 0xEE], at: 1_500_000)
            expected.replaceSubrange(1_500_000..<1_500_002, with: [0xEE, 0xEE])
            await job.waitUntil { $0 == .ready }
            try job.complete()
            try await job.waitForConclusion()
            #expect(backend.node === base)
            #expect(try await readBytes(base, at: 0, count: Self.size) == expected)
            try await backend.write([0xDD], at: 0)
            try await base.flush()
            expected[0] = 0xDD
            let reopened = try await ImageOpener.open(path: chain.base, readOnly: true)
            #expect(try await readBytes(reopened, at: 0, count: Self.size) == expected)
        }
    }

    @Test func badStreamsAndCommitsAreRefused() async throws {
        try await withTemporaryDirectory { directory in
            let chain = try await Self.makeChain(directory)
            let top = try await ImageOpener.open(path: chain.top)
            let nodes = ImageOpener.chain(top)
            let stranger = try await memoryNode("stranger", size: Self.size)
            #expect(throws: BlockError.self) { try StreamJob(top: top, base: stranger) }
            #expect(throws: BlockError.unsupported("memory images cannot change their backing file")) { try StreamJob(top: stranger) }
            #expect(throws: BlockError.self) { try CommitJob(top: nodes[1], base: top) }           // base above top
            #expect(throws: BlockError.readOnly) { try CommitJob(top: nodes[1], base: nodes[2]) } // base opened read-only
            let readOnlyTop = try await ImageOpener.open(path: chain.top, readOnly: true)
            #expect(throws: BlockError.readOnly) { try StreamJob(top: readOnlyTop) }
        }
    }
}
