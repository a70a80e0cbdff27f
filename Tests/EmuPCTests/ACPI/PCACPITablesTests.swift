import Foundation
import Testing
import EmuCore
@testable import EmuPC

@Suite("PC ACPI tables")
struct PCACPITablesTests {
    static let base: UInt64 = 0x0FFF_0000

    static func tables(_ configure: (inout PCACPIConfiguration) -> Void = { _ in }) throws -> ACPITableSet {
        var c = PCACPIConfiguration()
        configure(&c)
        return try PCACPITables.build(c, at: base)
    }

    static func le(_ bytes: [UInt8], _ offset: Int, _ width: Int) -> UInt64 {
        (0..<width).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }

    @Test func everyTableSumsToZeroAndItsHeaderLengthIsItsSize() throws {
        let set = try Self.tables()
        #expect(set.entries.map(\.signature) == ["RSDP", "FACS", "DSDT", "FACP", "APIC", "MCFG", "XSDT", "RSDT"])
        for entry in set.entries where entry.signature != "RSDP" && entry.signature != "FACS" {
            #expect(entry.bytes.reduce(0, &+) == 0, "\(entry.signature) checksum")
            #expect(Self.le(entry.bytes, 4, 4) == UInt64(entry.bytes.count), "\(entry.signature) length")
            #expect(String(decoding: entry.bytes[0..<4], as: UTF8.self) == entry.signature)
            #expect(entry.address % 16 == 0)
            // The image holds the same bytes at the same place.
            let offset = Int(entry.address - set.base)
            #expect(Array(set.image[offset..<offset + entry.bytes.count]) == entry.bytes)
        }
        let rsdp = try #require(set.entry("RSDP")).bytes
        #expect(rsdp.count == 36 && set.rsdpAddress == Self.base)
        #expect(String(decoding: rsdp[0..<8], as: UTF8.self) == "RSD PTR ")
        #expect(rsdp[0..<20].reduce(0, &+) == 0, "ACPI 1.0 checksum")
        #expect(rsdp.reduce(0, &+) == 0, "extended checksum")
        #expect(rsdp[15] == 2, "revision 2")
        #expect(Self.le(rsdp, 20, 4) == 36)
        #expect(Self.le(rsdp, 24, 8) == set.entry("XSDT")?.address)
        #expect(Self.le(rsdp, 16, 4) == set.entry("RSDT")?.address)
    }

    @Test func rootTablesPointAtFADTMADTAndMCFG() throws {
        let set = try Self.tables()
        let xsdt = try #require(set.entry("XSDT")).bytes
        let rsdt = try #require(set.entry("RSDT")).bytes
        let expected = ["FACP", "APIC", "MCFG"].compactMap { set.entry($0)?.address }
        #expect((0..<3).map { Self.le(xsdt, 36 + 8 * $0, 8) } == expected)
        #expect((0..<3).map { Self.le(rsdt, 36 + 4 * $0, 4) } == expected)
        #expect(xsdt.count == 36 + 24 && rsdt.count == 36 + 12)
    }

    @Test func fadtFixedFields() throws {
        let set = try Self.tables()
        let f = try #require(set.entry("FACP")).bytes
        #expect(f.count == 276 && f[8] == 6, "revision 6 is 276 bytes")
        let facs = try #require(set.entry("FACS")?.address)
        let dsdt = try #require(set.entry("DSDT")?.address)
        #expect(Self.le(f, 36, 4) == facs && Self.le(f, 132, 8) == facs)
        #expect(Self.le(f, 40, 4) == dsdt && Self.le(f, 140, 8) == dsdt)
        #expect(facs % 64 == 0)
        #expect(Self.le(f, 46, 2) == 9, "SCI_INT")
        #expect(Self.le(f, 48, 4) == 0, "no SMI_CMD: always in ACPI mode")
        #expect(Self.le(f, 56, 4) == 0x600 && Self.le(f, 64, 4) == 0x604 && Self.le(f, 76, 4) == 0x608)
        #expect(Array(f[88..<92]) == [4, 2, 0, 4], "PM1_EVT_LEN, PM1_CNT_LEN, PM2_CNT_LEN, PM_TMR_LEN")
        #expect(Self.le(f, 80, 4) == 0 && f[92] == 0, "no GPE0 block")
        let bootFlags = Self.le(f, 109, 2)
        #expect(bootFlags & 1 == 1, "legacy devices: the PIT and PICs stay")
        #expect(bootFlags & 2 == 0, "no 8042 described")
        #expect(bootFlags & 4 != 0, "no VGA")
        let flags = Self.le(f, 112, 4)
        #expect(flags & (1 << 8) != 0, "TMR_VAL_EXT: a 32-bit PM timer")
        #expect(flags & (1 << 10) != 0, "RESET_REG_SUP")
        #expect(flags & (1 << 4) == 0, "the power button is the fixed feature")
        #expect(flags & (1 << 20) == 0, "not hardware-reduced")
        #expect(Array(f[116..<128]) == [1, 8, 0, 1, 0xF9, 0x0C, 0, 0, 0, 0, 0, 0], "RESET_REG: I/O 0xCF9, byte")
        #expect(f[128] == 0x06)
        #expect(Array(f[148..<160]) == [1, 32, 0, 2, 0x00, 0x06, 0, 0, 0, 0, 0, 0], "X_PM1a_EVT_BLK")
        #expect(Array(f[172..<176]) == [1, 16, 0, 2] && Self.le(f, 176, 8) == 0x604, "X_PM1a_CNT_BLK")
        #expect(Array(f[208..<212]) == [1, 32, 0, 3] && Self.le(f, 212, 8) == 0x608, "X_PM_TMR_BLK")

        let k = try Self.tables { $0.resetRegister = .keyboardController; $0.has8042 = true }
        let f2 = try #require(k.entry("FACP")).bytes
        #expect(Self.le(f2, 120, 8) == 0x64 && f2[128] == 0xFE)
        #expect(Self.le(f2, 109, 2) & 2 != 0)
    }

