import EmuCore

/// Where the loader puts its structures in low guest RAM (all below 640 KiB, in usable RAM the
/// kernel no longer needs once it runs on its own page tables and GDT).
public enum LinuxBootLayout {
    /// The GDT: null, null, 64-bit code (0x10), data (0x18).
    public static let gdt: UInt64 = 0x500
    /// The zero page.
    public static let zeroPage: UInt64 = 0x7000
    /// The boot stack's top (the stack is 0x8000-0x8FFF).
    public static let stackTop: UInt64 = 0x8FF0
    /// The PML4; the PDPT follows at +0x1000 and four page directories at +0x2000...+0x5FFF,
    /// mapping 0-4 GiB with 2 MiB pages.
    public static let pageTables: UInt64 = 0x9000
    /// The command line (at most ``commandLineRoom`` bytes with its NUL).
    public static let commandLine: UInt64 = 0x2_0000
    /// Room for the command line.
    public static let commandLineRoom = 0x1_0000
    /// The end of the usable RAM below 1 MiB (the EBDA follows, reserved).
    public static let lowUsableEnd: UInt64 = 0x9_FC00
    /// The BIOS area listed as reserved (the machine's firmware ROM is visible there).
    public static let biosArea: Range<UInt64> = 0xE_0000..<0x10_0000
    /// The identity map covers this much.
    public static let identityMapSize: UInt64 = 4 << 30
}

/// Loads a 64-bit Linux kernel from a bzImage into guest RAM and says how to enter it: the
/// boot protocol's 64-bit entry of the compressed kernel (it decompresses itself), or the
/// kernel decompressed on the host and entered at its `startup_64`.
public enum LinuxBootLoader {
    /// How the kernel is entered.
    public enum Entry: Sendable {
        /// The bzImage's protected-mode code at its preferred (aligned) address, entered at
        /// +0x200; the kernel decompresses itself (and applies KASLR unless told `nokaslr`).
        case compressed
        /// The decompressed kernel's segments at their link-time physical addresses, entered at
        /// its ELF entry (`startup_64`), with the same zero page. No relocation is applied and
        /// the zero page does not announce KASLR, so the kernel runs where it was linked (as if
        /// booted with `nokaslr`).
        case decompressed(VmlinuxImage)
    }

    /// What to boot besides the kernel.
    public struct Options: Sendable {
        /// How the kernel is entered.
        public var entry: Entry = .compressed
        /// The command line.
        public var commandLine: String = ""
        /// The initrd's bytes, if any.
        public var initialRamdisk: [UInt8]?
        /// The ACPI tables to build and place in reserved RAM at the end of low RAM (their RSDP
        /// passed in `acpi_rsdp_addr`); `nil` for none.
        public var acpi: PCACPIConfiguration? = PCACPIConfiguration()

        /// Options with the defaults: compressed entry, empty command line, no initrd, ACPI.
        public init() {}
    }

    /// What was loaded where, and the CPU state to start from.
    public struct Result: Sendable {
        /// The state the CPU must be put in.
        public var entryState: X86LongModeEntryState
        /// The e820 map given to the kernel, sorted by address.
        public var e820: [E820Entry]
        /// The zero page as written.
        public var zeroPage: ZeroPage
        /// The memory the kernel occupies or needs from its load address (the protected-mode
        /// code plus `init_size`, or the ELF segments).
        public var kernelRange: Range<UInt64>
        /// Where the initrd was placed.
        public var initialRamdiskRange: Range<UInt64>?
        /// The ACPI tables and where they are.
        public var acpiTables: ACPITableSet?
    }

