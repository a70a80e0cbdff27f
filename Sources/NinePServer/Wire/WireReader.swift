/// A bounds-checked little-endian cursor over one 9P frame (or any 9P-encoded byte run).
///
/// Every read checks the remaining length first and throws
/// ``NinePWireError/truncated(needed:available:)`` instead of reading past the end; no
/// read allocates more than the bytes actually present, so a hostile length field can
/// cost at most the size of the buffer already in hand.
public struct WireReader: Sendable {
    /// The bytes being read.
    public let bytes: [UInt8]
    /// Index of the next byte to read.
    public private(set) var offset: Int
    /// One past the last readable byte.
    public let end: Int

    /// Creates a reader over all of `bytes`, starting at `offset` (clamped into the buffer).
    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.end = bytes.count
        self.offset = min(max(offset, 0), bytes.count)
    }

    /// Bytes not yet read.
    public var remaining: Int { end - offset }

    @inline(__always)
    private func need(_ count: Int) throws(NinePWireError) {
        guard count <= remaining else { throw .truncated(needed: count, available: remaining) }
    }

    /// Reads one byte. Throws `.truncated` at the end of the buffer.
    public mutating func readUInt8() throws(NinePWireError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads a little-endian 16-bit integer. Throws `.truncated` if fewer than 2 bytes remain.
    public mutating func readUInt16() throws(NinePWireError) -> UInt16 {
        try need(2)
        defer { offset += 2 }
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    /// Reads a little-endian 32-bit integer. Throws `.truncated` if fewer than 4 bytes remain.
    public mutating func readUInt32() throws(NinePWireError) -> UInt32 {
        try need(4)
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[offset + i]) << (8 * i) }
        offset += 4
        return value
    }

    /// Reads a little-endian 64-bit integer. Throws `.truncated` if fewer than 8 bytes remain.
    public mutating func readUInt64() throws(NinePWireError) -> UInt64 {
        try need(8)
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[offset + i]) << (8 * i) }
        offset += 8
        return value
    }

    /// Reads `count` raw bytes. Throws `.truncated` if fewer remain (before allocating anything).
    public mutating func readBytes(_ count: Int) throws(NinePWireError) -> [UInt8] {
        guard count >= 0 else { throw .truncated(needed: count, available: remaining) }
        try need(count)
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// Reads a 9P string: len[2] followed by that many UTF-8 bytes.
    ///
    /// Throws `.truncated` if the bytes run past the end, `.embeddedNUL` if any byte is 0
    /// and `.invalidUTF8` if the bytes are not well-formed UTF-8 (overlong forms and
    /// surrogates included). Offsets in the errors point at the length prefix.
    public mutating func readString() throws(NinePWireError) -> String {
        let start = offset
        let length = Int(try readUInt16())
        try need(length)
        let slice = bytes[offset..<offset + length]
        if slice.contains(0) { throw .embeddedNUL(offset: start) }
        guard let string = String(validating: slice, as: UTF8.self) else {
            throw .invalidUTF8(offset: start)
        }
        offset += length
        return string
    }

    /// Reads a 13-byte qid: type[1] version[4] path[8].
    public mutating func readQid() throws(NinePWireError) -> Qid {
        let type = try readUInt8()
        let version = try readUInt32()
        let path = try readUInt64()
        return Qid(type: type, version: version, path: path)
    }

    /// Succeeds only when every byte has been consumed; otherwise throws `.trailingBytes`.
    public func finish() throws(NinePWireError) {
        if remaining != 0 { throw .trailingBytes(remaining) }
    }
}
