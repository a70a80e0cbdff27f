import Foundation
import Testing
@testable import BlockLayer

/// Broken and hostile images give a clear `BlockError`, never a crash or a huge allocation.
/// Images are created with 64 KiB clusters: header at cluster 0, refcount table at 1, refcount
/// block at 2, L1 table at 3.
@Suite struct Qcow2HostileImageTests {
    private let cluster = 65_536

    private func image(_ directory: String, data: Bool = true) async throws -> String {
        let path = directory + "h.qcow2"
        try await ImageCreator.create(path: path, format: .qcow2, size: 16 << 20)
        if data {
            let node = try await ImageOpener.open(path: path)
            try await node.write(from: BlockBuffer(pattern(3 * cluster, seed: 9)), at: 0)
            try await node.flush()
        }
        return path
    }

    private func expectCorrupt(_ path: String, readOnly: Bool = true, containing text: String,
                               sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            let node = try await ImageOpener.open(path: path, readOnly: readOnly)
            _ = try await readBytes(node, at: 0, count: 4 * cluster)
            Issue.record("expected an error mentioning '\(text)'", sourceLocation: sourceLocation)
        } catch let error as BlockError {
            #expect("\(error)".contains(text), "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func truncatedFiles() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await image(directory)
            let whole = try fileBytes(path)
            for length in [0, 3, 71, 100] {
                try Data(whole.prefix(length)).write(to: URL(fileURLWithPath: path))
                await expectCorrupt(path, containing: length < 4 ? "past the end" : "short")
            }
            // Cut after the header: the tables lie past the end.
            try Data(whole.prefix(cluster)).write(to: URL(fileURLWithPath: path))
            await expectCorrupt(path, containing: "past the end of the file")
            // Cut inside the data: the cluster starts past the end.
            try Data(whole.prefix(5 * cluster)).write(to: URL(fileURLWithPath: path))
            await expectCorrupt(path, containing: "past the end of the file")
        }
    }

    @Test func tablePointersPastTheEndOrUnaligned() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await image(directory)
            let original = try fileBytes(path)
            let l1 = 3 * cluster
            let l2 = Int(original.bigEndian64(at: l1) & Qcow2Cluster.offsetMask)
            let cases: [(Int, [UInt8], String)] = [
                (40, bigEndian(UInt64(1) << 40), "L1 table"),                               // L1 table past EOF
                (40, bigEndian(UInt64(3 * cluster + 8)), "unaligned"),                      // L1 table unaligned
                (48, bigEndian(UInt64(cluster + 512)), "unaligned"),                        // refcount table unaligned
                (l1, bigEndian(UInt64(1) << 63 | UInt64(1) << 40), "past the end"),         // L2 past EOF
                (l1, bigEndian(UInt64(1) << 63 | UInt64(l2 + 512)), "unaligned"),           // L2 unaligned
                (l2, bigEndian(UInt64(1) << 63 | UInt64(1) << 44), "past the end"),         // data past EOF
                (l2, bigEndian(UInt64(1) << 63 | UInt64(5 * cluster + 4096)), "unaligned"), // data unaligned
            ]
            for (offset, bytes, text) in cases {
                try Data(original).write(to: URL(fileURLWithPath: path))
                try patchFile(path, at: offset, bytes)
                await expectCorrupt(path, containing: text)
            }
        }
    }

    @Test func absurdHeaderFields() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await image(directory, data: false)
            let original = try fileBytes(path)
            let cases: [(Int, [UInt8], String)] = [
                (20, bigEndian(UInt32(31)), "cluster bits"),
                (20, bigEndian(UInt32(8)), "cluster bits"),
                (100, bigEndian(UInt32(0xFFFF_FFF0)), "header length"),
                (100, bigEndian(UInt32(50)), "header length"),
                (36, bigEndian(UInt32.max), "L1 table"),                  // l1_size huge: refused, not allocated
                (24, bigEndian(UInt64.max - 5), "size"),                   // virtual size absurd
                (24, bigEndian(UInt64(1) << 62), "L1 table"),              // needs a giant L1 table
                (56, bigEndian(UInt32.max), "refcount table"),             // refcount table huge
                (16, bigEndian(UInt32(5000)), "backing file name"),        // backing name length absurd
                (8, bigEndian(UInt64(1) << 50), "backing file name"),      // backing name offset absurd
                (4, bigEndian(UInt32(7)), "version 7"),
                (32, bigEndian(UInt32(1)), "encrypted"),
                (96, bigEndian(UInt32(9)), "refcount order"),
            ]
            for (offset, bytes, text) in cases {
                try Data(original).write(to: URL(fileURLWithPath: path))
                if offset == 8 { try patchFile(path, at: 16, bigEndian(UInt32(10))) }
                if offset == 16 { try patchFile(path, at: 8, bigEndian(UInt64(200))) }
                try patchFile(path, at: offset, bytes)
                await expectCorrupt(path, containing: text)
            }
        }
    }

    @Test func featureBits() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await image(directory, data: false)
            let original = try fileBytes(path)
            try patchFile(path, at: 72, bigEndian(UInt64(1) << 17))
            await expectCorrupt(path, containing: "incompatible features: bit 17")
            try patchFile(path, at: 72, bigEndian(UInt64(1) << 4))
            await expectCorrupt(path, containing: "extended L2")
            // Corrupt bit: read-only works, writable is refused.
            try Data(original).write(to: URL(fileURLWithPath: path))
            try patchFile(path, at: 72, bigEndian(Qcow2Header.corruptBit))
            _ = try await ImageOpener.open(path: path, readOnly: true)
            await expectCorrupt(path, readOnly: false, containing: "marked corrupt")
            try patchFile(path, at: 72, bigEndian(Qcow2Header.dirtyBit))
            _ = try await ImageOpener.open(path: path, readOnly: true)
            await expectCorrupt(path, readOnly: false, containing: "dirty")
        }
    }

    @Test func refcountOverflowIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await image(directory, data: false)
            let file = try await BlockNode(name: "f", driver: FileDriver(path: path))
            let image = try await Qcow2Image.load(file: file, readOnly: false)
            try await image.setRefcount(cluster: 0, to: 0xFFFF)
            await #expect(throws: BlockError.corrupt("refcount overflow on cluster 0")) {
                try await image.changeRefcount(cluster: 0, by: 1)
            }
            await #expect(throws: BlockError.corrupt("refcount of cluster 40 would drop below zero")) {
                try await image.changeRefcount(cluster: 40, by: -1)
            }
        }
    }

    @Test func backingChainsThatLoop() async throws {
        try await withTemporaryDirectory { directory in
            let a = directory + "a.qcow2", b = directory + "b.qcow2", c = directory + "c.qcow2"
            try await ImageCreator.create(path: a, format: .qcow2, size: 1 << 20, backingFile: "a.qcow2", backingFormat: .qcow2)
            await expectCorrupt(a, containing: "loops")
            try await ImageCreator.create(path: b, format: .qcow2, size: 1 << 20, backingFile: "c.qcow2", backingFormat: .qcow2)
            try await ImageCreator.create(path: c, format: .qcow2, size: 1 << 20, backingFile: "b.qcow2", backingFormat: .qcow2)
            await expectCorrupt(b, containing: "loops")
            // A chain deeper than the limit (distinct files).
            var previous: String? = nil
            for index in 0...(ImageOpener.maximumDepth + 1) {
                let path = directory + "d\(index).qcow2"
                try await ImageCreator.create(path: path, format: .qcow2, size: 65_536, clusterSize: 512,
                                              backingFile: previous.map { String($0.split(separator: "/").last ?? "") },
                                              backingFormat: .qcow2)
                previous = path
            }
            await expectCorrupt(directory + "d\(ImageOpener.maximumDepth + 1).qcow2", containing: "deeper")
        }
    }

    @Test func garbageCompressedCluster() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await image(directory, data: false)
            let file = try await BlockNode(name: "f", driver: FileDriver(path: path))
            let image = try await Qcow2Image.load(file: file, readOnly: false)
            let host = try await image.allocateClusters(1)
            try await image.writeBytes(pattern(4096, seed: 3), at: host)
            let entry = Qcow2Cluster.compressedFlag | UInt64(7) << UInt64(62 - 8) | host
            try await image.setL2Entry(guestOffset: 0, to: entry)
            try await image.writeBack()
            await expectCorrupt(path, containing: "inflate")
        }
    }
}
