import Testing
import EmuCore
@testable import EmuPC

/// Damaged and hostile kernel files give typed errors, never a crash.
@Suite("Hostile kernel images", .serialized)
struct HostileKernelTests {
    static func patched(_ bytes: [UInt8], _ changes: [(Int, [UInt8])]) -> [UInt8] {
        var copy = bytes
        for (offset, new) in changes { copy.replaceSubrange(offset..<offset + new.count, with: new) }
        return copy
    }

    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    static func parseError(_ bytes: [UInt8]) -> LinuxBootError? {
        do { _ = try BzImage(bytes: bytes); return nil } catch { return error }
    }

    @Test func truncatedAndForeignFilesAreNotBzImages() throws {
        let real = try DebianKernel.bzImage().bytes
        for length in [0, 1, 0x1F0, 0x26F] {
            guard case .notBzImage = Self.parseError(Array(real.prefix(length))) else {
                Issue.record("\(length) bytes accepted or wrong error"); continue
            }
        }
        // Cut inside the protected-mode code: the payload lies beyond the end.
        guard case .truncated = Self.parseError(Array(real.prefix(64 << 10))) else { Issue.record("truncated accepted"); return }
        guard case .notBzImage = Self.parseError([UInt8](repeating: 0, count: 1 << 20)) else { Issue.record("zeros"); return }
        guard case .notBzImage = Self.parseError(Self.patched(real, [(0x202, Array("HdrX".utf8))])) else {
            Issue.record("wrong magic accepted"); return
        }
        guard case .notBzImage = Self.parseError(Self.patched(real, [(0x1FE, [0, 0])])) else {
            Issue.record("no boot flag accepted"); return
        }
        guard case .notBzImage = Self.parseError(Self.patched(real, [(0x211, [0])])) else {
            Issue.record("zImage accepted"); return
        }
        guard case .notBzImage = Self.parseError(Self.patched(real, [(0x201, [0xFF])])) else {
            Issue.record("header longer than the zero page's room accepted"); return
        }
        guard case .notBzImage = Self.parseError(Self.patched(real, [(0x230, Self.le32(0x3000))])) else {
            Issue.record("alignment not a power of two accepted"); return
        }
    }

    @Test func oldProtocolsAndKernelsWithout64BitEntryAreRefused() throws {
        let real = try DebianKernel.bzImage().bytes
        #expect(Self.parseError(Self.patched(real, [(0x206, [0x0B, 0x02])])) == .protocolTooOld(version: 0x020B))
        #expect(Self.parseError(Self.patched(real, [(0x236, [0x7E, 0x00])])) == .no64BitEntry)
    }

    @Test func headerFieldsPointingOutsideTheFileAreRefused() throws {
        let real = try DebianKernel.bzImage().bytes
        // 255 setup sectors: the payload moves past the end.
        guard case .truncated = Self.parseError(Self.patched(real, [(0x1F1, [0xFF])])) else {
            Issue.record("huge setup_sects accepted"); return
        }
        guard case .truncated = Self.parseError(Self.patched(real, [(0x248, Self.le32(.max))])) else {
            Issue.record("payload_offset beyond the file accepted"); return
        }
        guard case .truncated = Self.parseError(Self.patched(real, [(0x24C, Self.le32(.max))])) else {
            Issue.record("payload_length beyond the file accepted"); return
        }
        guard case .truncated = Self.parseError(Self.patched(real, [(0x24C, Self.le32(3))])) else {
            Issue.record("a payload too short for its size accepted"); return
        }
    }

