import Testing
@testable import BlockLayer

/// Random damage to a valid image's metadata (header, tables, refcounts) never crashes the
/// process: opening, reading, querying status, writing and checking either work or throw a
/// `BlockError`. Deterministic (seeded), so a failure reproduces.
@Suite struct Qcow2MutatedImageTests {
    /// A small valid image in memory with a backing-free chain of data, zero and compressed
    /// clusters (4 KiB clusters: header 0, refcount table 1, refcount block 2, L1 3).
    private func pristineImage() async throws -> [UInt8] {
        let memory = MemoryDriver(size: 0)
        let file = try await BlockNode(name: "file", driver: memory)
        try await Qcow2Creator.format(file: file, size: 1 << 20, clusterSize: 4096)
        let node = try await BlockNode(name: "q", driver: try await Qcow2FormatDriver.open(file: file))
        try await node.write(from: BlockBuffer(pattern(40_000, seed: 1)), at: 3000)
        try await node.writeZeroes(at: 65_536, length: 8192)
        try await node.write(from: BlockBuffer(pattern(5000, seed: 2)), at: 900_000)
        try await node.flush()
        return memory.contents
    }

    @Test func randomMetadataDamageGivesErrorsNotCrashes() async throws {
        let pristine = try await pristineImage()
        var generator = SplitMix(seed: 2026)
        var outcomes = (opened: 0, refused: 0)
        for round in 0..<400 {
            var bytes = pristine
            // Damage 1 to 4 places in the metadata clusters (0...3 and the L2 table), bytes or
            // whole 8-byte fields, sometimes with extreme values.
            for _ in 0...(generator.next() % 4) {
                let metadataEnd = min(bytes.count, 6 * 4096)
                let inHeader = generator.next() % 3 == 0
                let position = Int(generator.next() % UInt64(inHeader ? 112 : metadataEnd - 8))
                switch generator.next() % 4 {
                case 0: bytes[position] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
                case 1: bytes.setBigEndian64(generator.next(), at: position & ~7)
                case 2: bytes.setBigEndian64(UInt64.max, at: position & ~7)
                default: bytes.setBigEndian32(UInt32(truncatingIfNeeded: generator.next() % 64), at: position & ~3)
                }
            }
            if round % 10 == 0 { bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count)))) }
            do {
                let file = try await BlockNode(name: "damaged", driver: MemoryDriver(contents: bytes))
                let driver = try await Qcow2FormatDriver.open(file: file)
                let node = try await BlockNode(name: "q", driver: driver)
                outcomes.opened += 1
                let span = min(node.length, 1 << 20)
                if span > 0 {
                    _ = try? await readBytes(node, at: 0, count: Int(span))
                    _ = try? await node.blockStatus(at: 0, length: span)
                    _ = try? await node.write(from: BlockBuffer(pattern(9000, seed: 3)), at: span / 2)
                    _ = try? await node.flush()
                }
                _ = try? await Qcow2Checker.check(driver.image, repairLeaks: false)
            } catch is BlockError {
                outcomes.refused += 1
            }
        }
        // Both paths were exercised.
        #expect(outcomes.opened > 20 && outcomes.refused > 20, "\(outcomes)")
    }
}
