import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The front end's end of a vhost-user socket: one request at a time, every reply checked.
///
/// A reply must name the request sent, carry version 1 with the reply bit (and nothing else),
/// have exactly the payload size its request's reply has, carry no file descriptors (exactly one
/// with ``callReceivingDescriptor(_:payload:reply:)``), and come within ``timeout``; anything
/// else is an error that also marks the connection **broken** (the stream can no longer be
/// trusted to be in step), so every later exchange fails at once with ``VhostUserError/broken(_:)``
/// instead of waiting. A non-zero REPLY_ACK status is reported as
/// ``VhostUserError/backEndRefused(_:status:)`` and does not break the connection.
///
/// Thread-safe: exchanges from several threads are serialised.
public final class VhostUserConnection: Sendable {
    /// The socket.
    public let socket: VhostUserSocket
    /// How long a reply may take.
    public let timeout: Duration
    private let exchangeLock = Mutex(())
    private let failure = Mutex<VhostUserError?>(nil)

    /// The expected size of a reply's payload.
    public enum ReplySize: Sendable, Hashable {
        /// Exactly this many bytes.
        case exactly(Int)
        /// A GET_CONFIG reply: 12 bytes plus the config size asked for.
        case config(Int)
    }

    /// Wraps a connected socket; replies may take up to `timeout`.
    public init(socket: VhostUserSocket, timeout: Duration = .seconds(5)) {
        self.socket = socket
        self.timeout = timeout
    }

    /// Connects to the back end listening at `path`.
    /// - Throws: as ``VhostUserSocket/connect(path:)``.
    public convenience init(path: String, timeout: Duration = .seconds(5)) throws(VhostUserError) {
        self.init(socket: try VhostUserSocket.connect(path: path), timeout: timeout)
    }

    /// The error that broke the connection, if one did.
    public var brokenBy: VhostUserError? { failure.withLock { $0 } }

    /// Marks the connection broken (e.g. the peer hung up) and shuts the socket down.
    public func markBroken(_ error: VhostUserError) {
        failure.withLock { if $0 == nil { $0 = error } }
        socket.close()
    }

    /// Sends a request that has no reply, or (with `needReply`) waits for its REPLY_ACK status.
    /// - Throws: ``VhostUserError``; see the type's rules.
    public func send(_ request: VhostUserRequest, payload: [UInt8] = [], descriptors: [Int32] = [],
                     needReply: Bool) throws(VhostUserError) {
        let ack = try exchange(request, payload: payload, descriptors: descriptors,
                               flags: needReply ? .needReply : [], reply: needReply ? .exactly(8) : nil)
        guard let ack else { return }
        let status = try VhostUserU64.decode(ack.payload)
        guard status == 0 else { throw .backEndRefused(request, status: status) }
    }

    /// Sends a request whose reply carries a value and returns the reply's payload.
    /// - Throws: ``VhostUserError``; see the type's rules.
    public func call(_ request: VhostUserRequest, payload: [UInt8] = [], descriptors: [Int32] = [],
                     reply: ReplySize) throws(VhostUserError) -> [UInt8] {
        try exchange(request, payload: payload, descriptors: descriptors, flags: [], reply: reply)?.payload ?? []
    }

    /// Sends a request whose reply carries a value and exactly one file descriptor
    /// (GET_INFLIGHT_FD); returns the payload and the descriptor, which the caller owns.
    /// - Throws: ``VhostUserError``; see the type's rules. A reply without exactly one
    ///   descriptor is ``VhostUserError/unexpectedDescriptors(_:)`` (and breaks the connection).
    public func callReceivingDescriptor(_ request: VhostUserRequest, payload: [UInt8] = [],
                                        reply: ReplySize) throws(VhostUserError) -> (payload: [UInt8], descriptor: Int32) {
        guard let got = try exchange(request, payload: payload, descriptors: [], flags: [], reply: reply, replyDescriptors: 1),
              let fd = got.descriptors.first else { throw .unexpectedDescriptors(0) }
        return (got.payload, fd)
    }

    private func exchange(_ request: VhostUserRequest, payload: [UInt8], descriptors: [Int32],
                          flags: VhostUserMessage.Flags, reply: ReplySize?,
                          replyDescriptors: Int = 0) throws(VhostUserError) -> (payload: [UInt8], descriptors: [Int32])? {
        try exchangeLock.withLock { _ throws(VhostUserError) -> (payload: [UInt8], descriptors: [Int32])? in
            if let broken = failure.withLock({ $0 }) { throw .broken(broken.description) }
            do throws(VhostUserError) {
                try socket.send(VhostUserMessage(request, flags: flags, payload: payload), descriptors: descriptors)
                guard let reply else { return nil }
                let (message, fds) = try socket.receive(timeout: timeout, waitingFor: request)
                var kept = false
                defer { if !kept { fds.forEach { _ = close($0) } } }
                guard message.request == request.rawValue else { throw VhostUserError.unexpectedReply(expected: request, got: message.request) }
                guard message.flags.rawValue & ~(VhostUserMessage.Flags.reply.rawValue | VhostUserMessage.Flags.versionMask) == 0,
                      message.flags.rawValue & VhostUserMessage.Flags.versionMask == 1,
                      message.flags.contains(.reply)
                else { throw VhostUserError.badReplyFlags(request, flags: message.flags.rawValue) }
                guard fds.count == replyDescriptors else { throw VhostUserError.unexpectedDescriptors(fds.count) }
                let expected: Int
                switch reply {
                case .exactly(let n): expected = n
                case .config(let n): expected = 12 + n
                }
                guard message.payload.count == expected else {
                    throw VhostUserError.badReplySize(request, expected: expected, got: UInt32(message.payload.count))
                }
                kept = true
                return (message.payload, fds)
            } catch {
                markBroken(error)
                throw error
            }
        }
    }
}
