import Foundation
import Testing
@testable import BlockLayer

/// `check` on deliberately damaged images (64 KiB clusters: header 0, refcount table 1, refcount
/// block 2, L1 table 3; the first write puts data at 4...6 and its L2 table at 7).
@Suite struct Qcow2CheckTests {
    private let cluster = 65_536
    private let refcountBlock = 2 * 65_536

    private func image(_ directory: String) async throws -> String {
        let path = directory + "c.qcow2"
        try await ImageCreator.create(path: path, format: .qcow2, size: 16 << 20)
        let node = try await ImageOpener.open(path: path)
        try await node.write(from: BlockBuffer(pattern(3 * cluster, seed: 2)), at: 0)
        try await node.flush()
        return path
    }

    @Test func cleanImage() async throws {
        try await withTemporaryDirectory { directory in
            let report = try await Qcow2Checker.check(path: try await image(directory))
            #expect(report == Qcow2CheckReport(allocatedGuestClusters: 3, totalGuestClusters: 256, imageEndOffset: 8 * 65_536))
            #expect(report.exitCode == 0)
        }
    }

    @Test func leaksAreFoundAndRepaired() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await image(directory)
            // The header counted twice, and two clusters past the end counted once.
            try patchFile(path, at: refcountBlock, bigEndian(UInt16(2)))
            try patchFile(path, at: refcountBlock + 2 * 9, bigEndian(UInt16(1)) + bigEndian(UInt16(1)))
            let report = try await Qcow2Checker.check(path: path)
            #expect(report.leaks == 3 && report.corruptions == 0 && report.exitCode == 3, "\(report.messages)")
            let repaired = try await Qcow2Checker.check(path: path, repairLeaks: true)
            #expect(repaired.leaksFixed == 3 && repaired.exitCode == 0)
            let again = try await Qcow2Checker.check(path: path)
            #expect(again.leaks == 0 && again.corruptions == 0 && again.exitCode == 0)
        }
    }

    @Test func refcountTooLowIsACorruption() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await image(directory)
            try patchFile(path, at: refcountBlock + 2 * 5, bigEndian(UInt16(0)))
            let report = try await Qcow2Checker.check(path: path)
            #expect(report.corruptions >= 1 && report.exitCode == 2)
            #expect(report.messages.contains("ERROR cluster 5 refcount=0 reference=1"), "\(report.messages)")
        }
    }

    @Test func dirtyImageWithLowRefcountsIsRepairedAndReopensWritable() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await image(directory)
            // As a crash with lazy refcounts leaves it: data counted 0, the dirty bit set.
            try patchFile(path, at: refcountBlock + 2 * 4, bigEndian(UInt16(0)) + bigEndian(UInt16(0)))
            try patchFile(path, at: 72, bigEndian(Qcow2Header.dirtyBit))
            await #expect(throws: BlockError.self) { _ = try await ImageOpener.open(path: path) }
            #expect(try await Qcow2Checker.check(path: path).exitCode == 2)
            let repaired = try await Qcow2Checker.check(path: path, repairRefcounts: true)
            #expect(repaired.corruptionsFixed == 2 && repaired.exitCode == 0, "\(repaired.messages)")
            let again = try await Qcow2Checker.check(path: path)
            #expect(again.exitCode == 0 && again.corruptions == 0, "\(again.messages)")
            let node = try await ImageOpener.open(path: path)
            #expect((node.driver as? Qcow2FormatDriver)?.openedHeader.isDirty == false)
            // New allocations do not reuse the clusters that were counted 0.
            try await node.write(from: BlockBuffer(pattern(65_536, seed: 8)), at: 8 << 20)
            try await node.flush()
            #expect(try await readBytes(node, at: 0, count: 3 * cluster) == pattern(3 * cluster, seed: 2))
            #expect(try await Qcow2Checker.check(path: path).exitCode == 0)
        }
    }

    @Test func entriesOutOfBoundsOrUnaligned() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await image(directory)
            let original = try fileBytes(path)
            let l2 = 7 * cluster
            try patchFile(path, at: l2 + 8, bigEndian(UInt64(1) << 63 | UInt64(1) << 40))
            var report = try await Qcow2Checker.check(path: path)
            #expect(report.exitCode == 2 && report.messages.contains { $0.contains("past the end") }, "\(report.messages)")
            try Data(original).write(to: URL(fileURLWithPath: path))
            try patchFile(path, at: l2 + 8, bigEndian(UInt64(1) << 63 | UInt64(5 * cluster + 512)))
            report = try await Qcow2Checker.check(path: path)
            #expect(report.exitCode == 2 && report.messages.contains { $0.contains("unaligned") }, "\(report.messages)")
            try Data(original).write(to: URL(fileURLWithPath: path))
            try patchFile(path, at: 3 * cluster, bigEndian(UInt64(1) << 63 | UInt64(7 * cluster + 4096)))
            report = try await Qcow2Checker.check(path: path)
            #expect(report.exitCode == 2 && report.messages.contains { $0.contains("not cluster aligned") }, "\(report.messages)")
        }
    }

    @Test func overlappingMetadata() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await image(directory)
            // The L1 entry names the refcount table as its L2 table.
            try patchFile(path, at: 3 * cluster, bigEndian(UInt64(1) << 63 | UInt64(cluster)))
            let report = try await Qcow2Checker.check(path: path)
            #expect(report.exitCode == 2)
            #expect(report.messages.contains { $0.contains("overlaps") }, "\(report.messages)")
        }
    }
}
