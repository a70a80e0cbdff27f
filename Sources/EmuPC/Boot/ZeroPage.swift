/// The zero page (`struct boot_params`, 4 KiB) handed to a 64-bit Linux kernel in RSI, with the
/// fields this loader fills at their documented offsets (Documentation/arch/x86/zero-page.rst
/// and boot.rst). Everything not set is zero, including the `sentinel` byte.
public struct ZeroPage: Sendable, Equatable {
    /// Field offsets.
    public enum Offset {
        public static let acpiRSDPAddress = 0x070
        public static let extRamdiskImage = 0x0C0
        public static let extRamdiskSize = 0x0C4
        public static let extCommandLinePointer = 0x0C8
        public static let e820Entries = 0x1E8
        public static let sentinel = 0x1EF
        public static let setupHeader = 0x1F1
        public static let typeOfLoader = 0x210
        public static let loadFlags = 0x211
        public static let ramdiskImage = 0x218
        public static let ramdiskSize = 0x21C
        public static let heapEndPointer = 0x224
        public static let commandLinePointer = 0x228
        public static let e820Table = 0x2D0
    }

    /// The zero page holds at most this many e820 entries.
    public static let maximumE820Entries = 128
    /// `type_of_loader`: 0xFF, "undefined" (any nonzero value; zero makes the kernel ignore the initrd).
    public static let loaderType: UInt8 = 0xFF
    /// `heap_end_ptr`: the end of the setup heap minus 0x200, as boot.rst recommends.
    public static let heapEnd: UInt16 = 0xFE00

    /// The 4096 bytes.
    public private(set) var bytes = [UInt8](repeating: 0, count: 4096)

    /// A zero page carrying `header` (the image's raw setup header) with the loader's fields set:
    /// `type_of_loader`, CAN_USE_HEAP in `loadflags`, `heap_end_ptr`.
    public init(header: LinuxSetupHeader) {
        bytes.replaceSubrange(Offset.setupHeader..<Offset.setupHeader + header.raw.count, with: header.raw)
        bytes[Offset.typeOfLoader] = Self.loaderType
        bytes[Offset.loadFlags] |= LinuxSetupHeader.canUseHeap
        set(UInt64(Self.heapEnd), at: Offset.heapEndPointer, width: 2)
    }

    /// Sets the command line's address (`cmd_line_ptr` and `ext_cmd_line_ptr`).
    public mutating func setCommandLine(at address: UInt64) {
        set(address & 0xFFFF_FFFF, at: Offset.commandLinePointer, width: 4)
        set(address >> 32, at: Offset.extCommandLinePointer, width: 4)
    }

    /// Sets the initrd's address and size (`ramdisk_image`/`ramdisk_size` and their `ext_` halves).
    public mutating func setInitialRamdisk(at address: UInt64, size: UInt64) {
        set(address & 0xFFFF_FFFF, at: Offset.ramdiskImage, width: 4)
        set(address >> 32, at: Offset.extRamdiskImage, width: 4)
        set(size & 0xFFFF_FFFF, at: Offset.ramdiskSize, width: 4)
        set(size >> 32, at: Offset.extRamdiskSize, width: 4)
    }

    /// Sets `acpi_rsdp_addr`.
    public mutating func setACPIRSDP(_ address: UInt64) {
        set(address, at: Offset.acpiRSDPAddress, width: 8)
    }

    /// Sets the e820 table and `e820_entries`; entries past ``maximumE820Entries`` are refused.
    /// - Throws: ``LinuxBootError/invalidMemoryMap(_:)`` for too many entries.
    public mutating func setE820(_ entries: [E820Entry]) throws(LinuxBootError) {
        guard entries.count <= Self.maximumE820Entries else {
            throw .invalidMemoryMap("\(entries.count) e820 entries (the zero page holds 128)")
        }
        bytes[Offset.e820Entries] = UInt8(entries.count)
        for (i, entry) in entries.enumerated() {
            let at = Offset.e820Table + 20 * i
            bytes.replaceSubrange(at..<at + 20, with: entry.bytes)
        }
    }

    /// The little-endian value of `width` bytes at `offset` (for inspection and tests).
    public func value(at offset: Int, width: Int) -> UInt64 {
        ByteReader(bytes).value(offset, width: width) ?? 0
    }

    private mutating func set(_ value: UInt64, at offset: Int, width: Int) {
        for i in 0..<width { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }
}
