/// The PC's ACPI tables (full ACPI, not hardware-reduced): RSDP, RSDT, XSDT, FADT with its FACS
/// and DSDT, MADT and MCFG, laid out in one contiguous image for a given guest address.
///
/// What they describe:
/// - FADT revision 6.0: the PM1a event block (4 bytes), PM1a control block (2 bytes) and a
///   **32-bit** PM timer (TMR_VAL_EXT) at ``PCACPIConfiguration/pmBase``; the SCI on GSI 9; no
///   SMI command port (the hardware is always in ACPI mode, SCI_EN set at reset); no GPE
///   blocks; the fixed-feature power button; no sleep button; the reset register of
///   ``PCACPIConfiguration/resetRegister``; boot flags "legacy devices" and "no VGA" (the PIT and
///   PICs stay in use), the 8042 flag only when ``PCACPIConfiguration/has8042`` is set.
/// - DSDT (in the root scope): `\_SB.PCI0` (PNP0A08, compatible PNP0A03) with `_CRS` windows (bus numbers, legacy
///   I/O 0-0xCF7 and the PCI I/O window, the 32-bit and 64-bit memory windows) and an `_OSC`
///   that grants what the OS asks for; a motherboard-resources device (PNP0C02) reserving the
///   ECAM window and the PM block; COM1, the RTC, the PIT, the PICs; one processor device
///   (ACPI0007) per CPU; `\_S5`.
/// - MADT: one enabled local APIC per CPU, the IOAPIC (GSI base 0), the overrides IRQ0 → GSI 2
///   and the SCI (level, active high), a local APIC NMI on LINT1 for all processors; PCAT_COMPAT.
/// - MCFG: the ECAM window for segment 0.
public enum PCACPITables {
    /// Builds the tables for placement at guest address `base` (a multiple of 64).
    /// - Throws: ``ACPIConfigurationError`` for an invalid configuration or base.
    public static func build(_ configuration: PCACPIConfiguration, at base: UInt64) throws(ACPIConfigurationError) -> ACPITableSet {
        try configuration.validate()
        guard base % 64 == 0, base <= 0xFFFF_FFFF - 0x10_0000 else {
            throw .invalid("table base", "must be 64-byte aligned and below 4 GiB - 1 MiB")
        }
        let dsdtTable: ACPITable
        do { dsdtTable = try dsdt(configuration) } catch { throw .aml(error) }

        var image: [UInt8] = []
        var entries: [ACPITableSet.Entry] = []
        func place(_ name: String, _ bytes: [UInt8], alignment: Int) -> UInt64 {
            while image.count % alignment != 0 { image.append(0) }
            let address = base + UInt64(image.count)
            entries.append(.init(signature: name, address: address, bytes: bytes))
            image += bytes
            return address
        }
        // The RSDP comes first but needs the XSDT's address: reserve its 36 bytes, fill in last.
        image = [UInt8](repeating: 0, count: 36)
        let facsAddress = place("FACS", facs(), alignment: 64)
        let dsdtAddress = place("DSDT", dsdtTable.bytes, alignment: 16)
        let fadtAddress = place("FACP", fadt(configuration, facs: facsAddress, dsdt: dsdtAddress).bytes, alignment: 16)
        let madtAddress = place("APIC", madt(configuration).bytes, alignment: 16)
        let mcfgAddress = place("MCFG", mcfg(configuration).bytes, alignment: 16)
        let pointed = [fadtAddress, madtAddress, mcfgAddress]
        let xsdt = ACPITable(signature: "XSDT", revision: 1,
                             body: pointed.flatMap { AMLEncoding.littleEndian($0, bytes: 8) })
        let xsdtAddress = place("XSDT", xsdt.bytes, alignment: 16)
        let rsdt = ACPITable(signature: "RSDT", revision: 1,
                             body: pointed.flatMap { AMLEncoding.littleEndian($0, bytes: 4) })
        let rsdtAddress = place("RSDT", rsdt.bytes, alignment: 16)
        let rsdpBytes = rsdp(rsdt: rsdtAddress, xsdt: xsdtAddress)
        image.replaceSubrange(0..<36, with: rsdpBytes)
        entries.insert(.init(signature: "RSDP", address: base, bytes: rsdpBytes), at: 0)
        return ACPITableSet(base: base, image: image, entries: entries)
    }

    // MARK: RSDP and FACS

