/// One vhost-user message: a 12-byte header (request u32, flags u32, payload size u32, all
/// little-endian) and its payload. File descriptors travel beside it (``VhostUserSocket``).
public struct VhostUserMessage: Sendable, Hashable {
    /// Header flag bits.
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Protocol version 1, in bits 0–1; every message carries it.
        public static let version1 = Flags(rawValue: 0x1)
        /// This message is a reply.
        public static let reply = Flags(rawValue: 0x4)
        /// The sender wants an acknowledgement (REPLY_ACK).
        public static let needReply = Flags(rawValue: 0x8)
        /// The version field's mask.
        public static let versionMask: UInt32 = 0x3
    }

    /// The header's size in bytes.
    public static let headerSize = 12
    /// The largest payload accepted: bigger than any message's (a full memory table is 264 bytes,
    /// a config message 268), small enough that a hostile size cannot make us allocate much.
    public static let maximumPayloadSize: UInt32 = 4096

    /// The request code, raw: a back end's bad code must still be reportable.
    public var request: UInt32
    /// The header flags.
    public var flags: Flags
    /// The payload bytes.
    public var payload: [UInt8]

    /// A message with `payload`, version 1 flags plus `flags`.
    public init(_ request: VhostUserRequest, flags: Flags = [], payload: [UInt8] = []) {
        self.request = request.rawValue
        self.flags = flags.union(.version1)
        self.payload = payload
    }

    /// A message with a raw request code and flags exactly as given (for replies and tests).
    public init(rawRequest: UInt32, flags: Flags, payload: [UInt8]) {
        self.request = rawRequest
        self.flags = flags
        self.payload = payload
    }

    /// The known request, or `nil` for a code outside 1–43.
    public var knownRequest: VhostUserRequest? { VhostUserRequest(rawValue: request) }

    /// The header and payload, ready to send.
    public func encoded() -> [UInt8] {
        var out = VhostUserWire.Writer()
        out.u32(request)
        out.u32(flags.rawValue)
        out.u32(UInt32(payload.count))
        out.bytes.append(contentsOf: payload)
        return out.bytes
    }

    /// A decoded header: the request code, flags and payload size.
    public struct Header: Sendable, Hashable {
        public var request: UInt32
        public var flags: Flags
        public var size: UInt32
    }

    /// Decodes a header.
    /// - Throws: ``VhostUserError/malformedPayload(_:)`` for fewer than 12 bytes,
    ///   ``VhostUserError/payloadTooLarge(_:)`` for a size above ``maximumPayloadSize``.
    public static func decodeHeader(_ bytes: [UInt8]) throws(VhostUserError) -> Header {
        var r = VhostUserWire.Reader(bytes)
        let request = try r.u32(), flags = try r.u32(), size = try r.u32()
        guard size <= maximumPayloadSize else { throw .payloadTooLarge(size) }
        return Header(request: request, flags: Flags(rawValue: flags), size: size)
    }
}

/// Little-endian helpers for payloads.
enum VhostUserWire {
    struct Writer {
        var bytes: [UInt8] = []
        mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    }

    struct Reader {
        let bytes: [UInt8]
        var offset = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        var remaining: Int { bytes.count - offset }

        mutating func u16() throws(VhostUserError) -> UInt16 {
            guard remaining >= 2 else { throw .malformedPayload("\(bytes.count) bytes, field at \(offset) needs 2") }
            defer { offset += 2 }
            return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
        }

        mutating func u32() throws(VhostUserError) -> UInt32 {
            guard remaining >= 4 else { throw .malformedPayload("\(bytes.count) bytes, field at \(offset) needs 4") }
            var v: UInt32 = 0
            for i in 0..<4 { v |= UInt32(bytes[offset + i]) << (8 * UInt32(i)) }
            offset += 4
            return v
        }

        mutating func u64() throws(VhostUserError) -> UInt64 {
            guard remaining >= 8 else { throw .malformedPayload("\(bytes.count) bytes, field at \(offset) needs 8") }
            var v: UInt64 = 0
            for i in 0..<8 { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
            offset += 8
            return v
        }

        mutating func take(_ n: Int) throws(VhostUserError) -> [UInt8] {
            guard n >= 0, remaining >= n else { throw .malformedPayload("\(bytes.count) bytes, \(n) more needed at \(offset)") }
            defer { offset += n }
            return Array(bytes[offset..<offset + n])
        }
    }
}
