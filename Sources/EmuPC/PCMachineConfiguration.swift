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

    /// Size of the blank firmware ROM.
    public static let defaultFirmwareSize: UInt64 = 256 << 10
    /// RAM above this address is mapped above 4 GiB (the PCI hole lies between).
    public static let lowMemoryLimit: UInt64 = 0xC000_0000

    /// A configuration with the defaults: 256 MiB of RAM, blank firmware.
    public init() {}

    /// Checks the configuration.
    /// - Throws: ``PCConfigurationError`` naming the first problem.
    public func validate() throws(PCConfigurationError) {
        guard memorySize >= 1 << 20, memorySize <= 1 << 40 else {
            throw .memorySize(memorySize, "must be between 1 MiB and 1 TiB")
        }
        guard memorySize % 4096 == 0 else { throw .memorySize(memorySize, "must be a multiple of 4 KiB") }
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

    public var description: String {
        switch self {
        case .memorySize(let size, let why): "memory size \(size) bytes: \(why)"
        case .firmwareSize(let size):
            "firmware image of \(size) bytes: must be 64 KiB to 16 MiB and a multiple of 4 KiB"
        }
    }
}