    /// The ACPI 2.0+ RSDP (36 bytes): "RSD PTR ", checksum of the first 20 bytes, OEM ID,
    /// revision 2, RSDT address, length, XSDT address, extended checksum of all 36 bytes.
    static func rsdp(rsdt: UInt64, xsdt: UInt64) -> [UInt8] {
        var bytes = Array("RSD PTR ".utf8) + [0] + ACPITable.fixed("EMU", 6) + [2]
        bytes += AMLEncoding.littleEndian(rsdt, bytes: 4)
        bytes += AMLEncoding.littleEndian(36, bytes: 4) + AMLEncoding.littleEndian(xsdt, bytes: 8) + [0, 0, 0, 0]
        bytes[8] = ACPITable.checksum(bytes[0..<20])
        bytes[32] = ACPITable.checksum(bytes)
        return bytes
    }

    /// The FACS (64 bytes, no checksum): signature, length, hardware signature 0, no waking
    /// vector, global lock free, no flags, version 2.
    static func facs() -> [UInt8] {
        var bytes = Array("FACS".utf8) + AMLEncoding.littleEndian(64, bytes: 4)
        bytes += [UInt8](repeating: 0, count: 24)  // hardware signature ... X waking vector
        bytes += [2]  // version
        bytes += [UInt8](repeating: 0, count: 64 - bytes.count)
        return bytes
    }

    // MARK: FADT

    /// FADT flags used (ACPI 6.x, table 5.10).
    enum FADTFlag {
        static let wbinvd: UInt32 = 1 << 0
        static let processorC1: UInt32 = 1 << 2
        static let sleepButtonIsControlMethod: UInt32 = 1 << 5
        static let fixedRTCNotSupported: UInt32 = 1 << 6
        static let timerValueExtended: UInt32 = 1 << 8
        static let resetRegisterSupported: UInt32 = 1 << 10
    }

    /// IA-PC boot architecture flags used.
    enum BootFlag {
        static let legacyDevices: UInt16 = 1 << 0
        static let i8042: UInt16 = 1 << 1
        static let noVGA: UInt16 = 1 << 2
    }

    /// The FADT, revision 6 (minor 0), 276 bytes.
    static func fadt(_ c: PCACPIConfiguration, facs: UInt64, dsdt: UInt64) -> ACPITable {
        let le = AMLEncoding.littleEndian
        var b = le(facs, 4) + le(dsdt, 4)         // 36 FIRMWARE_CTRL, 40 DSDT
        b += [0, 0]                               // 44 reserved, 45 preferred PM profile: unspecified
        b += le(UInt64(c.sciInterrupt), 2)        // 46 SCI_INT
        b += le(0, 4)                             // 48 SMI_CMD: none, always in ACPI mode
        b += [0, 0, 0, 0]                         // 52 ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT
        b += le(UInt64(c.pm1aEventPort), 4)       // 56 PM1a_EVT_BLK
        b += le(0, 4)                             // 60 PM1b_EVT_BLK
        b += le(UInt64(c.pm1aControlPort), 4)     // 64 PM1a_CNT_BLK
        b += le(0, 4) + le(0, 4)                  // 68 PM1b_CNT_BLK, 72 PM2_CNT_BLK
        b += le(UInt64(c.pmTimerPort), 4)         // 76 PM_TMR_BLK
        b += le(0, 4) + le(0, 4)                  // 80 GPE0_BLK, 84 GPE1_BLK
        b += [4, 2, 0, 4, 0, 0, 0, 0]             // 88 PM1_EVT_LEN, PM1_CNT_LEN, PM2, PM_TMR_LEN, GPE0, GPE1, GPE1_BASE, CST_CNT
        b += le(101, 2) + le(1001, 2)             // 96 P_LVL2_LAT, 98 P_LVL3_LAT: C2 and C3 not supported
        b += le(0, 2) + le(0, 2)                  // 100 FLUSH_SIZE, 102 FLUSH_STRIDE
        b += [0, 0, 0, 0, 0]                      // 104 DUTY_OFFSET, DUTY_WIDTH, DAY_ALRM, MON_ALRM, CENTURY
        var boot = BootFlag.legacyDevices | BootFlag.noVGA
        if c.has8042 { boot |= BootFlag.i8042 }
        b += le(UInt64(boot), 2) + [0]            // 109 IAPC_BOOT_ARCH, 111 reserved
        let flags = FADTFlag.wbinvd | FADTFlag.processorC1 | FADTFlag.sleepButtonIsControlMethod
            | FADTFlag.fixedRTCNotSupported | FADTFlag.timerValueExtended | FADTFlag.resetRegisterSupported
        b += le(UInt64(flags), 4)                 // 112 Flags
        b += GenericAddress.io(c.resetRegister.port, bitWidth: 8, accessSize: 1).bytes  // 116 RESET_REG
        b += [c.resetRegister.value]              // 128 RESET_VALUE
        b += le(0, 2) + [0]                       // 129 ARM_BOOT_ARCH, 131 FADT minor version
        b += le(facs, 8) + le(dsdt, 8)            // 132 X_FIRMWARE_CTRL, 140 X_DSDT
        b += GenericAddress.io(c.pm1aEventPort, bitWidth: 32, accessSize: 2).bytes   // 148 X_PM1a_EVT_BLK
        b += GenericAddress.none.bytes                                               // 160 X_PM1b_EVT_BLK
        b += GenericAddress.io(c.pm1aControlPort, bitWidth: 16, accessSize: 2).bytes // 172 X_PM1a_CNT_BLK
        b += GenericAddress.none.bytes + GenericAddress.none.bytes                   // 184 PM1b_CNT, 196 PM2_CNT
        b += GenericAddress.io(c.pmTimerPort, bitWidth: 32, accessSize: 3).bytes     // 208 X_PM_TMR_BLK
        b += GenericAddress.none.bytes + GenericAddress.none.bytes                   // 220 X_GPE0, 232 X_GPE1
        b += GenericAddress.none.bytes + GenericAddress.none.bytes                   // 244 sleep control, 256 status
        b += le(0, 8)                             // 268 hypervisor vendor identity
        return ACPITable(signature: "FACP", revision: 6, body: b)
    }

