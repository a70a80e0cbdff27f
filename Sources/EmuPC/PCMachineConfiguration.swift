/// What a PC machine is made of, validated before anything is built (like
/// Virtualization.framework's configuration objects: compose, validate, then build).
public struct PCMachineConfiguration: Sendable {
    /// Guest RAM in bytes. At least 1 MiB, at most 1 TiB; a multiple of 4 KiB.
    public var memorySize: UInt64 = 256 << 20
    /// Firmware image mapped just below 4 GiB (its last 128 KiB also at 0xE0000). `nil` leaves
    /// a blank ROM of ``defaultFirmwareSize`` (filled with 0xFF, like erased flash).
    public var firmware: [UInt8]?
    /// Where the ISA debug console (port 0x402) writes what the guest sends it.
    public var debugConsoleOutput: @Sendable ([UInt8]) -> Void = { _ in }
    /// Number of CPUs. Exactly one: ``validate()`` refuses any other count.
    public var cpuCount: Int = 1
    /// What COM1 (port 0x3F8, IRQ 4) is connected to on the host.
    public var serialPort: PCSerialAttachment = .disconnected
    /// Receives the machine-level requests the guest makes through its devices (reset, power
    /// off, sleep), on the thread of the guest's write. By default they are ignored.
    public var eventHandler: @Sendable (PCMachineEvent) -> Void = { _ in }

    /// Size of the blank firmware ROM.
    public static let defaultFirmwareSize: UInt64 = 256 << 10
    /// RAM above this address is mapped above 4 GiB (the PCI hole lies between).
    public static let lowMemoryLimit: UInt64 = 0xC000_0000

    /// The ISA IRQ (and GSI) of the ACPI SCI: level-triggered, so its ELCR bit is set.
    public static let sciInterrupt: UInt8 = 9

    /// A configuration with the defaults: one CPU, 256 MiB of RAM, blank firmware, COM1
    /// connected to nothing.
    public init() {}

    /// What the machine's ACPI tables describe: its CPU count and RAM size, the SCI on
    /// ``sciInterrupt``, the PM block at 0x600 and the reset register at 0xCF9; the other
    /// addresses are ``PCACPIConfiguration``'s defaults.
    public var acpiConfiguration: PCACPIConfiguration {
        var acpi = PCACPIConfiguration()
        acpi.cpuCount = cpuCount
        acpi.memorySize = memorySize
        acpi.sciInterrupt = Self.sciInterrupt
        acpi.resetRegister = .resetControlRegister
        // The PCI windows and ECAM the machine's PCI host decodes, so _CRS, MCFG and the BARs agree.
        acpi.ecamBase = PCMemoryMap.ecamBase
        acpi.ecamBusCount = PCMemoryMap.ecamBusRange.count
        acpi.pciMMIOWindow32 = PCMemoryMap.pciMMIO32Window.lowerBound...(PCMemoryMap.pciMMIO32Window.upperBound - 1)
        let window64 = PCMemoryMap.pciMMIO64Window(memorySize: memorySize)
        acpi.pciMMIOWindow64 = window64.lowerBound...(window64.upperBound - 1)
        acpi.pciIOWindow = UInt16(PCMemoryMap.pciIOWindow.lowerBound)...UInt16(PCMemoryMap.pciIOWindow.upperBound - 1)
        return acpi
    }

    /// The guest-physical memory a Linux guest is told about: RAM up to ``lowMemoryLimit`` at 0,
    /// the rest at 4 GiB, and the PCI ECAM window of ``acpiConfiguration`` reserved.
    public var linuxMemoryMap: LinuxBootMemoryMap {
        let acpi = acpiConfiguration
        let ecam = acpi.ecamBase..<acpi.ecamBase + UInt64(acpi.ecamBusCount) << 20
        return LinuxBootMemoryMap(memorySize: memorySize, lowMemoryLimit: Self.lowMemoryLimit, reserved: [ecam])
    }

    /// Checks the configuration.
    /// - Throws: ``PCConfigurationError`` naming the first problem.
    public func validate() throws(PCConfigurationError) {
        guard memorySize >= 1 << 20, memorySize <= 1 << 40 else {
            throw .memorySize(memorySize, "must be between 1 MiB and 1 TiB")
        }
        guard memorySize % 4096 == 0 else { throw .memorySize(memorySize, "must be a multiple of 4 KiB") }
        guard cpuCount == 1 else { throw .cpuCount(cpuCount) }
        if let firmware {
            guard firmware.count >= 64 << 10, firmware.count <= 16 << 20, firmware.count % 4096 == 0 else {
                throw .firmwareSize(firmware.count)
            }
        }
    }
}

/// A configuration that cannot be built.
public enum PCConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The RAM size, with why it is refused.
    case memorySize(UInt64, String)
    /// Firmware images must be 64 KiB to 16 MiB, a multiple of 4 KiB.
    case firmwareSize(Int)
    /// Only one CPU is supported (symmetric multiprocessing is not implemented).
    case cpuCount(Int)

    public var description: String {
        switch self {
        case .memorySize(let size, let why): "memory size \(size) bytes: \(why)"
        case .firmwareSize(let size):
            "firmware image of \(size) bytes: must be 64 KiB to 16 MiB and a multiple of 4 KiB"
        case .cpuCount(let count):
            "cpuCount \(count): the PC runs exactly one CPU (more than one is not supported)"
        }
    }
}

/// What a PC serial port is connected to on the host.
public enum PCSerialAttachment: Sendable, Equatable {
    /// Nothing: output is dropped, no input arrives.
    case disconnected
    /// The process's standard input and output (a terminal is put in raw mode until the
    /// machine is closed).
    case stdio
    /// Output written to the file at the path (created or truncated); no input.
    case file(path: String)
    /// A Unix stream socket listening at the path; one client at a time is the other end.
    case unixSocket(path: String)
}