    @Test func corruptPayloadsAreReported() throws {
        let image = try DebianKernel.bzImage()
        let payload = image.payload
        let start = payload.startIndex
        // The stream header's flags no longer match its CRC.
        let badHeader = try BzImage(bytes: Self.patched(image.bytes, [(start + 7, [0x0F])]))
        #expect(throws: LinuxBootError.corruptPayload("xz data error")) { try badHeader.decompressedKernel() }
        // Not xz at all.
        let gzip = try BzImage(bytes: Self.patched(image.bytes, [(start, [0x1F, 0x8B, 0x08, 0x00])]))
        #expect(throws: LinuxBootError.unsupportedCompression("gzip")) { try gzip.decompressedKernel() }
        // A stream cut short (the declared size still at the end).
        let cut = Array(payload.prefix(256 << 10)) + Array(payload.suffix(4))
        #expect(throws: LinuxBootError.corruptPayload("xz stream truncated")) { try XZPayload.decompress(cut[...]) }
        // A declared size larger than the output, or absurdly large.
        let declared = Array(payload.dropLast(4)) + Self.le32(UInt32(payload.count))
        guard case .corruptPayload = Result(catching: { () throws(LinuxBootError) in try XZPayload.decompress(declared[...]) }).error else {
            Issue.record("a wrong declared size accepted"); return
        }
        let huge = Array(payload.dropLast(4)) + Self.le32(.max)
        #expect(throws: LinuxBootError.corruptPayload("declared size 4294967295 is out of range")) {
            try XZPayload.decompress(huge[...])
        }
        #expect(throws: LinuxBootError.self) { try XZPayload.decompress([0xFD, 0x37][...]) }
    }

    /// A minimal ELF64 x86-64 executable with one PT_LOAD segment.
    static func elf(paddr: UInt64 = 0x100_0000, vaddr: UInt64 = 0xFFFF_FFFF_8100_0000, entry: UInt64 = 0x100_0000,
                    offset: UInt64 = 0x1000, filesz: UInt64 = 16, memsz: UInt64 = 32,
                    machine: UInt16 = 62, phnum: UInt16 = 1) -> [UInt8] {
        func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
        var b: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        b += le(2, 2) + le(UInt64(machine), 2) + le(1, 4) + le(entry, 8) + le(64, 8) + le(0, 8)
        b += le(0, 4) + le(64, 2) + le(56, 2) + le(UInt64(phnum), 2) + le(64, 2) + le(0, 2) + le(0, 2)
        b += le(1, 4) + le(5, 4) + le(offset, 8) + le(vaddr, 8) + le(paddr, 8) + le(filesz, 8) + le(memsz, 8) + le(0x1000, 8)
        b += [UInt8](repeating: 0, count: 0x1000 - b.count) + [UInt8](repeating: 0xCC, count: 16)
        return b
    }

    @Test func malformedELFsAreRefused() throws {
        #expect(throws: Never.self) { try VmlinuxImage(elf: Self.elf()) }
        let virtualEntry = try VmlinuxImage(elf: Self.elf(entry: 0xFFFF_FFFF_8100_0004))
        #expect(virtualEntry.entryPoint == 0x100_0004)
        let cases: [(String, [UInt8])] = [
            ("overflowing segment", Self.elf(paddr: .max - 8, entry: .max - 4)),
            ("file size above memory size", Self.elf(filesz: 64, memsz: 32)),
            ("file bytes beyond the file", Self.elf(offset: 0x2000)),
            ("entry outside", Self.elf(entry: 0x200_0000)),
            ("not x86-64", Self.elf(machine: 40)),
            ("program headers beyond the file", Self.elf(phnum: 200)),
            ("truncated", Array(Self.elf().prefix(40))),
            ("no segments", Self.elf(phnum: 0)),
        ]
        for (name, bytes) in cases {
            guard case .invalidELF = Result(catching: { () throws(LinuxBootError) in try VmlinuxImage(elf: bytes) }).error else {
                Issue.record("\(name) accepted"); continue
            }
        }
    }

    @Test func segmentsOutsideRAMAreRefusedByTheLoader() throws {
        let image = try DebianKernel.bzImage()
        let map = LinuxBootMemoryMap(lowRAMSize: 128 << 20)
        let memory = try FlatGuestMemory(size: map.lowRAMSize)
        for paddr: UInt64 in [8 << 30, 0x9_0000, 128 << 20] {
            var options = LinuxBootLoader.Options()
            options.entry = .decompressed(try VmlinuxImage(elf: Self.elf(paddr: paddr, entry: paddr)))
            #expect(throws: LinuxBootError.segmentOutsideRAM(address: paddr, size: 32)) {
                try LinuxBootLoader.load(image, into: memory, memoryMap: map, options: options)
            }
        }
    }
}

extension Result {
    /// The failure, if any.
    var error: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}