    // MARK: MADT

    /// The MADT, revision 4.
    static func madt(_ c: PCACPIConfiguration) -> ACPITable {
        let le = AMLEncoding.littleEndian
        var b = le(UInt64(c.localAPICAddress), 4) + le(1, 4)  // local APIC address, PCAT_COMPAT
        for cpu in 0..<c.cpuCount {
            b += [0, 8, UInt8(cpu), UInt8(cpu)] + le(1, 4)       // processor local APIC: enabled
        }
        b += [1, 12, c.ioAPICID, 0] + le(UInt64(c.ioAPICAddress), 4) + le(0, 4)  // IOAPIC, GSI base 0
        b += [2, 10, 0, 0] + le(2, 4) + le(0, 2)                 // ISA IRQ0 -> GSI 2, bus defaults (edge, high)
        let sci = UInt64(c.sciInterrupt)
        b += [2, 10, 0, UInt8(sci)] + le(sci, 4) + le(0x000D, 2) // SCI: level (0b11 << 2), active high (0b01)
        b += [4, 6, 0xFF] + le(0, 2) + [1]                       // local APIC NMI, all processors, LINT1
        return ACPITable(signature: "APIC", revision: 4, body: b)
    }

    // MARK: MCFG

    /// The MCFG, revision 1: one allocation for segment 0, buses 0...count-1.
    static func mcfg(_ c: PCACPIConfiguration) -> ACPITable {
        let le = AMLEncoding.littleEndian
        let b = le(0, 8) + le(c.ecamBase, 8) + le(0, 2) + [0, UInt8(c.ecamBusCount - 1)] + le(0, 4)
        return ACPITable(signature: "MCFG", revision: 1, body: b)
    }

    // MARK: DSDT

    /// The PCI Firmware Specification's `_OSC` UUID.
    static let pciHostBridgeOSCUUID = "33DB4D5B-1FF7-401C-9657-7441C03DD766"

