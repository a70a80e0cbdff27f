import CGLib

/// The readiness conditions of a file descriptor, as `poll(2)` reports them.
public struct IOEvents: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Data can be read (POLLIN).
    public static let readable = IOEvents(rawValue: G_IO_IN.rawValue)
    /// Urgent data can be read (POLLPRI).
    public static let priority = IOEvents(rawValue: G_IO_PRI.rawValue)
    /// Data can be written without blocking (POLLOUT).
    public static let writable = IOEvents(rawValue: G_IO_OUT.rawValue)
    /// An error condition (POLLERR); always reported, never needs asking for.
    public static let error = IOEvents(rawValue: G_IO_ERR.rawValue)
    /// The peer hung up (POLLHUP); always reported, never needs asking for.
    public static let hangup = IOEvents(rawValue: G_IO_HUP.rawValue)
    /// The fd is not open (POLLNVAL). The loop stops polling a handler that reports it.
    public static let invalid = IOEvents(rawValue: G_IO_NVAL.rawValue)
}
