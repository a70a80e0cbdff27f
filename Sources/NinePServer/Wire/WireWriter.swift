/// Appends 9P-encoded little-endian fields to a byte array.
///
/// Only the string writer can fail (a string longer than 65535 bytes or containing NUL
/// cannot be represented); fixed-size fields always succeed.
public struct WireWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    /// Creates an empty writer, reserving `capacity` bytes.
    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Starts a frame: a size placeholder, the type byte and the tag. Finish it with ``finishFrame(maxSize:)``.
    public init(type: NinePMessageType, tag: UInt16, capacity: Int = 64) {
        self.init(capacity: capacity)
        writeUInt32(0)
        writeUInt8(type.rawValue)
        writeUInt16(tag)
    }

    /// Appends one byte.
    public mutating func writeUInt8(_ value: UInt8) { bytes.append(value) }

    /// Appends a little-endian 16-bit integer.
    public mutating func writeUInt16(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
    }

    /// Appends a little-endian 32-bit integer.
    public mutating func writeUInt32(_ value: UInt32) {
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
    }

    /// Appends a little-endian 64-bit integer.
    public mutating func writeUInt64(_ value: UInt64) {
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
    }

    /// Appends raw bytes (no length prefix).
    public mutating func writeBytes(_ data: some Collection<UInt8>) { bytes.append(contentsOf: data) }

    /// Appends a 9P string: len[2] then the UTF-8 bytes.
    /// Throws `.stringTooLong` above 65535 bytes and `.embeddedNUL` (offset = where the string
    /// would start) if it contains U+0000; nothing is written on failure.
    public mutating func writeString(_ string: String) throws(NinePWireError) {
        let utf8 = string.utf8
        guard utf8.count <= Int(UInt16.max) else { throw .stringTooLong(length: utf8.count) }
        if utf8.contains(0) { throw .embeddedNUL(offset: bytes.count) }
        writeUInt16(UInt16(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// Appends a 13-byte qid.
    public mutating func writeQid(_ qid: Qid) {
        writeUInt8(qid.type)
        writeUInt32(qid.version)
        writeUInt64(qid.path)
    }

    /// Patches the size field written by ``init(type:tag:capacity:)`` and returns the frame.
    /// Throws `.messageTooLarge` if the frame is longer than `maxSize` (or than 2³²−1).
    /// Throws `.messageTooSmall` if the writer holds less than a header (it was not started as a frame).
    ///
    /// The size is patched in place: call it as `(consume writer).finishFrame()` so that the
    /// writer's bytes are not shared, or they are copied first.
    public consuming func finishFrame(maxSize: UInt32 = .max) throws(NinePWireError) -> [UInt8] {
        var frame = bytes
        bytes = [] // `frame` is now the only reference (if the caller consumed its writer)
        guard frame.count >= NineP.headerSize else { throw .messageTooSmall(size: UInt32(frame.count)) }
        guard frame.count <= Int(maxSize) else {
            throw .messageTooLarge(size: UInt32(clamping: frame.count), msize: maxSize)
        }
        NineP.patchSize(of: &frame)
        return frame
    }
}