    /// The DSDT, revision 2 (64-bit integers).
    static func dsdt(_ c: PCACPIConfiguration) throws(AMLError) -> ACPITable {
        var bridgeResources: [AMLResource] = [
            .wordAddressSpace(.busNumber, .producer, minimum: 0, maximum: UInt16(c.ecamBusCount - 1)),
            .io(minimum: 0xCF8, maximum: 0xCF8, alignment: 1, length: 8),
            .wordAddressSpace(.io, .producer, minimum: 0x0000, maximum: 0x0CF7),
            .wordAddressSpace(.io, .producer, minimum: c.pciIOWindow.lowerBound, maximum: c.pciIOWindow.upperBound),
            .dwordAddressSpace(.memory(.nonCacheable, writable: true), .producer,
                               minimum: UInt32(c.pciMMIOWindow32.lowerBound),
                               maximum: UInt32(c.pciMMIOWindow32.upperBound)),
        ]
        if let window = c.pciMMIOWindow64 {
            bridgeResources.append(.qwordAddressSpace(.memory(.cacheable, writable: true), .producer,
                                                      minimum: window.lowerBound, maximum: window.upperBound))
        }
        let osc = try AML.method("_OSC", argumentCount: 4, [
            try AML.createDWordField(AML.arg(3), byteIndex: AML.integer(0), "CDW1"),
            try AML.ifThen(AML.logicalNot(AML.logicalEqual(AML.arg(0), try AML.uuid(pciHostBridgeOSCUUID))), [
                AML.or(try AML.reference("CDW1"), AML.integer(4), into: try AML.reference("CDW1")),  // unrecognised UUID
            ]),
            AML.returnValue(AML.arg(3)),
        ])
        let pci = try AML.device("PCI0", [
            try AML.name("_HID", try AML.eisaID("PNP0A08")),
            try AML.name("_CID", try AML.eisaID("PNP0A03")),
            try AML.name("_SEG", AML.integer(0)),
            try AML.name("_UID", AML.integer(0)),
            try AML.name("_BBN", AML.integer(0)),
            try AML.name("_CRS", try AML.resourceTemplate(bridgeResources)),
            osc,
        ])

        let ecamSize = UInt64(c.ecamBusCount) << 20
        let ecamResource: AMLResource = c.ecamBase + ecamSize <= 0x1_0000_0000
            ? .memory32Fixed(writable: true, base: UInt32(c.ecamBase), length: UInt32(ecamSize))
            : .qwordAddressSpace(.memory(.nonCacheable, writable: true), .consumer,
                                 minimum: c.ecamBase, maximum: c.ecamBase + ecamSize - 1)
        let motherboard = try AML.device("MBRD", [
            try AML.name("_HID", try AML.eisaID("PNP0C02")),
            try AML.name("_UID", AML.integer(0)),
            try AML.name("_CRS", try AML.resourceTemplate([
                ecamResource,
                .io(minimum: c.pmBase, maximum: c.pmBase, alignment: 1, length: 12),
            ])),
        ])
        let com1 = try AML.device("COM1", [
            try AML.name("_HID", try AML.eisaID("PNP0501")),
            try AML.name("_UID", AML.integer(1)),
            try AML.name("_CRS", try AML.resourceTemplate([
                .io(minimum: 0x3F8, maximum: 0x3F8, alignment: 1, length: 8), .irqNoFlags([4]),
            ])),
        ])
        let rtc = try AML.device("RTC", [
            try AML.name("_HID", try AML.eisaID("PNP0B00")),
            try AML.name("_CRS", try AML.resourceTemplate([
                .io(minimum: 0x70, maximum: 0x70, alignment: 1, length: 2), .irqNoFlags([8]),
            ])),
        ])
        let timer = try AML.device("TIMR", [
            try AML.name("_HID", try AML.eisaID("PNP0100")),
            try AML.name("_CRS", try AML.resourceTemplate([
                .io(minimum: 0x40, maximum: 0x40, alignment: 1, length: 4), .irqNoFlags([0]),
            ])),
        ])
        let pic = try AML.device("PIC", [
            try AML.name("_HID", try AML.eisaID("PNP0000")),
            try AML.name("_CRS", try AML.resourceTemplate([
                .io(minimum: 0x20, maximum: 0x20, alignment: 1, length: 2),
                .io(minimum: 0xA0, maximum: 0xA0, alignment: 1, length: 2),
                .io(minimum: 0x4D0, maximum: 0x4D0, alignment: 1, length: 2),
                .irqNoFlags([2]),
            ])),
        ])
        var processors: [[UInt8]] = []
        for cpu in 0..<c.cpuCount {
            processors.append(try AML.device(processorName(cpu), [
                try AML.name("_HID", try AML.string("ACPI0007")),
                try AML.name("_UID", AML.integer(UInt64(cpu))),
            ]))
        }
        let system = try AML.scope("_SB", [pci, motherboard, com1, rtc, timer, pic] + processors)
        let s5 = UInt64(c.sleepTypeS5)
        let sleep = try AML.name("_S5", try AML.package([AML.integer(s5), AML.integer(s5), AML.integer(0), AML.integer(0)]))
        return ACPITable(signature: "DSDT", revision: 2, body: system + sleep)
    }

    /// `C000`, `C001`, ... (hexadecimal CPU number).
    static func processorName(_ cpu: Int) -> String {
        let hex = String(cpu, radix: 16, uppercase: true)
        return "C" + String(repeating: "0", count: max(0, 3 - hex.count)) + hex
    }
}
