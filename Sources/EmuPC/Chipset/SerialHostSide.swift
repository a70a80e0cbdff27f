/// The host side of a serial port: where the guest's output goes and its input comes from
/// (a terminal, a file, a socket). Implementations: ``StdioSerialHost``, ``FileSerialHost``,
/// ``UnixSocketSerialHost``.
///
/// Flow control both ways: ``send(_:)`` may accept fewer bytes than offered (its buffer is
/// bounded); it then calls ``SerialPortClient/hostReadyForOutput()`` once it can take more.
/// Input is offered with ``SerialPortClient/receiveFromHost(_:)``; what the port does not take
/// stays with the host side, which stops reading its source until
/// ``receiveSpaceAvailable()``, so no input is lost and none piles up in memory.
///
/// Locking: the port may call ``send(_:)`` while holding its own lock; a host side never calls
/// the port while holding a lock of its own that ``send(_:)`` takes.
public protocol SerialHostSide: AnyObject, Sendable {
    /// Connects the port; input and output-ready calls go to it from then on. Called once.
    func connect(_ client: any SerialPortClient)
    /// Takes bytes the guest sent; returns how many it took (all of them when it drops output,
    /// fewer when its bounded buffer is full).
    func send(_ bytes: ArraySlice<UInt8>) -> Int
    /// The port has room for input again.
    func receiveSpaceAvailable()
    /// Stops all I/O and releases what the host side holds (fds, terminal modes). Idempotent.
    func close()
}

/// The port as its host side sees it.
public protocol SerialPortClient: AnyObject, Sendable {
    /// Offers input from the host; returns how many bytes the port took (0 when it is full).
    func receiveFromHost(_ bytes: ArraySlice<UInt8>) -> Int
    /// The host side can take output again after refusing some.
    func hostReadyForOutput()
}
