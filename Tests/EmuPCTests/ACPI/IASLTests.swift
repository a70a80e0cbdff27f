import Foundation
import Testing
@testable import EmuPC

/// The tables checked by ACPICA's own tools (Debian's `acpica-tools`): `iasl -d` decompiles
/// each without errors or warnings, the DSDT's source names what we put in it, and compiling
/// that source again gives back our AML byte for byte.
@Suite("ACPI tables through iasl", .serialized)
struct IASLTests {
    static let iasl = "/usr/bin/iasl"

    struct Run {
        var status: Int32
        var output: String
    }

    static func run(_ arguments: [String], in directory: URL, tool: String = iasl) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    static func withDump(_ body: (URL, ACPITableSet) throws -> Void) throws {
        try #require(FileManager.default.isExecutableFile(atPath: iasl),
                     "iasl is missing: install Debian's acpica-tools (scripts/install-deps)")
        var configuration = PCACPIConfiguration()
        configuration.cpuCount = 2
        let set = try PCACPITables.build(configuration, at: 0x7FF_0000)
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("iasl-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        try set.dump(toDirectory: dir.path)
        try body(dir, set)
    }

    static let complaints = ["Error", "Warning", "Invalid", "Incorrect", "****", "Unknown"]

    @Test func everyTableDecompilesCleanly() throws {
        try Self.withDump { dir, set in
            // iasl 20200925 reads only tables with the common header (and the FACS) from binary
            // files, not an RSDP; the RSDP's layout and checksums are checked in PCACPITablesTests.
            for entry in set.entries where entry.signature != "RSDP" {
                let file = entry.signature.lowercased()
                let run = try Self.run(["-d", file + ".dat"], in: dir)
                #expect(run.status == 0, "iasl -d \(file).dat: \(run.output)")
                let source = try String(contentsOf: dir.appendingPathComponent(file + ".dsl"), encoding: .utf8)
                for word in Self.complaints {
                    #expect(!run.output.contains(word), "iasl on \(file): \(run.output)")
                    #expect(!source.contains(word), "\(file).dsl mentions \(word):\n\(source)")
                }
            }
        }
    }

    @Test func dsdtSourceNamesTheDevicesAndCompilesBackToTheSameAML() throws {
        try Self.withDump { dir, set in
            let run = try Self.run(["-d", "dsdt.dat"], in: dir)
            try #require(run.status == 0, "\(run.output)")
            let source = try String(contentsOf: dir.appendingPathComponent("dsdt.dsl"), encoding: .utf8)
            for expected in ["Device (PCI0)", "EisaId (\"PNP0A08\")", "EisaId (\"PNP0A03\")", "Method (_OSC, 4",
                             "WordBusNumber", "DWordMemory", "QWordMemory", "WordIO",
                             "0xC0000000", "0xFEBFFFFF",
                             "Device (MBRD)", "EisaId (\"PNP0C02\")", "0xB0000000", "0x10000000",
                             "Device (COM1)", "EisaId (\"PNP0501\")", "IRQNoFlags ()", "{4}", "{8}",
                             "Device (RTC)", "EisaId (\"PNP0B00\")", "Device (TIMR)", "EisaId (\"PNP0100\")",
                             "Device (PIC)", "EisaId (\"PNP0000\")", "Device (C000)", "Device (C001)",
                             "\"ACPI0007\"", "Name (_S5, Package (0x04)"] {
                #expect(source.contains(expected), "dsdt.dsl lacks \(expected)")
            }
            // Compile the decompiled source: the definition block must come back unchanged.
            let compile = try Self.run(["-p", "recompiled", "dsdt.dsl"], in: dir)
            try #require(compile.status == 0, "iasl dsdt.dsl: \(compile.output)")
            let recompiled = try [UInt8](Data(contentsOf: dir.appendingPathComponent("recompiled.aml")))
            let ours = try #require(set.entry("DSDT")).bytes
            #expect(recompiled.count == ours.count)
            #expect(Array(recompiled.dropFirst(36)) == Array(ours.dropFirst(36)), "the AML after the header")
        }
    }

    @Test func dataTablesShowTheirFieldsToIASL() throws {
        try Self.withDump { dir, _ in
            for file in ["facp", "apic", "mcfg"] {
                let run = try Self.run(["-d", file + ".dat"], in: dir)
                try #require(run.status == 0, "\(run.output)")
            }
            func source(_ file: String) throws -> String {
                try String(contentsOf: dir.appendingPathComponent(file + ".dsl"), encoding: .utf8)
            }
            let facp = try source("facp")
            for expected in ["PM1A Event Block Address : 00000600", "PM1A Control Block Address : 00000604",
                             "PM Timer Block Address : 00000608", "PM Timer Block Length : 04", "SCI Interrupt : 0009",
                             "32-bit PM Timer (V1) : 1", "Reset Register Supported (V2) : 1",
                             "Value to cause reset : 06", "Address : 0000000000000CF9",
                             "Hardware Reduced (V5) : 0", "Control Method Power Button (V1) : 0"] {
                #expect(Self.squeezed(facp).contains(Self.squeezed(expected)), "facp.dsl lacks \(expected)")
            }
            let apic = Self.squeezed(try source("apic"))
            for expected in ["Subtable Type : 00 [Processor Local APIC]", "Subtable Type : 01 [I/O APIC]",
                             "Address : FEC00000", "Subtable Type : 02 [Interrupt Source Override]",
                             "Interrupt : 00000002", "Subtable Type : 04 [Local APIC NMI]", "Interrupt Input LINT : 01"] {
                #expect(apic.contains(Self.squeezed(expected)), "apic.dsl lacks \(expected)")
            }
            let mcfg = Self.squeezed(try source("mcfg"))
            #expect(mcfg.contains(Self.squeezed("Base Address : 00000000B0000000")))
            #expect(mcfg.contains(Self.squeezed("End Bus Number : FF")))
        }
    }

    /// ACPICA's interpreter loads the FADT, the DSDT (running through its namespace) and the
    /// other tables without a warning, and evaluates `\_S5` and the root bridge's `_CRS`.
    @Test func acpiexecLoadsTheTablesAndEvaluatesS5() throws {
        let acpiexec = "/usr/bin/acpiexec"
        try #require(FileManager.default.isExecutableFile(atPath: acpiexec),
                     "acpiexec is missing: install Debian's acpica-tools (scripts/install-deps)")
        try Self.withDump { dir, _ in
            let run = try Self.run(["-b", "evaluate \\_S5; evaluate \\_SB.PCI0._CRS; evaluate \\_SB.COM1._HID",
                                    "facp.dat", "dsdt.dat", "apic.dat", "mcfg.dat"], in: dir, tool: acpiexec)
            #expect(run.status == 0, "\(run.output)")
            for word in ["Error", "Warning", "Failed", "failed"] {
                #expect(!run.output.contains(word), "acpiexec: \(run.output)")
            }
            let output = Self.squeezed(run.output)
            #expect(output.contains("[Package] Contains 4 Elements:"), "\(run.output)")
            #expect(output.components(separatedBy: "[Integer] = 0000000000000005").count == 3, "SLP_TYP 5 twice")
            #expect(output.contains("Evaluation of \\_SB.PCI0._CRS returned object"), "\(run.output)")
            #expect(output.contains("[Integer] = 0000000000000005") && output.contains("0105D041"), "COM1's _HID")
        }
    }

    /// Collapses runs of spaces, so field names and values compare regardless of alignment.
    static func squeezed(_ text: String) -> String {
        text.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }
}
