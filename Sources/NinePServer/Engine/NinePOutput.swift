/// What a session hands its transport, in the order it must go out.
public enum NinePOutput: Sendable, Equatable {
    /// A reply frame for the request `tag`.
    case reply(tag: UInt16, frame: [UInt8])
    /// The request `tag` was cancelled by a Tflush (or abandoned by a Tversion or a close) and
    /// gets no reply at all. A stream transport sends nothing; virtio returns the request's
    /// buffer as a used element of length 0 (seed 000: never an Rlerror EINTR).
    case noReply(tag: UInt16)
    /// The client broke the framing (a size that cannot be trusted): the transport should
    /// close the connection. The session has already dropped all its state.
    case protocolViolation(String)
}