    /// Writes the kernel, initrd, command line, zero page, ACPI tables, GDT and page tables
    /// into `memory` and returns the entry state. Every check on the kernel, initrd, command line
    /// and map is made before the first write; only a ``LinuxBootError/memory(_:)`` error (guest
    /// RAM not where the map says) can leave a partial load behind.
    /// - Throws: ``LinuxBootError``: ``LinuxBootError/invalidMemoryMap(_:)``,
    ///   ``LinuxBootError/kernelDoesNotFit(address:required:)``,
    ///   ``LinuxBootError/segmentOutsideRAM(address:size:)``,
    ///   ``LinuxBootError/initrdDoesNotFit(size:room:)``,
    ///   ``LinuxBootError/commandLineTooLong(length:limit:)``, ``LinuxBootError/commandLineHasNUL``,
    ///   ``LinuxBootError/acpi(_:)``, or ``LinuxBootError/memory(_:)`` when `memory` is not RAM
    ///   where `memoryMap` says it is.
    public static func load(_ kernel: BzImage, into memory: some GuestMemory, memoryMap: LinuxBootMemoryMap,
                            options: Options = Options()) throws(LinuxBootError) -> Result {
        try memoryMap.validate()
        let header = kernel.header

        // The command line.
        let commandLine = Array(options.commandLine.utf8)
        guard !commandLine.contains(0) else { throw .commandLineHasNUL }
        let commandLineLimit = min(Int(header.commandLineSize), LinuxBootLayout.commandLineRoom - 1)
        guard commandLine.count <= commandLineLimit else {
            throw .commandLineTooLong(length: commandLine.count, limit: commandLineLimit)
        }

        // The ACPI tables at the end of low RAM.
        var usableEnd = memoryMap.lowRAMSize
        var acpiTables: ACPITableSet?
        if let acpi = options.acpi {
            do {
                let size = try PCACPITables.build(acpi, at: 0).image.count
                let base = (memoryMap.lowRAMSize - UInt64(size)) & ~0xFFF
                guard base >= 2 << 20 else { throw LinuxBootError.invalidMemoryMap("no room for the ACPI tables") }
                acpiTables = try PCACPITables.build(acpi, at: base)
                usableEnd = base
            } catch let error as ACPIConfigurationError {
                throw .acpi(error)
            } catch let error as LinuxBootError {
                throw error
            } catch {
                throw .invalidMemoryMap("\(error)")
            }
        }
        let usable: Range<UInt64> = 0x10_0000..<usableEnd

        // The kernel.
        let kernelRange: Range<UInt64>
        let rip: UInt64
        switch options.entry {
        case .compressed:
            let load = try loadAddress(header)
            let needed = max(UInt64(header.initSize), UInt64(kernel.protectedModeCode.count))
            guard load >= usable.lowerBound, load <= usable.upperBound, needed <= usable.upperBound - load else {
                throw .kernelDoesNotFit(address: load, required: needed)
            }
            kernelRange = load..<load + needed
            rip = load + 0x200
        case .decompressed(let vmlinux):
            for segment in vmlinux.segments {
                let r = segment.physicalRange
                guard r.lowerBound >= usable.lowerBound, r.upperBound <= usable.upperBound else {
                    throw .segmentOutsideRAM(address: segment.physicalAddress, size: segment.memorySize)
                }
            }
            let start = vmlinux.physicalStart
            let (withInit, overflow) = start.addingReportingOverflow(UInt64(header.initSize))
            let end = max(vmlinux.physicalEnd, overflow ? .max : withInit)
            guard end <= usable.upperBound else {
                throw .kernelDoesNotFit(address: start, required: end - start)
            }
            kernelRange = start..<end
            rip = vmlinux.entryPoint
        }

        // The initrd: as high as allowed, below the kernel's limit and the end of usable low RAM.
        var initrdRange: Range<UInt64>?
        if let initrd = options.initialRamdisk, !initrd.isEmpty {
            let size = UInt64(initrd.count)
            let limit = min(UInt64(header.initrdAddressMax) + 1, usable.upperBound)
            let room = limit > kernelRange.upperBound ? limit - kernelRange.upperBound : 0
            guard size <= room, (limit - size) & ~0xFFF >= kernelRange.upperBound else {
                throw .initrdDoesNotFit(size: size, room: room)
            }
            let start = (limit - size) & ~0xFFF
            initrdRange = start..<start + size
        }

        // The e820 map and the zero page.
        var e820 = [
            E820Entry(address: 0, size: LinuxBootLayout.lowUsableEnd, kind: .ram),
            E820Entry(address: LinuxBootLayout.lowUsableEnd, size: 0xA_0000 - LinuxBootLayout.lowUsableEnd, kind: .reserved),
            E820Entry(address: LinuxBootLayout.biosArea.lowerBound,
                      size: UInt64(LinuxBootLayout.biosArea.count), kind: .reserved),
            E820Entry(address: usable.lowerBound, size: usable.upperBound - usable.lowerBound, kind: .ram),
        ]
        if acpiTables != nil {
            e820.append(E820Entry(address: usableEnd, size: memoryMap.lowRAMSize - usableEnd, kind: .acpi))
        }
        for r in memoryMap.reserved {
            e820.append(E820Entry(address: r.lowerBound, size: r.upperBound - r.lowerBound, kind: .reserved))
        }
        if memoryMap.highRAMSize > 0 {
            e820.append(E820Entry(address: LinuxBootMemoryMap.highRAMBase, size: memoryMap.highRAMSize, kind: .ram))
        }
        e820.sort { $0.address < $1.address }

        var zeroPage = ZeroPage(header: header)
        zeroPage.setCommandLine(at: LinuxBootLayout.commandLine)
        if let initrdRange {
            zeroPage.setInitialRamdisk(at: initrdRange.lowerBound, size: UInt64(initrdRange.count))
        }
        if let acpiTables { zeroPage.setACPIRSDP(acpiTables.rsdpAddress) }
        try zeroPage.setE820(e820)

        // Everything is checked: write.
        do throws(GuestMemoryError) {
            switch options.entry {
            case .compressed:
                try writeBytes(kernel.protectedModeCode, at: kernelRange.lowerBound, into: memory)
            case .decompressed(let vmlinux):
                for s in vmlinux.segments {
                    try writeBytes(vmlinux.bytes[s.fileOffset..<s.fileOffset + s.fileSize], at: s.physicalAddress, into: memory)
                    try zero(s.physicalAddress + UInt64(s.fileSize), count: s.memorySize - UInt64(s.fileSize), in: memory)
                }
            }
            if let initrd = options.initialRamdisk, let initrdRange {
                try memory.write(initrd, at: initrdRange.lowerBound)
            }
            try memory.write(commandLine + [0], at: LinuxBootLayout.commandLine)
            try memory.write(zeroPage.bytes, at: LinuxBootLayout.zeroPage)
            try acpiTables?.write(to: memory)
            try writeGDT(into: memory)
            try writePageTables(into: memory)
            try zero(LinuxBootLayout.stackTop & ~0xFFF, count: 0x1000, in: memory)
        } catch {
            throw .memory(error)
        }

        let state = X86LongModeEntryState(rip: rip, rsi: LinuxBootLayout.zeroPage, rsp: LinuxBootLayout.stackTop,
                                          cr3: LinuxBootLayout.pageTables, gdtBase: LinuxBootLayout.gdt,
                                          gdtLimit: UInt16(gdtEntries.count * 8 - 1))
        return Result(entryState: state, e820: e820, zeroPage: zeroPage, kernelRange: kernelRange,
                      initialRamdiskRange: initrdRange, acpiTables: acpiTables)
    }

