/// The body of a Tsetattr after the fid: which attributes to change and their new values.
///
/// Wire layout: valid[4] mode[4] uid[4] gid[4] size[8] atime_sec[8] atime_nsec[8]
/// mtime_sec[8] mtime_nsec[8] (56 bytes).
public struct SetAttributes: Hashable, Sendable {
    /// P9_SETATTR_* bits: MODE 0x1, UID 0x2, GID 0x4, SIZE 0x8, ATIME 0x10, MTIME 0x20,
    /// CTIME 0x40, ATIME_SET 0x80, MTIME_SET 0x100.
    public var valid: UInt32
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    public var atimeSeconds: UInt64
    public var atimeNanoseconds: UInt64
    public var mtimeSeconds: UInt64
    public var mtimeNanoseconds: UInt64

    /// Creates a request; every field defaults to zero.
    public init(
        valid: UInt32 = 0, mode: UInt32 = 0, uid: UInt32 = 0, gid: UInt32 = 0, size: UInt64 = 0,
        atimeSeconds: UInt64 = 0, atimeNanoseconds: UInt64 = 0,
        mtimeSeconds: UInt64 = 0, mtimeNanoseconds: UInt64 = 0
    ) {
        self.valid = valid; self.mode = mode; self.uid = uid; self.gid = gid; self.size = size
        self.atimeSeconds = atimeSeconds; self.atimeNanoseconds = atimeNanoseconds
        self.mtimeSeconds = mtimeSeconds; self.mtimeNanoseconds = mtimeNanoseconds
    }

    /// Reads the 56-byte body. Throws `.truncated` if it runs past the end.
    public init(from reader: inout WireReader) throws(NinePWireError) {
        valid = try reader.readUInt32()
        mode = try reader.readUInt32()
        uid = try reader.readUInt32()
        gid = try reader.readUInt32()
        size = try reader.readUInt64()
        atimeSeconds = try reader.readUInt64()
        atimeNanoseconds = try reader.readUInt64()
        mtimeSeconds = try reader.readUInt64()
        mtimeNanoseconds = try reader.readUInt64()
    }

    /// Appends the 56-byte body.
    public func encode(into writer: inout WireWriter) {
        writer.writeUInt32(valid)
        writer.writeUInt32(mode)
        writer.writeUInt32(uid)
        writer.writeUInt32(gid)
        writer.writeUInt64(size)
        writer.writeUInt64(atimeSeconds)
        writer.writeUInt64(atimeNanoseconds)
        writer.writeUInt64(mtimeSeconds)
        writer.writeUInt64(mtimeNanoseconds)
    }
}
