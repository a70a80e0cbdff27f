/// The body of a Tgetlock after the fid, and of an Rgetlock: a lock to test, or the
/// conflicting lock found (type P9_LOCK_TYPE_UNLCK when there is none).
///
/// Wire layout: type[1] start[8] length[8] proc_id[4] client_id[s].
public struct LockQuery: Hashable, Sendable {
    public var type: UInt8
    public var start: UInt64
    public var length: UInt64
    public var processID: UInt32
    public var clientID: String

    /// Creates a lock query or answer.
    public init(type: UInt8, start: UInt64, length: UInt64, processID: UInt32, clientID: String) {
        self.type = type; self.start = start; self.length = length
        self.processID = processID; self.clientID = clientID
    }

    /// Reads the body. Throws `.truncated`, or the string errors for `client_id`.
    public init(from reader: inout WireReader) throws(NinePWireError) {
        type = try reader.readUInt8()
        start = try reader.readUInt64()
        length = try reader.readUInt64()
        processID = try reader.readUInt32()
        clientID = try reader.readString()
    }

    /// Appends the body. Throws the string errors for `clientID`.
    public func encode(into writer: inout WireWriter) throws(NinePWireError) {
        writer.writeUInt8(type)
        writer.writeUInt64(start)
        writer.writeUInt64(length)
        writer.writeUInt32(processID)
        try writer.writeString(clientID)
    }
}