    @Test func facsLayout() throws {
        let facs = try #require(try Self.tables().entry("FACS")).bytes
        #expect(facs.count == 64 && String(decoding: facs[0..<4], as: UTF8.self) == "FACS")
        #expect(Self.le(facs, 4, 4) == 64 && facs[32] == 2)
    }

    @Test func madtEntries() throws {
        let m = try #require(try Self.tables { $0.cpuCount = 2 }.entry("APIC")).bytes
        #expect(Self.le(m, 36, 4) == 0xFEE0_0000 && Self.le(m, 40, 4) == 1, "LAPIC address, PCAT_COMPAT")
        var entries: [[UInt8]] = []
        var at = 44
        while at < m.count {
            let length = Int(m[at + 1])
            try #require(length >= 2 && at + length <= m.count)
            entries.append(Array(m[at..<at + length]))
            at += length
        }
        #expect(entries.map { $0[0] } == [0, 0, 1, 2, 2, 4])
        #expect(entries[0] == [0, 8, 0, 0, 1, 0, 0, 0], "CPU 0: UID 0, APIC ID 0, enabled")
        #expect(entries[1] == [0, 8, 1, 1, 1, 0, 0, 0])
        #expect(entries[2] == [1, 12, 0, 0, 0x00, 0x00, 0xC0, 0xFE, 0, 0, 0, 0], "IOAPIC at 0xFEC00000, GSI base 0")
        #expect(entries[3] == [2, 10, 0, 0, 2, 0, 0, 0, 0, 0], "IRQ0 -> GSI 2, conforming")
        #expect(entries[4] == [2, 10, 0, 9, 9, 0, 0, 0, 0x0D, 0], "SCI: IRQ9 -> GSI 9, level, active high")
        #expect(entries[5] == [4, 6, 0xFF, 0, 0, 1], "NMI on LINT1 of every processor")
    }

    @Test func mcfgAllocation() throws {
        let m = try #require(try Self.tables().entry("MCFG")).bytes
        #expect(m.count == 60)
        #expect(Self.le(m, 44, 8) == 0xB000_0000 && Self.le(m, 52, 2) == 0 && m[54] == 0 && m[55] == 255)
        let small = try #require(try Self.tables { $0.ecamBase = 0xE000_0000; $0.ecamBusCount = 16 }.entry("MCFG")).bytes
        #expect(Self.le(small, 44, 8) == 0xE000_0000 && small[55] == 15)
    }

    @Test func invalidConfigurationsAreRefused() {
        #expect(throws: ACPIConfigurationError.self) { try Self.tables { $0.cpuCount = 0 } }
        #expect(throws: ACPIConfigurationError.self) { try Self.tables { $0.ecamBase = 0xB000_1000 } }
        #expect(throws: ACPIConfigurationError.self) { try Self.tables { $0.sciInterrupt = 2 } }
        #expect(throws: ACPIConfigurationError.self) { try Self.tables { $0.pciMMIOWindow32 = 0xC000_0000...0x1_0000_0000 } }
        // 4 GiB of RAM puts 1 GiB above 4 GiB (RAM ends at 3 GiB below it): a window there overlaps it.
        #expect(throws: ACPIConfigurationError.self) {
            try Self.tables { $0.memorySize = 4 << 30; $0.pciMMIOWindow64 = 0x1_0000_0000...0x2_0000_0000 }
        }
        #expect(throws: Never.self) {
            try Self.tables { $0.memorySize = 4 << 30; $0.pciMMIOWindow64 = 0x1_4000_0000...0x2_0000_0000 }
        }
        #expect(throws: ACPIConfigurationError.self) { try PCACPITables.build(PCACPIConfiguration(), at: 0x1001) }
    }

    @Test func tablesAreWrittenIntoGuestMemoryAndDumped() throws {
        let set = try Self.tables()
        let memory = try FlatGuestMemory(size: 1 << 20, at: Self.base)
        try set.write(to: memory)
        #expect(try memory.read(count: set.image.count, at: Self.base) == set.image)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("acpi-dump-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        try set.dump(toDirectory: dir.path)
        for entry in set.entries {
            let data = try Data(contentsOf: dir.appendingPathComponent(entry.signature.lowercased() + ".dat"))
            #expect(Array(data) == entry.bytes)
        }
    }
}