    /// The load address of the protected-mode code: `pref_address` for a kernel that is not
    /// relocatable; for a relocatable one, `pref_address` (at least 1 MiB) rounded up to
    /// `kernel_alignment`.
    static func loadAddress(_ header: LinuxSetupHeader) throws(LinuxBootError) -> UInt64 {
        guard header.relocatable else { return header.preferredAddress }
        let alignment = UInt64(header.kernelAlignment)
        let wanted = max(header.preferredAddress, 0x10_0000)
        guard wanted <= UInt64.max - alignment else { throw .kernelDoesNotFit(address: wanted, required: 0) }
        return (wanted + alignment - 1) & ~(alignment - 1)
    }

    /// The GDT: null, null, 64-bit code at 0x10, data at 0x18.
    static let gdtEntries: [UInt64] = [0, 0, X86LongModeEntryState.flatCode64, X86LongModeEntryState.flatData]

    static func writeGDT(into memory: some GuestMemory) throws(GuestMemoryError) {
        try memory.write(gdtEntries.flatMap { AMLEncoding.littleEndian($0, bytes: 8) }, at: LinuxBootLayout.gdt)
    }

    /// PML4[0] → PDPT; PDPT[0...3] → four page directories of 2 MiB pages (present, writable,
    /// PS) covering 0-4 GiB.
    static func writePageTables(into memory: some GuestMemory) throws(GuestMemoryError) {
        let base = LinuxBootLayout.pageTables
        let pdpt = base + 0x1000
        let directories = base + 0x2000
        let present: UInt64 = 0x3, largePage: UInt64 = 0x83
        var pml4 = [UInt64](repeating: 0, count: 512)
        pml4[0] = pdpt | present
        var pdptEntries = [UInt64](repeating: 0, count: 512)
        var pds: [UInt64] = []
        let directoryCount = Int(LinuxBootLayout.identityMapSize >> 30)
        for i in 0..<directoryCount {
            pdptEntries[i] = (directories + UInt64(i) * 0x1000) | present
            for j in 0..<512 { pds.append((UInt64(i * 512 + j) << 21) | largePage) }
        }
        let le = { (entries: [UInt64]) in entries.flatMap { AMLEncoding.littleEndian($0, bytes: 8) } }
        try memory.write(le(pml4), at: base)
        try memory.write(le(pdptEntries), at: pdpt)
        try memory.write(le(pds), at: directories)
    }

    private static func writeBytes(_ bytes: ArraySlice<UInt8>, at address: UInt64,
                                   into memory: some GuestMemory) throws(GuestMemoryError) {
        guard !bytes.isEmpty else { return }
        var failure: GuestMemoryError?
        bytes.withUnsafeBytes { raw in
            do throws(GuestMemoryError) { try memory.write(raw, at: address) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    private static func zero(_ address: UInt64, count: UInt64, in memory: some GuestMemory) throws(GuestMemoryError) {
        let chunk = [UInt8](repeating: 0, count: 1 << 20)
        var done: UInt64 = 0
        while done < count {
            let n = min(UInt64(chunk.count), count - done)
            try writeBytes(chunk[0..<Int(n)], at: address + done, into: memory)
            done += n
        }
    }
}
