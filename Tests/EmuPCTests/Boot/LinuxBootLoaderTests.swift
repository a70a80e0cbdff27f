import Foundation
import Testing
import EmuCore
@testable import EmuPC

@Suite("Linux boot loader with Debian's kernel", .serialized)
struct LinuxBootLoaderTests {
    static let ecam: Range<UInt64> = 0xB000_0000..<0xC000_0000
    static let lowLimit: UInt64 = 0xB000_0000

    static func map(_ memorySize: UInt64) -> LinuxBootMemoryMap {
        LinuxBootMemoryMap(memorySize: memorySize, lowMemoryLimit: lowLimit, reserved: [ecam])
    }

    /// Guest RAM for `map`'s low part (high RAM is described but never written by the loader).
    static func memory(_ map: LinuxBootMemoryMap) throws -> FlatGuestMemory {
        try FlatGuestMemory(size: map.lowRAMSize)
    }

    @Test func setupHeaderHasPlausibleValues() throws {
        let image = try DebianKernel.bzImage()
        let h = image.header
        #expect(h.version >= 0x020C)
        #expect(h.extendedLoadFlags & LinuxSetupHeader.kernel64 != 0)
        #expect(h.relocatable)
        #expect(h.kernelAlignment >= 2 << 20 && h.kernelAlignment.nonzeroBitCount == 1)
        #expect(h.preferredAddress >= 1 << 20 && h.preferredAddress % UInt64(h.kernelAlignment) == 0)
        #expect(UInt64(h.initSize) > UInt64(image.protectedModeCode.count), "the kernel grows when decompressed")
        #expect(h.commandLineSize >= 255)
        #expect(h.initrdAddressMax >= 0x37FF_FFFF)
        #expect(h.raw.count == 0x202 + Int(image.bytes[0x201]) - 0x1F1)
        // syssize counts the protected-mode code in 16-byte paragraphs; Debian's signed kernel
        // carries its signature after that code.
        #expect(Int(h.systemSize) * 16 <= image.protectedModeCode.count)
        #expect(image.protectedModeCode.count - Int(h.systemSize) * 16 < 16 << 10)
        // The version string agrees with the file's name and with file(1).
        let version = try #require(image.kernelVersion)
        let release = try #require(DebianKernel.release)
        #expect(version.hasPrefix(release + " "))
        let file = try Self.fileDescription(try #require(DebianKernel.path))
        #expect(file.contains("bzImage") && file.contains("version \(release) "), "file(1) says: \(file)")
    }

    static func fileDescription(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/file")
        process.arguments = ["-b", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test func payloadDecompressesToAnELFWhoseEntryAndSegmentsAreSane() throws {
        let image = try DebianKernel.bzImage()
        let vmlinux = try DebianKernel.decompressed()
        #expect(vmlinux.entryPoint == image.header.preferredAddress, "startup_64 at LOAD_PHYSICAL_ADDR")
        #expect(vmlinux.physicalStart == image.header.preferredAddress)
        #expect(vmlinux.physicalEnd <= image.header.preferredAddress + UInt64(image.header.initSize),
                "init_size covers the decompressed kernel")
        #expect(vmlinux.segments.count >= 2)
        for s in vmlinux.segments {
            #expect(s.fileOffset + s.fileSize <= vmlinux.bytes.count)
            #expect(UInt64(s.fileSize) <= s.memorySize)
        }
        // The text segment is linked at __START_KERNEL_map + its physical address.
        let text = try #require(vmlinux.segments.first { $0.physicalRange.contains(vmlinux.entryPoint) })
        #expect(text.virtualAddress == 0xFFFF_FFFF_8000_0000 + text.physicalAddress)
    }

    @Test func zeroPageCarriesTheHeaderAndTheLoaderFields() throws {
        let image = try DebianKernel.bzImage()
        let map = Self.map(256 << 20)
        let memory = try Self.memory(map)
        var options = LinuxBootLoader.Options()
        options.commandLine = "console=ttyS0 panic=-1"
        options.initialRamdisk = [UInt8](repeating: 0xA5, count: 3 << 20)
        let result = try LinuxBootLoader.load(image, into: memory, memoryMap: map, options: options)
        let zp = try memory.read(count: 4096, at: LinuxBootLayout.zeroPage)
        #expect(zp == result.zeroPage.bytes)
        func field(_ offset: Int, _ width: Int) -> UInt64 {
            (0..<width).reduce(0) { $0 | UInt64(zp[offset + $1]) << (8 * UInt64($1)) }
        }
        // The header, copied in; only the loader's fields differ.
        let header = image.header.raw
        for (i, byte) in header.enumerated() {
            let offset = 0x1F1 + i
            if [0x210, 0x211, 0x224, 0x225, 0x228, 0x229, 0x22A, 0x22B].contains(offset) || (0x218..<0x220).contains(offset) {
                continue
            }
            #expect(zp[offset] == byte, "header byte 0x\(String(offset, radix: 16))")
        }
        #expect(field(0x202, 4) == 0x5372_6448, "HdrS")
        #expect(zp[0x210] == 0xFF, "type_of_loader")
        #expect(zp[0x211] & 0x81 == 0x81, "LOADED_HIGH and CAN_USE_HEAP")
        #expect(field(0x224, 2) == 0xFE00, "heap_end_ptr")
        #expect(field(0x228, 4) == LinuxBootLayout.commandLine && field(0x0C8, 4) == 0)
        let commandLine = try memory.read(count: options.commandLine.utf8.count + 1, at: LinuxBootLayout.commandLine)
        #expect(commandLine == Array(options.commandLine.utf8) + [0])
        let initrd = try #require(result.initialRamdiskRange)
        #expect(field(0x218, 4) == initrd.lowerBound && field(0x21C, 4) == 3 << 20)
        #expect(field(0x0C0, 4) == 0 && field(0x0C4, 4) == 0)
        #expect(zp[0x1EF] == 0, "sentinel")
        // The e820 table at 0x2D0, 20 bytes an entry.
        #expect(Int(zp[0x1E8]) == result.e820.count)
        for (i, entry) in result.e820.enumerated() {
            let at = 0x2D0 + 20 * i
            #expect(field(at, 8) == entry.address && field(at + 8, 8) == entry.size && field(at + 16, 4) == UInt64(entry.kind.rawValue))
        }
        // acpi_rsdp_addr points at the RSDP in guest memory.
        let rsdp = field(0x070, 8)
        #expect(try memory.read(count: 8, at: rsdp) == Array("RSD PTR ".utf8))
        // The protected-mode code at the preferred address; the entry 0x200 into it.
        #expect(result.kernelRange.lowerBound == image.header.preferredAddress)
        #expect(try memory.read(count: 4096, at: result.kernelRange.lowerBound) == Array(image.protectedModeCode.prefix(4096)))
        #expect(result.entryState.rip == image.header.preferredAddress + 0x200)
        #expect(result.entryState.rsi == LinuxBootLayout.zeroPage)
    }

    @Test func entryStateAndItsTablesInGuestMemory() throws {
        let image = try DebianKernel.bzImage()
        let map = Self.map(128 << 20)
        let memory = try Self.memory(map)
        let state = try LinuxBootLoader.load(image, into: memory, memoryMap: map).entryState
        #expect(state.cr0 & 0x8000_0001 == 0x8000_0001, "PE and PG")
        #expect(state.cr4 & 0x20 != 0 && state.efer & 0x500 == 0x500, "PAE, LME, LMA")
        #expect(state.rflags & 0x200 == 0, "interrupts off")
        // Walk the page tables for a few addresses up to 4 GiB: identity, 2 MiB pages.
        for address: UInt64 in [0, 0x1000_0000, 0x1234_5678, 0xFEE0_0000, 0xFFFF_FFFF] {
            let pml4e = try memory.load(UInt64.self, at: state.cr3 + 8 * ((address >> 39) & 0x1FF))
            #expect(pml4e & 1 == 1)
            let pdpte = try memory.load(UInt64.self, at: (pml4e & ~0xFFF) + 8 * ((address >> 30) & 0x1FF))
            #expect(pdpte & 1 == 1 && pdpte & 0x80 == 0)
            let pde = try memory.load(UInt64.self, at: (pdpte & ~0xFFF) + 8 * ((address >> 21) & 0x1FF))
            #expect(pde & 0x83 == 0x83, "present, writable, 2 MiB page")
            #expect((pde & ~0x1F_FFFF & 0x000F_FFFF_FFFF_F000) | (address & 0x1F_FFFF) == address)
        }
        // The GDT: the selectors index descriptors with the right attributes.
        #expect(Int(state.gdtLimit) + 1 >= Int(state.dataSelector) + 8)
        let code = try memory.load(UInt64.self, at: state.gdtBase + UInt64(state.codeSelector))
        let data = try memory.load(UInt64.self, at: state.gdtBase + UInt64(state.dataSelector))
        #expect(code == state.codeDescriptor && data == state.dataDescriptor)
        #expect(code >> 53 & 1 == 1 && code >> 54 & 1 == 0, "L=1, D=0")
        #expect(code >> 47 & 1 == 1 && code >> 43 & 1 == 1, "present, executable")
        #expect(data >> 47 & 1 == 1 && data >> 43 & 1 == 0 && data >> 41 & 1 == 1, "present, writable data")
        // The stack lies in usable RAM, below the zero page's neighbours.
        #expect(state.rsp > LinuxBootLayout.zeroPage + 0x1000 && state.rsp < LinuxBootLayout.pageTables)
    }

    @Test(arguments: [UInt64(128 << 20), 256 << 20, 1 << 30, 6 << 30])
    func e820IsOrderedWithoutOverlapAndTheInitrdFits(memorySize: UInt64) throws {
        let image = try DebianKernel.bzImage()
        let map = Self.map(memorySize)
        let memory = try Self.memory(map)
        var options = LinuxBootLoader.Options()
        let initrd = (0..<(5 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        options.initialRamdisk = initrd
        let result = try LinuxBootLoader.load(image, into: memory, memoryMap: map, options: options)
        let e820 = result.e820
        for (a, b) in zip(e820, e820.dropFirst()) {
            #expect(a.end <= b.address, "\(a) and \(b) overlap or are out of order")
        }
        #expect(e820.first == E820Entry(address: 0, size: 0x9_FC00, kind: .ram), "usable RAM below 640 KiB")
        let ram = e820.filter { $0.kind == .ram }.reduce(0) { $0 + $1.size }
        #expect(ram <= memorySize && ram >= memorySize - (2 << 20))
        let acpi = try #require(result.acpiTables)
        let acpiEntry = try #require(e820.first { $0.kind == .acpi })
        #expect(acpiEntry.address <= acpi.base && acpi.base + UInt64(acpi.image.count) <= acpiEntry.end)
        #expect(e820.contains(E820Entry(address: Self.ecam.lowerBound, size: UInt64(Self.ecam.count), kind: .reserved)))
        if memorySize > Self.lowLimit {
            #expect(e820.last == E820Entry(address: 1 << 32, size: memorySize - Self.lowLimit, kind: .ram))
        } else {
            #expect(e820.last?.kind == .reserved, "the ECAM window is the highest range")
        }
        // The initrd: page-aligned, above the kernel and its init_size, below the kernel's
        // limit and the ACPI tables, in usable RAM; its bytes in place.
        let r = try #require(result.initialRamdiskRange)
        #expect(r.lowerBound % 4096 == 0)
        #expect(r.lowerBound >= result.kernelRange.upperBound)
        #expect(r.upperBound <= UInt64(image.header.initrdAddressMax) + 1)
        #expect(r.upperBound <= acpiEntry.address)
        #expect(e820.contains { $0.kind == .ram && $0.address <= r.lowerBound && r.upperBound <= $0.end })
        #expect(try memory.read(count: initrd.count, at: r.lowerBound) == initrd)
        let top = min(UInt64(image.header.initrdAddressMax) + 1, acpiEntry.address)
        #expect(top - r.upperBound < 4096, "as high as possible")
    }

    @Test func decompressedEntryLoadsTheSegmentsAtTheirPhysicalAddresses() throws {
        let image = try DebianKernel.bzImage()
        let vmlinux = try DebianKernel.decompressed()
        let map = Self.map(256 << 20)
        let memory = try Self.memory(map)
        var options = LinuxBootLoader.Options()
        options.entry = .decompressed(vmlinux)
        options.initialRamdisk = [1, 2, 3]
        let result = try LinuxBootLoader.load(image, into: memory, memoryMap: map, options: options)
        #expect(result.entryState.rip == vmlinux.entryPoint)
        #expect(result.entryState.rsi == LinuxBootLayout.zeroPage)
        for s in vmlinux.segments {
            let head = min(s.fileSize, 4096)
            #expect(try memory.read(count: head, at: s.physicalAddress) == Array(vmlinux.bytes[s.fileOffset..<s.fileOffset + head]))
            let tail = min(s.fileSize, 4096)
            let tailStart = s.fileOffset + s.fileSize - tail
            #expect(try memory.read(count: tail, at: s.physicalAddress + UInt64(s.fileSize - tail))
                    == Array(vmlinux.bytes[tailStart..<tailStart + tail]))
        }
        let r = try #require(result.initialRamdiskRange)
        #expect(r.lowerBound >= vmlinux.physicalEnd && r.lowerBound >= result.kernelRange.upperBound)
        // The zero page is the same as for the compressed entry.
        let compressed = try LinuxBootLoader.load(image, into: try Self.memory(map), memoryMap: map,
                                                  options: { var o = options; o.entry = .compressed; return o }())
        #expect(compressed.zeroPage == result.zeroPage)
    }

    @Test func whatDoesNotFitIsRefusedBeforeAnythingIsWritten() throws {
        let image = try DebianKernel.bzImage()
        // 64 MiB cannot hold the kernel at 16 MiB plus its 60-odd MiB init_size.
        let small = Self.map(64 << 20)
        #expect(throws: LinuxBootError.self) { try LinuxBootLoader.load(image, into: try Self.memory(small), memoryMap: small) }
        do {
            _ = try LinuxBootLoader.load(image, into: try Self.memory(small), memoryMap: small)
        } catch let error as LinuxBootError {
            guard case .kernelDoesNotFit = error else { Issue.record("got \(error)"); return }
        }
        let map = Self.map(128 << 20)
        let memory = try Self.memory(map)
        var options = LinuxBootLoader.Options()
        options.initialRamdisk = [UInt8](repeating: 0, count: 64 << 20)
        #expect(throws: LinuxBootError.self) { try LinuxBootLoader.load(image, into: memory, memoryMap: map, options: options) }
        do {
            _ = try LinuxBootLoader.load(image, into: memory, memoryMap: map, options: options)
        } catch {
            guard case .initrdDoesNotFit = error else { Issue.record("got \(error)"); return }
        }
        #expect(try memory.load(UInt32.self, at: LinuxBootLayout.zeroPage + 0x202) == 0, "nothing written")
        options.initialRamdisk = nil
        options.commandLine = String(repeating: "x", count: Int(image.header.commandLineSize) + 1)
        #expect(throws: LinuxBootError.commandLineTooLong(length: Int(image.header.commandLineSize) + 1,
                                                          limit: Int(image.header.commandLineSize))) {
            try LinuxBootLoader.load(image, into: memory, memoryMap: map, options: options)
        }
        options.commandLine = "a\u{0}b"
        #expect(throws: LinuxBootError.commandLineHasNUL) { try LinuxBootLoader.load(image, into: memory, memoryMap: map, options: options) }
        // A map whose reserved range overlaps RAM, or with too little low RAM.
        let overlapping = LinuxBootMemoryMap(lowRAMSize: 128 << 20, reserved: [0x100_0000..<0x200_0000])
        #expect(throws: LinuxBootError.self) { try LinuxBootLoader.load(image, into: memory, memoryMap: overlapping) }
        // RAM that is not there: the guest memory error is reported.
        let lying = LinuxBootMemoryMap(lowRAMSize: 512 << 20)
        #expect(throws: LinuxBootError.self) { try LinuxBootLoader.load(image, into: memory, memoryMap: lying) }
    }
}
