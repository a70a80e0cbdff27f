/// One ACPI system description table: the 36-byte header (ACPI 6.x, 5.2.6) and a body, with the
/// checksum computed so that all bytes of the table sum to zero.
public struct ACPITable: Sendable, Equatable {
    /// The four-character signature ("FACP", "APIC", ...).
    public var signature: String
    /// The table's revision (its layout version).
    public var revision: UInt8
    /// The body after the header.
    public var body: [UInt8]
    /// OEM identification, 6 characters (padded with spaces).
    public var oemID: String = "EMU"
    /// OEM table identification, 8 characters (padded with spaces).
    public var oemTableID: String = "EMUPC"
    /// OEM revision.
    public var oemRevision: UInt32 = 1
    /// The creator's ID, 4 characters.
    public var creatorID: String = "EMU"
    /// The creator's revision.
    public var creatorRevision: UInt32 = 1

    /// A table with the project's OEM and creator identification.
    public init(signature: String, revision: UInt8, body: [UInt8]) {
        self.signature = signature
        self.revision = revision
        self.body = body
    }

    /// The size of the common header.
    public static let headerSize = 36
    /// Offset of the checksum byte in the header.
    public static let checksumOffset = 9

    /// The complete table: header (with length and checksum) and body.
    public var bytes: [UInt8] {
        let length = UInt64(Self.headerSize + body.count)
        var header = Self.fixed(signature, 4) + AMLEncoding.littleEndian(length, bytes: 4) + [revision, 0]
        header += Self.fixed(oemID, 6) + Self.fixed(oemTableID, 8)
        header += AMLEncoding.littleEndian(UInt64(oemRevision), bytes: 4)
        header += Self.fixed(creatorID, 4) + AMLEncoding.littleEndian(UInt64(creatorRevision), bytes: 4)
        var all = header + body
        all[Self.checksumOffset] = Self.checksum(all)
        return all
    }

    /// The byte that makes `bytes` (with that byte counted as zero) sum to zero modulo 256.
    public static func checksum<C: Collection>(_ bytes: C) -> UInt8 where C.Element == UInt8 {
        0 &- bytes.reduce(0, &+)
    }

    /// `text`'s ASCII bytes cut or padded with spaces to `count`.
    static func fixed(_ text: String, _ count: Int) -> [UInt8] {
        let chars = Array(text.utf8.prefix(count))
        return chars + [UInt8](repeating: 0x20, count: count - chars.count)
    }
}

/// A Generic Address Structure (ACPI 6.x, 5.2.3.2): where a register lives.
public struct GenericAddress: Sendable, Equatable {
    /// Address spaces used here.
    public enum Space: UInt8, Sendable {
        case systemMemory = 0, systemIO = 1, pciConfiguration = 2
    }

    /// The address space.
    public var space: Space
    /// Width of the register in bits.
    public var bitWidth: UInt8
    /// Offset of the register within the addressed location, in bits.
    public var bitOffset: UInt8 = 0
    /// Access size: 0 undefined, 1 byte, 2 word, 3 dword, 4 qword.
    public var accessSize: UInt8
    /// The address.
    public var address: UInt64

    /// A register of `bitWidth` bits at I/O port `port`, accessed `accessSize` (1 byte ... 3 dword).
    public static func io(_ port: UInt16, bitWidth: UInt8, accessSize: UInt8) -> GenericAddress {
        GenericAddress(space: .systemIO, bitWidth: bitWidth, accessSize: accessSize, address: UInt64(port))
    }

    /// The all-zero structure: no register.
    public static let none = GenericAddress(space: .systemMemory, bitWidth: 0, accessSize: 0, address: 0)

    /// The 12 bytes of the structure.
    public var bytes: [UInt8] {
        [space.rawValue, bitWidth, bitOffset, accessSize] + AMLEncoding.littleEndian(address, bytes: 8)
    }
}
