/// What the PC's ACPI tables describe: the machine's address map, its power-management ports and
/// its CPUs. The defaults describe the PC this library builds; a machine with another map
/// passes its own values.
public struct PCACPIConfiguration: Sendable, Equatable {
    /// Which register the FADT names for a reset, and the value written to it.
    public enum ResetRegister: Sendable, Equatable {
        /// The chipset's reset control register at I/O port 0xCF9; the guest writes 0x06 (hard
        /// reset, CPU reset). Implemented by ``ResetControlRegister``.
        case resetControlRegister
        /// The i8042's command port 0x64; the guest writes 0xFE (pulse the reset line).
        case keyboardController

        /// The I/O port.
        public var port: UInt16 { self == .resetControlRegister ? 0xCF9 : 0x64 }
        /// The value the guest writes to reset.
        public var value: UInt8 { self == .resetControlRegister ? 0x06 : 0xFE }
    }

    /// Number of CPUs: one local APIC entry and one processor device each, APIC IDs 0...n-1.
    public var cpuCount: Int = 1
    /// Bytes of RAM (informational for the tables; the loader's memory map places them).
    public var memorySize: UInt64 = 256 << 20
    /// The local APIC's MMIO base.
    public var localAPICAddress: UInt32 = 0xFEE0_0000
    /// The IOAPIC's MMIO base; its first GSI is 0.
    public var ioAPICAddress: UInt32 = 0xFEC0_0000
    /// The IOAPIC's ID (in the MADT).
    public var ioAPICID: UInt8 = 0
    /// PCI Express ECAM base (MCFG), segment 0.
    public var ecamBase: UInt64 = 0xB000_0000
    /// Number of buses the ECAM covers (1 MiB each), starting at bus 0; 1...256.
    public var ecamBusCount: Int = 256
    /// The PCI root bridge's 32-bit memory window (inclusive bounds).
    public var pciMMIOWindow32: ClosedRange<UInt64> = 0xC000_0000...0xFEBF_FFFF
    /// The 64-bit memory window, if any (inclusive bounds): above 4 GiB plus the RAM size, and
    /// within the CPU's physical address width (512 GiB to 1 TiB needs 40 bits).
    public var pciMMIOWindow64: ClosedRange<UInt64>? = 0x80_0000_0000...0xFF_FFFF_FFFF
    /// The root bridge's I/O window for PCI devices' BARs. The bridge also passes on the legacy
    /// ports 0x0000-0x0CF7 (the ISA devices below it).
    public var pciIOWindow: ClosedRange<UInt16> = 0x1000...0xFFFF
    /// The base of the ACPI PM register block: PM1a event at +0 (4 bytes), PM1a control at +4
    /// (2 bytes), PM timer at +8 (4 bytes).
    public var pmBase: UInt16 = 0x600
    /// The GSI (and ISA IRQ) of the SCI: level-triggered, active high.
    public var sciInterrupt: UInt8 = 9
    /// The SLP_TYP value of \_S5 (soft off) that the PM1 control register recognises.
    public var sleepTypeS5: UInt8 = ACPIPowerManagement.sleepTypeS5
    /// The reset register.
    public var resetRegister: ResetRegister = .resetControlRegister
    /// Whether an i8042 is described to the OS (FADT boot flag 8042). Off by default: the OS
    /// does not probe a keyboard controller (the reset line at 0x64 still works).
    public var has8042: Bool = false

    /// The defaults: one CPU, 256 MiB, the addresses above.
    public init() {}

    /// The PM1a event block's port.
    public var pm1aEventPort: UInt16 { pmBase }
    /// The PM1a control block's port.
    public var pm1aControlPort: UInt16 { pmBase &+ 4 }
    /// The PM timer's port.
    public var pmTimerPort: UInt16 { pmBase &+ 8 }

    /// Checks the values.
    /// - Throws: ``ACPIConfigurationError`` naming the first problem.
    public func validate() throws(ACPIConfigurationError) {
        guard (1...255).contains(cpuCount) else { throw .invalid("cpuCount", "must be 1...255") }
        guard (1...256).contains(ecamBusCount) else { throw .invalid("ecamBusCount", "must be 1...256") }
        guard ecamBase % (1 << 20) == 0, ecamBase <= UInt64.max - UInt64(ecamBusCount) << 20 else {
            throw .invalid("ecamBase", "must be 1 MiB aligned and the window must fit")
        }
        guard pciMMIOWindow32.upperBound <= 0xFFFF_FFFF else {
            throw .invalid("pciMMIOWindow32", "must lie below 4 GiB")
        }
        if let w = pciMMIOWindow64 {
            // RAM above PCMachineConfiguration.lowMemoryLimit is mapped from 4 GiB up.
            let low = PCMachineConfiguration.lowMemoryLimit
            let highRAM = memorySize > low ? memorySize - low : 0
            let (ramEnd, overflow) = (UInt64(1) << 32).addingReportingOverflow(highRAM)
            guard !overflow, w.lowerBound >= ramEnd, w.upperBound < UInt64.max else {
                throw .invalid("pciMMIOWindow64", "must lie above the RAM mapped from 4 GiB")
            }
        }
        guard pmBase <= 0xFFFF - 12, pmBase % 4 == 0 else {
            throw .invalid("pmBase", "must be 4-byte aligned with 12 ports free after it")
        }
        guard sciInterrupt < 24, sciInterrupt != 0, sciInterrupt != 2 else {
            throw .invalid("sciInterrupt", "must be an IOAPIC pin other than 0 and 2")
        }
        guard sleepTypeS5 < 8 else { throw .invalid("sleepTypeS5", "SLP_TYP is 3 bits") }
    }
}

/// An ACPI configuration that cannot be described.
public enum ACPIConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The field, with why it is refused.
    case invalid(String, String)
    /// An AML construct could not be encoded (a bug in the table builder's input).
    case aml(AMLError)

    public var description: String {
        switch self {
        case .invalid(let field, let why): "ACPI configuration: \(field) \(why)"
        case .aml(let e): "ACPI tables: \(e)"
        }
    }
}
