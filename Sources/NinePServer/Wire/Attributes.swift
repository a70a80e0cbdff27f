/// The body of an Rgetattr: what the server knows about a file, and which fields are valid.
///
/// Wire layout: valid[8] qid[13] mode[4] uid[4] gid[4] nlink[8] rdev[8] size[8] blksize[8]
/// blocks[8] atime_sec[8] atime_nsec[8] mtime_sec[8] mtime_nsec[8] ctime_sec[8] ctime_nsec[8]
/// btime_sec[8] btime_nsec[8] gen[8] data_version[8] (153 bytes).
public struct Attributes: Hashable, Sendable {
    /// P9_GETATTR_* bits: which of the fields below hold real values.
    public var valid: UInt64
    public var qid: Qid
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var nlink: UInt64
    public var rdev: UInt64
    public var size: UInt64
    public var blockSize: UInt64
    public var blocks: UInt64
    public var atimeSeconds: UInt64
    public var atimeNanoseconds: UInt64
    public var mtimeSeconds: UInt64
    public var mtimeNanoseconds: UInt64
    public var ctimeSeconds: UInt64
    public var ctimeNanoseconds: UInt64
    public var btimeSeconds: UInt64
    public var btimeNanoseconds: UInt64
    public var generation: UInt64
    public var dataVersion: UInt64

    /// P9_GETATTR_BASIC: mode, nlink, uid, gid, rdev, atime, mtime, ctime, ino, size, blocks.
    public static let maskBasic: UInt64 = 0x0000_07FF
    /// P9_GETATTR_ALL: basic plus btime, gen and data_version.
    public static let maskAll: UInt64 = 0x0000_3FFF

    /// Bytes of the body on the wire.
    public static let wireSize = 153

    /// Creates attributes; every field defaults to zero.
    public init(
        valid: UInt64 = 0, qid: Qid = Qid(type: 0, version: 0, path: 0),
        mode: UInt32 = 0, uid: UInt32 = 0, gid: UInt32 = 0,
        nlink: UInt64 = 0, rdev: UInt64 = 0, size: UInt64 = 0, blockSize: UInt64 = 0, blocks: UInt64 = 0,
        atimeSeconds: UInt64 = 0, atimeNanoseconds: UInt64 = 0,
        mtimeSeconds: UInt64 = 0, mtimeNanoseconds: UInt64 = 0,
        ctimeSeconds: UInt64 = 0, ctimeNanoseconds: UInt64 = 0,
        btimeSeconds: UInt64 = 0, btimeNanoseconds: UInt64 = 0,
        generation: UInt64 = 0, dataVersion: UInt64 = 0
    ) {
        self.valid = valid; self.qid = qid; self.mode = mode; self.uid = uid; self.gid = gid
        self.nlink = nlink; self.rdev = rdev; self.size = size; self.blockSize = blockSize; self.blocks = blocks
        self.atimeSeconds = atimeSeconds; self.atimeNanoseconds = atimeNanoseconds
        self.mtimeSeconds = mtimeSeconds; self.mtimeNanoseconds = mtimeNanoseconds
        self.ctimeSeconds = ctimeSeconds; self.ctimeNanoseconds = ctimeNanoseconds
        self.btimeSeconds = btimeSeconds; self.btimeNanoseconds = btimeNanoseconds
        self.generation = generation; self.dataVersion = dataVersion
    }

    /// Reads the 153-byte body. Throws `.truncated` if it runs past the end.
    public init(from reader: inout WireReader) throws(NinePWireError) {
        valid = try reader.readUInt64()
        qid = try reader.readQid()
        mode = try reader.readUInt32()
        uid = try reader.readUInt32()
        gid = try reader.readUInt32()
        nlink = try reader.readUInt64()
        rdev = try reader.readUInt64()
        size = try reader.readUInt64()
        blockSize = try reader.readUInt64()
        blocks = try reader.readUInt64()
        atimeSeconds = try reader.readUInt64()
        atimeNanoseconds = try reader.readUInt64()
        mtimeSeconds = try reader.readUInt64()
        mtimeNanoseconds = try reader.readUInt64()
        ctimeSeconds = try reader.readUInt64()
        ctimeNanoseconds = try reader.readUInt64()
        btimeSeconds = try reader.readUInt64()
        btimeNanoseconds = try reader.readUInt64()
        generation = try reader.readUInt64()
        dataVersion = try reader.readUInt64()
    }

    /// Appends the 153-byte body.
    public func encode(into writer: inout WireWriter) {
        writer.writeUInt64(valid)
        writer.writeQid(qid)
        writer.writeUInt32(mode)
        writer.writeUInt32(uid)
        writer.writeUInt32(gid)
        for value in [nlink, rdev, size, blockSize, blocks,
                      atimeSeconds, atimeNanoseconds, mtimeSeconds, mtimeNanoseconds,
                      ctimeSeconds, ctimeNanoseconds, btimeSeconds, btimeNanoseconds,
                      generation, dataVersion] {
            writer.writeUInt64(value)
        }
    }
}
