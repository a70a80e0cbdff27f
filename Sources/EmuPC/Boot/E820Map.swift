/// One entry of the BIOS e820 memory map, as the zero page carries it (20 bytes: address,
/// size, type).
public struct E820Entry: Sendable, Equatable, CustomStringConvertible {
    /// The e820 range types.
    public enum Kind: UInt32, Sendable {
        /// Usable RAM.
        case ram = 1
        /// Reserved: not RAM for the OS (firmware, MMIO such as the ECAM window).
        case reserved = 2
        /// RAM holding ACPI tables.
        case acpi = 3
    }

    /// First address.
    public var address: UInt64
    /// Length in bytes (nonzero).
    public var size: UInt64
    /// What the range is.
    public var kind: Kind

    /// Creates an entry.
    public init(address: UInt64, size: UInt64, kind: Kind) {
        self.address = address
        self.size = size
        self.kind = kind
    }

    /// The end (exclusive).
    public var end: UInt64 { address + size }

    /// The 20 bytes of the zero page's `boot_e820_entry`.
    public var bytes: [UInt8] {
        AMLEncoding.littleEndian(address, bytes: 8) + AMLEncoding.littleEndian(size, bytes: 8)
            + AMLEncoding.littleEndian(UInt64(kind.rawValue), bytes: 4)
    }

    public var description: String {
        "[0x\(String(address, radix: 16))-0x\(String(end - 1, radix: 16))] \(kind)"
    }
}

/// The guest's physical memory as the loader must describe it: RAM from 0 below the PCI hole,
/// RAM from 4 GiB, and ranges to reserve (the ECAM window, firmware).
public struct LinuxBootMemoryMap: Sendable, Equatable {
    /// Bytes of RAM at guest-physical 0.
    public var lowRAMSize: UInt64
    /// Bytes of RAM at 4 GiB.
    public var highRAMSize: UInt64
    /// Ranges listed as reserved in the e820 map (they must not overlap RAM).
    public var reserved: [Range<UInt64>]

    /// The first address of high RAM.
    public static let highRAMBase: UInt64 = 1 << 32

    /// A map with the given parts.
    public init(lowRAMSize: UInt64, highRAMSize: UInt64 = 0, reserved: [Range<UInt64>] = []) {
        self.lowRAMSize = lowRAMSize
        self.highRAMSize = highRAMSize
        self.reserved = reserved
    }

    /// `memorySize` bytes of RAM split as a PC maps it: up to `lowMemoryLimit` at 0, the rest at
    /// 4 GiB; `reserved` as given.
    public init(memorySize: UInt64, lowMemoryLimit: UInt64, reserved: [Range<UInt64>] = []) {
        let low = min(memorySize, lowMemoryLimit)
        self.init(lowRAMSize: low, highRAMSize: memorySize - low, reserved: reserved)
    }

    /// Checks that the map can hold a Linux guest: at least 2 MiB of low RAM, low RAM below
    /// 4 GiB, high RAM not overflowing, reserved ranges non-empty and clear of RAM.
    /// - Throws: ``LinuxBootError/invalidMemoryMap(_:)``.
    public func validate() throws(LinuxBootError) {
        guard lowRAMSize >= 2 << 20, lowRAMSize <= Self.highRAMBase, lowRAMSize % 4096 == 0 else {
            throw .invalidMemoryMap("low RAM must be 2 MiB to 4 GiB, a multiple of 4 KiB")
        }
        guard highRAMSize <= UInt64.max - Self.highRAMBase, highRAMSize % 4096 == 0 else {
            throw .invalidMemoryMap("high RAM must be a multiple of 4 KiB and fit in 64 bits")
        }
        let ram = [0..<lowRAMSize, Self.highRAMBase..<Self.highRAMBase + highRAMSize]
        for r in reserved {
            guard !r.isEmpty else { throw .invalidMemoryMap("an empty reserved range") }
            if ram.contains(where: { $0.overlaps(r) }) {
                throw .invalidMemoryMap("reserved range 0x\(String(r.lowerBound, radix: 16)) overlaps RAM")
            }
        }
    }
}
