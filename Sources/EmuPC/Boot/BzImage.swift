/// The fields of a bzImage's setup header this loader uses (Linux/x86 boot protocol,
/// Documentation/arch/x86/boot.rst), read from the image at their documented offsets.
public struct LinuxSetupHeader: Sendable, Equatable {
    /// Setup sectors after the boot sector (0 means 4).
    public var setupSectors: Int
    /// Size of the protected-mode code in 16-byte units.
    public var systemSize: UInt32
    /// Protocol version, major in the high byte (0x020F is 2.15).
    public var version: UInt16
    /// Offset of the kernel version string, minus 0x200 (0: none).
    public var kernelVersionOffset: UInt16
    /// `loadflags`: LOADED_HIGH is bit 0.
    public var loadFlags: UInt8
    /// Highest address the initrd may occupy (inclusive).
    public var initrdAddressMax: UInt32
    /// Alignment the kernel must be loaded at when relocatable.
    public var kernelAlignment: UInt32
    /// Whether the kernel may be loaded at another (aligned) address than ``preferredAddress``.
    public var relocatable: Bool
    /// `xloadflags`: XLF_KERNEL_64 is bit 0, XLF_CAN_BE_LOADED_ABOVE_4G bit 1.
    public var extendedLoadFlags: UInt16
    /// Longest command line, without its NUL.
    public var commandLineSize: UInt32
    /// Offset of the compressed payload from the start of the protected-mode code.
    public var payloadOffset: UInt32
    /// Length of the payload (for xz: the stream and the 4-byte decompressed size after it).
    public var payloadLength: UInt32
    /// Where the kernel prefers to be loaded.
    public var preferredAddress: UInt64
    /// Bytes of memory the kernel needs from its load address before it can reserve its own.
    public var initSize: UInt32
    /// The raw header, from offset 0x1F1 to its end (0x202 plus the byte at 0x201), as the
    /// zero page must carry it.
    public var raw: [UInt8]

    /// `loadflags` bit 0: the protected-mode code is loaded at 0x100000 (a bzImage).
    public static let loadedHigh: UInt8 = 0x01
    /// `loadflags` bit 7: the heap end pointer is valid.
    public static let canUseHeap: UInt8 = 0x80
    /// `xloadflags` bit 0: a 64-bit entry point at the load address + 0x200.
    public static let kernel64: UInt16 = 0x01
}

/// A bzImage: the setup code and header, then the protected-mode code that carries the
/// compressed kernel. Parsing checks everything the loader later relies on, so a parsed image
/// is bootable as far as its header can tell.
public struct BzImage: Sendable {
    /// The whole file.
    public let bytes: [UInt8]
    /// The setup header.
    public let header: LinuxSetupHeader

    /// Offset in the file of the setup header.
    public static let headerOffset = 0x1F1
    /// The zero page's room for the setup header ends here (the next boot_params field).
    static let headerLimit = 0x290

