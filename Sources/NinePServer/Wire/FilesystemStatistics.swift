/// The body of an Rstatfs (mirrors Linux `struct statfs`).
///
/// Wire layout: type[4] bsize[4] blocks[8] bfree[8] bavail[8] files[8] ffree[8] fsid[8] namelen[4] (60 bytes).
public struct FilesystemStatistics: Hashable, Sendable {
    public var type: UInt32
    public var blockSize: UInt32
    public var blocks: UInt64
    public var blocksFree: UInt64
    public var blocksAvailable: UInt64
    public var files: UInt64
    public var filesFree: UInt64
    public var fsid: UInt64
    public var nameLength: UInt32

    /// Creates statistics; every field defaults to zero.
    public init(
        type: UInt32 = 0, blockSize: UInt32 = 0, blocks: UInt64 = 0, blocksFree: UInt64 = 0,
        blocksAvailable: UInt64 = 0, files: UInt64 = 0, filesFree: UInt64 = 0, fsid: UInt64 = 0,
        nameLength: UInt32 = 0
    ) {
        self.type = type; self.blockSize = blockSize; self.blocks = blocks; self.blocksFree = blocksFree
        self.blocksAvailable = blocksAvailable; self.files = files; self.filesFree = filesFree
        self.fsid = fsid; self.nameLength = nameLength
    }

    /// Reads the 60-byte body. Throws `.truncated` if it runs past the end.
    public init(from reader: inout WireReader) throws(NinePWireError) {
        type = try reader.readUInt32()
        blockSize = try reader.readUInt32()
        blocks = try reader.readUInt64()
        blocksFree = try reader.readUInt64()
        blocksAvailable = try reader.readUInt64()
        files = try reader.readUInt64()
        filesFree = try reader.readUInt64()
        fsid = try reader.readUInt64()
        nameLength = try reader.readUInt32()
    }

    /// Appends the 60-byte body.
    public func encode(into writer: inout WireWriter) {
        writer.writeUInt32(type)
        writer.writeUInt32(blockSize)
        writer.writeUInt64(blocks)
        writer.writeUInt64(blocksFree)
        writer.writeUInt64(blocksAvailable)
        writer.writeUInt64(files)
        writer.writeUInt64(filesFree)
        writer.writeUInt64(fsid)
        writer.writeUInt32(nameLength)
    }
}
