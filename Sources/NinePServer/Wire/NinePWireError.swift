/// Everything that can be wrong with a 9P frame.
///
/// Every decode path in this module reports malformed input by throwing one of these
/// cases; none of them traps. Each case carries the numbers a log line needs to say
/// what was wrong without keeping the offending frame around.
public enum NinePWireError: Error, Hashable, Sendable {
    /// A field needed `needed` more bytes but only `available` were left
    /// (in the frame, or in the buffer when the header itself is incomplete).
    case truncated(needed: Int, available: Int)
    /// The frame's size field (`declared`) differs from the number of bytes handed to the decoder (`actual`).
    case sizeMismatch(declared: UInt32, actual: Int)
    /// The frame's size field exceeds the negotiated maximum message size.
    case messageTooLarge(size: UInt32, msize: UInt32)
    /// The frame's size field is below 7, the size of the bare header (size[4] type[1] tag[2]).
    case messageTooSmall(size: UInt32)
    /// The type byte is not a message this codec accepts in this direction
    /// (includes the 9P2000-only Topen/Tcreate, Terror/Rerror and Tlerror).
    case unknownType(UInt8)
    /// A string to be encoded is longer than the 65535 bytes its 2-byte length prefix can express.
    case stringTooLong(length: Int)
    /// The string starting at byte `offset` of the frame is not valid UTF-8.
    case invalidUTF8(offset: Int)
    /// The string starting at byte `offset` of the frame contains a NUL byte.
    case embeddedNUL(offset: Int)
    /// A Twalk carries more than 16 (MAXWELEM) names; the value is the announced count.
    case tooManyWalkNames(Int)
    /// An Rwalk carries more than 16 (MAXWELEM) qids; the value is the announced count.
    case tooManyWalkQids(Int)
    /// The message ended `count` bytes before the end of the frame.
    case trailingBytes(Int)
    /// An I/O count exceeds what fits in a frame of the negotiated msize.
    case countTooLarge(count: UInt32, limit: UInt32)
    /// An I/O count disagrees with the number of payload bytes that follow it.
    case countMismatch(count: UInt32, payload: Int)

    /// The Linux errno a server should answer with in an Rlerror when a request fails to
    /// decode but its tag is known: EMSGSIZE (90) for oversize frames and counts,
    /// EOPNOTSUPP (95) for unknown message types, EINVAL (22) for everything else.
    public var errno: UInt32 {
        switch self {
        case .messageTooLarge, .countTooLarge, .stringTooLong: return 90
        case .unknownType: return 95
        default: return 22
        }
    }
}

extension NinePWireError: CustomStringConvertible {
    /// A one-line description suitable for a log.
    public var description: String {
        switch self {
        case let .truncated(needed, available):
            return "9P frame truncated: field needs \(needed) bytes, \(available) left"
        case let .sizeMismatch(declared, actual):
            return "9P size field says \(declared) bytes but frame has \(actual)"
        case let .messageTooLarge(size, msize):
            return "9P message of \(size) bytes exceeds msize \(msize)"
        case let .messageTooSmall(size):
            return "9P message size \(size) is below the 7-byte header"
        case let .unknownType(type):
            return "9P message type \(type) is not supported"
        case let .stringTooLong(length):
            return "9P string of \(length) bytes exceeds 65535"
        case let .invalidUTF8(offset):
            return "9P string at offset \(offset) is not valid UTF-8"
        case let .embeddedNUL(offset):
            return "9P string at offset \(offset) contains a NUL byte"
        case let .tooManyWalkNames(count):
            return "9P Twalk with \(count) names exceeds 16"
        case let .tooManyWalkQids(count):
            return "9P Rwalk with \(count) qids exceeds 16"
        case let .trailingBytes(count):
            return "9P message followed by \(count) trailing bytes"
        case let .countTooLarge(count, limit):
            return "9P I/O count \(count) exceeds limit \(limit)"
        case let .countMismatch(count, payload):
            return "9P I/O count \(count) disagrees with \(payload) payload bytes"
        }
    }
}