    /// Parses and checks `bytes`.
    /// - Throws: ``LinuxBootError/notBzImage(_:)`` (too short, no 0xAA55 boot flag, no "HdrS",
    ///   a zImage, an impossible header length or alignment), ``LinuxBootError/protocolTooOld(version:)``,
    ///   ``LinuxBootError/no64BitEntry``, ``LinuxBootError/truncated(_:)`` (setup sectors or
    ///   payload beyond the file).
    public init(bytes: [UInt8]) throws(LinuxBootError) {
        guard bytes.count >= 0x270 else { throw .notBzImage("only \(bytes.count) bytes") }
        let r = ByteReader(bytes)
        guard r.u16(0x1FE) == 0xAA55 else { throw .notBzImage("no boot signature 0xAA55 at 0x1FE") }
        guard r.u32(0x202) == 0x5372_6448 else { throw .notBzImage("no \"HdrS\" magic at 0x202") }
        let version = r.u16(0x206)
        guard version >= 0x020C else { throw .protocolTooOld(version: version) }
        let loadFlags = bytes[0x211]
        guard loadFlags & LinuxSetupHeader.loadedHigh != 0 else {
            throw .notBzImage("a zImage (LOADED_HIGH clear): only bzImages are supported")
        }
        let xloadflags = r.u16(0x236)
        guard xloadflags & LinuxSetupHeader.kernel64 != 0 else { throw .no64BitEntry }
        let headerEnd = 0x202 + Int(bytes[0x201])
        guard headerEnd >= 0x268, headerEnd <= Self.headerLimit else {
            throw .notBzImage("setup header length \(headerEnd - Self.headerOffset) is impossible")
        }
        var setupSectors = Int(bytes[0x1F1])
        if setupSectors == 0 { setupSectors = 4 }
        let protectedMode = (setupSectors + 1) * 512
        guard protectedMode < bytes.count else {
            throw .truncated("\(setupSectors) setup sectors, but the file has \(bytes.count) bytes")
        }
        let payloadOffset = r.u32(0x248)
        let payloadLength = r.u32(0x24C)
        let payloadEnd = UInt64(protectedMode) + UInt64(payloadOffset) + UInt64(payloadLength)
        guard payloadLength >= 4, payloadEnd <= UInt64(bytes.count) else {
            throw .truncated("payload of \(payloadLength) bytes at offset \(payloadOffset) is beyond the file")
        }
        let alignment = r.u32(0x230)
        let relocatable = bytes[0x234] != 0
        guard alignment >= 4096, alignment & (alignment - 1) == 0 else {
            throw .notBzImage("kernel_alignment 0x\(String(alignment, radix: 16)) is not a power of two of 4 KiB or more")
        }
        let initSize = r.u32(0x260)
        guard initSize > 0 else { throw .notBzImage("init_size is zero") }
        header = LinuxSetupHeader(
            setupSectors: setupSectors, systemSize: r.u32(0x1F4), version: version,
            kernelVersionOffset: r.u16(0x20E), loadFlags: loadFlags, initrdAddressMax: r.u32(0x22C),
            kernelAlignment: alignment, relocatable: relocatable, extendedLoadFlags: xloadflags,
            commandLineSize: r.u32(0x238), payloadOffset: payloadOffset, payloadLength: payloadLength,
            preferredAddress: r.u64(0x258), initSize: initSize,
            raw: Array(bytes[Self.headerOffset..<headerEnd]))
        self.bytes = bytes
    }

    /// Reads and parses the file at `path`.
    /// - Throws: ``LinuxBootError/file(path:_:)`` or as ``init(bytes:)``.
    public init(contentsOf path: String) throws(LinuxBootError) {
        let bytes: [UInt8]
        do { bytes = try HostFile.read(path) } catch { throw .file(path: path, error) }
        try self.init(bytes: bytes)
    }

    /// Offset in the file of the protected-mode code (what is loaded at the load address).
    public var protectedModeOffset: Int { (header.setupSectors + 1) * 512 }

    /// The protected-mode code.
    public var protectedModeCode: ArraySlice<UInt8> { bytes[protectedModeOffset...] }

    /// The compressed payload (checked to lie within the file).
    public var payload: ArraySlice<UInt8> {
        let start = protectedModeOffset + Int(header.payloadOffset)
        return bytes[start..<start + Int(header.payloadLength)]
    }

    /// The kernel's version string ("6.1.0-... (builder) #1 SMP ..."), if the header has one.
    public var kernelVersion: String? {
        guard header.kernelVersionOffset != 0 else { return nil }
        let start = Int(header.kernelVersionOffset) + 0x200
        guard start < bytes.count else { return nil }
        let chars = bytes[start..<min(bytes.count, start + 256)].prefix { $0 != 0 }
        return String(decoding: chars, as: UTF8.self)
    }

    /// Decompresses the payload on the host and parses the kernel ELF inside.
    /// - Throws: ``LinuxBootError/unsupportedCompression(_:)``, ``LinuxBootError/corruptPayload(_:)``,
    ///   ``LinuxBootError/invalidELF(_:)``.
    public func decompressedKernel() throws(LinuxBootError) -> VmlinuxImage {
        try VmlinuxImage(elf: XZPayload.decompress(payload))
    }
}

/// Little-endian reads at offsets the caller has checked.
struct ByteReader {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The `width`-byte value at `offset`, or nil when it does not lie within the bytes.
    func value(_ offset: Int, width: Int) -> UInt64? {
        guard offset >= 0, width <= 8, offset <= bytes.count - width else { return nil }
        var v: UInt64 = 0
        for i in 0..<width { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        return v
    }

    func u16(_ offset: Int) -> UInt16 { UInt16(truncatingIfNeeded: value(offset, width: 2) ?? 0) }
    func u32(_ offset: Int) -> UInt32 { UInt32(truncatingIfNeeded: value(offset, width: 4) ?? 0) }
    func u64(_ offset: Int) -> UInt64 { value(offset, width: 8) ?? 0 }
}
