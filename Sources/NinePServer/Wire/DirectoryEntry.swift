/// One entry of an Rreaddir payload: qid[13] offset[8] type[1] name[s].
///
/// `offset` is the cookie the client passes in its next Treaddir to continue after this
/// entry; `type` is the Linux `d_type` (DT_DIR 4, DT_REG 8, DT_LNK 10, ...).
public struct DirectoryEntry: Hashable, Sendable {
    public var qid: Qid
    public var offset: UInt64
    public var type: UInt8
    public var name: String

    /// Creates an entry.
    public init(qid: Qid, offset: UInt64, type: UInt8, name: String) {
        self.qid = qid; self.offset = offset; self.type = type; self.name = name
    }

    /// Bytes this entry takes on the wire (24 plus the UTF-8 length of the name).
    public var wireSize: Int { Qid.wireSize + 8 + 1 + 2 + name.utf8.count }

    /// Reads one entry. Throws `.truncated` or the string errors for the name.
    public init(from reader: inout WireReader) throws(NinePWireError) {
        qid = try reader.readQid()
        offset = try reader.readUInt64()
        type = try reader.readUInt8()
        name = try reader.readString()
    }

    /// Appends one entry. Throws the string errors for the name (nothing is written then).
    public func encode(into writer: inout WireWriter) throws(NinePWireError) {
        var entry = WireWriter(capacity: wireSize)
        entry.writeQid(qid)
        entry.writeUInt64(offset)
        entry.writeUInt8(type)
        try entry.writeString(name)
        writer.writeBytes(entry.bytes)
    }

    /// Packs entries, in order, into an Rreaddir payload of at most `limit` bytes.
    ///
    /// Packing stops at the first entry that does not fit whole (entries are never split),
    /// so the caller resumes from `entries[packed]` with the previous entry's `offset`.
    /// Throws the string errors if a name that would fit cannot be encoded (too long or
    /// containing NUL); a server should skip or report such names before packing.
    public static func pack(
        _ entries: some Sequence<DirectoryEntry>, limit: Int
    ) throws(NinePWireError) -> (data: [UInt8], packed: Int) {
        var writer = WireWriter(capacity: max(0, min(limit, 1 << 16)))
        var packed = 0
        for entry in entries {
            guard writer.bytes.count + entry.wireSize <= limit else { break }
            try entry.encode(into: &writer)
            packed += 1
        }
        return (writer.bytes, packed)
    }

    /// Splits an Rreaddir payload into entries. Throws `.truncated` if the last entry is
    /// cut short, or the string errors for a malformed name.
    public static func unpack(_ data: [UInt8]) throws(NinePWireError) -> [DirectoryEntry] {
        var reader = WireReader(data)
        var entries: [DirectoryEntry] = []
        while reader.remaining > 0 {
            entries.append(try DirectoryEntry(from: &reader))
        }
        return entries
    }
}
