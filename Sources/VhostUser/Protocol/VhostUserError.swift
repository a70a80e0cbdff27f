import EmuCore

/// Why a vhost-user exchange failed. Every error leaves the connection unusable except
/// ``backEndRefused(_:status:)`` (the back end answered, with a failure status).
public enum VhostUserError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call on the socket or an fd failed.
    case system(SystemCallError)
    /// The peer closed the connection (or it was closed locally).
    case disconnected
    /// No (complete) reply came within the timeout.
    case timedOut(VhostUserRequest)
    /// A reply named another request than the one sent (raw code, as received).
    case unexpectedReply(expected: VhostUserRequest, got: UInt32)
    /// A reply's flags were not version 1 with the reply bit set.
    case badReplyFlags(VhostUserRequest, flags: UInt32)
    /// A reply's payload size was not the size its request's reply has.
    case badReplySize(VhostUserRequest, expected: Int, got: UInt32)
    /// A header announced a payload larger than any message has.
    case payloadTooLarge(UInt32)
    /// A payload could not be decoded (too short, counts out of range, ...).
    case malformedPayload(String)
    /// A message carried more file descriptors than it may, or control data was truncated.
    case unexpectedDescriptors(Int)
    /// The back end acknowledged a request with a non-zero status (REPLY_ACK).
    case backEndRefused(VhostUserRequest, status: UInt64)
    /// The back end lacks something the front end needs (a feature, enough queues).
    case unsupported(String)
    /// The device was marked broken by an earlier failure (a disconnect, a bad reply).
    case broken(String)

    public var description: String {
        switch self {
        case .system(let e): return "vhost-user: \(e)"
        case .disconnected: return "vhost-user: back end disconnected"
        case .timedOut(let r): return "vhost-user: no reply to \(r) in time"
        case .unexpectedReply(let e, let g): return "vhost-user: reply to request \(g) while waiting for \(e)"
        case .badReplyFlags(let r, let f): return "vhost-user: reply to \(r) has flags 0x\(String(f, radix: 16))"
        case .badReplySize(let r, let e, let g): return "vhost-user: reply to \(r) has \(g) payload bytes, expected \(e)"
        case .payloadTooLarge(let n): return "vhost-user: payload of \(n) bytes announced"
        case .malformedPayload(let why): return "vhost-user: malformed payload: \(why)"
        case .unexpectedDescriptors(let n): return "vhost-user: \(n) unexpected file descriptors"
        case .backEndRefused(let r, let s): return "vhost-user: back end refused \(r) (status \(s))"
        case .unsupported(let why): return "vhost-user: back end unsupported: \(why)"
        case .broken(let why): return "vhost-user: device broken: \(why)"
        }
    }
}
