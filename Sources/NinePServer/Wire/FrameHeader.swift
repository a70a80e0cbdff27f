/// The 7-byte header every 9P frame starts with: size[4] type[1] tag[2].
public struct FrameHeader: Hashable, Sendable {
    /// Total frame length in bytes, header included.
    public var size: UInt32
    /// The raw type byte (not necessarily a known ``NinePMessageType``).
    public var type: UInt8
    /// The tag the reply must carry.
    public var tag: UInt16

    /// Creates a header from its fields.
    public init(size: UInt32, type: UInt8, tag: UInt16) {
        self.size = size; self.type = type; self.tag = tag
    }

    /// Reads and checks the header of the single frame `bytes`.
    ///
    /// Checks, in order: at least 4 bytes for the size field (`.truncated`), size ≥ 7
    /// (`.messageTooSmall`), size ≤ `msize` (`.messageTooLarge`), size equal to
    /// `bytes.count` (`.sizeMismatch`). A server that fails to decode a body can use this
    /// to learn the tag it should answer an Rlerror to.
    public init(validating bytes: [UInt8], msize: UInt32) throws(NinePWireError) {
        var reader = WireReader(bytes)
        try self.init(reading: &reader, msize: msize)
    }

    /// As ``init(validating:msize:)``, leaving `reader` positioned at the first body byte.
    init(reading reader: inout WireReader, msize: UInt32) throws(NinePWireError) {
        guard reader.remaining >= 4 else { throw .truncated(needed: 4, available: reader.remaining) }
        let size = try reader.readUInt32()
        guard size >= UInt32(NineP.headerSize) else { throw .messageTooSmall(size: size) }
        guard size <= msize else { throw .messageTooLarge(size: size, msize: msize) }
        guard Int(size) == reader.bytes.count else { throw .sizeMismatch(declared: size, actual: reader.bytes.count) }
        self.size = size
        self.type = try reader.readUInt8()
        self.tag = try reader.readUInt16()
    }
}
