/// A decompressed x86-64 Linux kernel: an ELF64 executable whose PT_LOAD segments are loaded
/// at their physical addresses and entered at `startup_64`.
///
/// Parsing checks the identification (ELF64, little-endian, x86-64, ET_EXEC), that every
/// program header and every segment's file bytes lie within the file, that no segment's
/// physical range overflows, and that the entry point lies in a segment. Whether the segments
/// fit in the guest's RAM is checked by the loader.
public struct VmlinuxImage: Sendable {
    /// One PT_LOAD segment.
    public struct Segment: Sendable, Equatable {
        /// Guest-physical load address (`p_paddr`).
        public var physicalAddress: UInt64
        /// Virtual address (`p_vaddr`).
        public var virtualAddress: UInt64
        /// Offset of the segment's bytes in the file.
        public var fileOffset: Int
        /// Bytes taken from the file.
        public var fileSize: Int
        /// Bytes in memory (the rest after the file bytes is zero).
        public var memorySize: UInt64

        /// The physical range it occupies.
        public var physicalRange: Range<UInt64> { physicalAddress..<physicalAddress + memorySize }
    }

    /// The ELF file.
    public let bytes: [UInt8]
    /// The physical address of the entry point.
    public let entryPoint: UInt64
    /// The PT_LOAD segments with a nonzero memory size, in file order.
    public let segments: [Segment]

    /// The most program headers accepted.
    static let maximumProgramHeaders = 256

    /// Parses `elf`.
    /// - Throws: ``LinuxBootError/invalidELF(_:)`` saying what is wrong.
    public init(elf: [UInt8]) throws(LinuxBootError) {
        let r = ByteReader(elf)
        guard elf.count >= 64, elf[0..<4].elementsEqual([0x7F, 0x45, 0x4C, 0x46]) else {
            throw .invalidELF("no ELF magic")
        }
        guard elf[4] == 2, elf[5] == 1 else { throw .invalidELF("not ELF64 little-endian") }
        guard r.u16(18) == 62 else { throw .invalidELF("machine \(r.u16(18)) is not x86-64") }
        guard r.u16(16) == 2 else { throw .invalidELF("type \(r.u16(16)) is not an executable") }
        let entry = r.u64(24)
        let phoff = r.u64(32)
        let phentsize = Int(r.u16(54))
        let phnum = Int(r.u16(56))
        guard phentsize == 56 else { throw .invalidELF("program header size \(phentsize)") }
        guard (1...Self.maximumProgramHeaders).contains(phnum) else { throw .invalidELF("\(phnum) program headers") }
        guard phoff <= UInt64(elf.count), UInt64(elf.count) - phoff >= UInt64(phnum * phentsize) else {
            throw .invalidELF("program headers beyond the file")
        }
        var segments: [Segment] = []
        for i in 0..<phnum {
            let h = Int(phoff) + i * phentsize
            guard r.u32(h) == 1 else { continue }  // PT_LOAD
            let offset = r.u64(h + 8), vaddr = r.u64(h + 16), paddr = r.u64(h + 24)
            let filesz = r.u64(h + 32), memsz = r.u64(h + 40)
            guard filesz <= memsz else { throw .invalidELF("segment \(i): file size above memory size") }
            guard offset <= UInt64(elf.count), filesz <= UInt64(elf.count) - offset else {
                throw .invalidELF("segment \(i): file bytes beyond the file")
            }
            guard paddr <= UInt64.max - memsz, vaddr <= UInt64.max - memsz else {
                throw .invalidELF("segment \(i): address range overflows")
            }
            guard memsz > 0 else { continue }
            segments.append(Segment(physicalAddress: paddr, virtualAddress: vaddr, fileOffset: Int(offset),
                                    fileSize: Int(filesz), memorySize: memsz))
        }
        guard !segments.isEmpty else { throw .invalidELF("no loadable segment") }
        let sorted = segments.sorted { $0.physicalAddress < $1.physicalAddress }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.physicalRange.upperBound > b.physicalAddress {
            throw .invalidELF("segments overlap at 0x\(String(b.physicalAddress, radix: 16))")
        }
        // vmlinux's e_entry is physical (phys_startup_64); accept a virtual one too.
        if segments.contains(where: { $0.physicalRange.contains(entry) }) {
            entryPoint = entry
        } else if let s = segments.first(where: { (entry &- $0.virtualAddress) < $0.memorySize && entry >= $0.virtualAddress }) {
            entryPoint = s.physicalAddress + (entry - s.virtualAddress)
        } else {
            throw .invalidELF("entry point 0x\(String(entry, radix: 16)) is in no segment")
        }
        self.bytes = elf
        self.segments = segments
    }

    /// The lowest physical address of any segment.
    public var physicalStart: UInt64 { segments.map(\.physicalAddress).min() ?? 0 }
    /// The end of the highest segment.
    public var physicalEnd: UInt64 { segments.map(\.physicalRange.upperBound).max() ?? 0 }
}
