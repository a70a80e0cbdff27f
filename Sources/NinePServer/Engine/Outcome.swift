/// How a request ended.
enum Outcome: Sendable {
    /// Answered with `message`; `change` is applied to the fid table when (and only when) the
    /// reply goes out.
    case reply(RMessage, FidChange = .none)
    /// Answered with a frame already encoded (an Rread made in place around the data read);
    /// no fid change.
    case encoded([UInt8])
    /// Cancelled by a Tflush before it had an effect: no reply, no fid change.
    case cancelled
}

/// A change to the fid table that takes effect with a reply.
enum FidChange: Sendable {
    case none
    /// Binds `number` to `fid`. With `replacing: nil` the number must still be free; with
    /// `replacing: old` it must still name `old` (the request's own fid, as Tlopen turns it
    /// into an open file), which is then retired. Otherwise (the number was taken, or the fid
    /// clunked meanwhile) the request fails with EBADF and `fid` is discarded.
    case bind(UInt32, Fid, replacing: Fid?)
}
