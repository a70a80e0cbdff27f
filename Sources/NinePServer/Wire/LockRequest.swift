/// The body of a Tlock after the fid: a POSIX byte-range lock request.
///
/// Wire layout: type[1] flags[4] start[8] length[8] proc_id[4] client_id[s].
/// `type` is P9_LOCK_TYPE_RDLCK 0 / WRLCK 1 / UNLCK 2; `flags` P9_LOCK_FLAGS_BLOCK 1 / RECLAIM 2.
/// The reply is an Rlock status[1]: P9_LOCK_SUCCESS 0 / BLOCKED 1 / ERROR 2 / GRACE 3.
public struct LockRequest: Hashable, Sendable {
    public var type: UInt8
    public var flags: UInt32
    public var start: UInt64
    /// 0 means "to the end of the file".
    public var length: UInt64
    public var processID: UInt32
    public var clientID: String

    /// Creates a lock request.
    public init(type: UInt8, flags: UInt32, start: UInt64, length: UInt64, processID: UInt32, clientID: String) {
        self.type = type; self.flags = flags; self.start = start; self.length = length
        self.processID = processID; self.clientID = clientID
    }

    /// Reads the body. Throws `.truncated`, or the string errors for `client_id`.
    public init(from reader: inout WireReader) throws(NinePWireError) {
        type = try reader.readUInt8()
        flags = try reader.readUInt32()
        start = try reader.readUInt64()
        length = try reader.readUInt64()
        processID = try reader.readUInt32()
        clientID = try reader.readString()
    }

    /// Appends the body. Throws the string errors for `clientID`.
    public func encode(into writer: inout WireWriter) throws(NinePWireError) {
        writer.writeUInt8(type)
        writer.writeUInt32(flags)
        writer.writeUInt64(start)
        writer.writeUInt64(length)
        writer.writeUInt32(processID)
        try writer.writeString(clientID)
    }
}
