import Testing
import EmuCore
#if canImport(Glibc)
import Glibc
#endif
@testable import EmuPC

/// `PCMachine.loadLinux`: Debian's kernel loaded into the machine's RAM with the e820 map its
/// layout implies; unusable files refused with typed errors before anything is written.
@Suite("PC machine Linux loading")
struct PCMachineLinuxBootTests {
    static func temporaryFile(_ name: String, bytes: [UInt8] = [], size: off_t? = nil) throws -> String {
        let path = "/tmp/emu-pc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(name)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        try #require(written == bytes.count)
        if let size { try #require(ftruncate(fd, size) == 0) }
        return path
    }

    /// The e820 entries in the zero page in guest RAM (count at 0x1E8, table at 0x2D0).
    static func zeroPageE820(_ machine: PCMachine) -> [E820Entry] {
        let page = LinuxBootLayout.zeroPage
        let count = Int(machine.memory.read(at: page + 0x1E8, size: 1))
        return (0..<min(count, 128)).map { i in
            let at = page + 0x2D0 + UInt64(i * 20)
            let kind = E820Entry.Kind(rawValue: UInt32(machine.memory.read(at: at + 16, size: 4))) ?? .reserved
            return E820Entry(address: machine.memory.read(at: at, size: 8), size: machine.memory.read(at: at + 8, size: 8),
                             kind: kind)
        }
    }

    @Test func debiansKernelIsLoadedWithTheE820MapOfTheMachinesLayout() throws {
        let kernel = try #require(DebianKernel.path, Comment(rawValue: DebianKernel.missing))
        let initrd = try Self.temporaryFile("initrd", bytes: Array("070701 not really a cpio".utf8))
        defer { unlink(initrd) }
        var configuration = PCMachineConfiguration()
        configuration.memorySize = 256 << 20
        let machine = try PCMachine(configuration)
        let result = try machine.loadLinux(kernel: kernel, initialRamdisk: initrd, commandLine: "console=ttyS0")

        let tables = try #require(result.acpiTables)
        let acpiBase = tables.base
        let ramEnd: UInt64 = 256 << 20
        #expect(acpiBase % 4096 == 0 && acpiBase < ramEnd && ramEnd - acpiBase <= 64 << 10,
                "ACPI tables in the last pages of RAM: 0x\(String(acpiBase, radix: 16))")
        let expected = [
            E820Entry(address: 0, size: 0x9_FC00, kind: .ram),
            E820Entry(address: 0x9_FC00, size: 0x400, kind: .reserved),
            E820Entry(address: 0xE_0000, size: 0x2_0000, kind: .reserved),
            E820Entry(address: 0x10_0000, size: acpiBase - 0x10_0000, kind: .ram),
            E820Entry(address: acpiBase, size: ramEnd - acpiBase, kind: .acpi),
            E820Entry(address: PCMemoryMap.ecamBase, size: PCMemoryMap.ecamSize, kind: .reserved),  // the ECAM window
        ]
        #expect(Self.zeroPageE820(machine) == expected)
        #expect(result.e820 == expected)
        #expect(machine.memory.readBytes(at: acpiBase, count: 8) == Array("RSD PTR ".utf8))
        #expect(machine.memory.read(at: LinuxBootLayout.zeroPage + 0x70, size: 8) == acpiBase, "acpi_rsdp_addr")
        #expect(machine.memory.read(at: LinuxBootLayout.zeroPage + 0x210, size: 1) != 0, "type_of_loader")
        let initrdRange = try #require(result.initialRamdiskRange)
        #expect(machine.memory.read(at: LinuxBootLayout.zeroPage + 0x218, size: 4) == initrdRange.lowerBound)
        #expect(machine.memory.readBytes(at: initrdRange.lowerBound, count: 6) == Array("070701".utf8))
        #expect(machine.memory.readBytes(at: LinuxBootLayout.commandLine, count: 14) == Array("console=ttyS0\0".utf8))
        #expect(result.entryState.rip == result.kernelRange.lowerBound + 0x200)
        #expect(result.entryState.rsi == LinuxBootLayout.zeroPage)
        // The FADT's SCI is the machine's (IRQ 9), whose ELCR bit the machine sets.
        let fadt = try #require(tables.entry("FACP"))
        #expect(fadt.bytes[46] == PCMachineConfiguration.sciInterrupt)
    }

    @Test func aGarbageKernelIsRefusedWithATypedErrorBeforeAnythingIsWritten() throws {
        let garbage = try Self.temporaryFile("garbage", bytes: (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 37) })
        defer { unlink(garbage) }
        let machine = try PCMachine(PCMachineConfiguration())
        #expect {
            _ = try machine.loadLinux(kernel: garbage)
        } throws: { error in
            guard case .notBzImage = error as? LinuxBootError else { return false }
            return true
        }
        #expect(machine.memory.read(at: LinuxBootLayout.zeroPage, size: 8) == 0, "nothing written")
        #expect {
            _ = try machine.loadLinux(kernel: "/nonexistent/vmlinuz")
        } throws: { error in
            guard case .file(let path, _) = error as? LinuxBootError else { return false }
            return path == "/nonexistent/vmlinuz"
        }
    }

    @Test func anInitrdThatDoesNotFitAndAMissingInitrdAreRefused() throws {
        let kernel = try #require(DebianKernel.path, Comment(rawValue: DebianKernel.missing))
        var configuration = PCMachineConfiguration()
        configuration.memorySize = 128 << 20
        let machine = try PCMachine(configuration)
        let big = try Self.temporaryFile("big-initrd", size: 120 << 20)
        defer { unlink(big) }
        #expect {
            _ = try machine.loadLinux(kernel: kernel, initialRamdisk: big)
        } throws: { error in
            guard case .initrdDoesNotFit(let size, _) = error as? LinuxBootError else { return false }
            return size == 120 << 20
        }
        #expect(machine.memory.read(at: LinuxBootLayout.zeroPage, size: 8) == 0, "nothing written")
        #expect {
            _ = try machine.loadLinux(kernel: kernel, initialRamdisk: "/nonexistent/initrd")
        } throws: { error in
            guard case .file(let path, _) = error as? LinuxBootError else { return false }
            return path == "/nonexistent/initrd"
        }
    }
}
