import EmuCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A serial port's host side on a listening Unix socket: one client at a time is the console
/// (others wait in the listen backlog until it leaves).
///
/// With no client connected, the guest's output is dropped (counted in ``droppedBytes``), so a
/// guest writing to a console nobody watches never stalls nor grows host memory. With a client,
/// output is buffered up to ``outputLimit`` bytes and then back-pressures the port until the
/// client reads; input is read from the client only while the port has room.
public final class UnixSocketSerialHost: SerialHostSide {
    /// The most output held for a slow client: 64 KiB.
    public static let defaultOutputLimit = 64 << 10
    /// The socket's path.
    public let path: String
    private let loop: EventLoop
    private let listenFD: Int32
    private let outputLimit: Int
    private let state = Mutex<State>(State())
    private let dropped = Atomic<UInt64>(0)
    private let listener = Mutex<FDHandler?>(nil)

    private struct State {
        var clientFD: Int32 = -1
        var stream: SerialStream?
        weak var port: (any SerialPortClient)?
        var closed = false
    }

    /// Binds and listens on `path`. A socket file left at `path` by an earlier run is replaced;
    /// any other existing file is an error.
    /// - Throws: ``SystemCallError`` if the socket cannot be created, bound or listened on
    ///   (`ENAMETOOLONG` for a path too long for `sun_path`, `EEXIST` for a file that is not a
    ///   socket).
    public init(loop: EventLoop, path: String, outputLimit: Int = UnixSocketSerialHost.defaultOutputLimit) throws(SystemCallError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SystemCallError("bind(\(path))", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        var existing = stat()
        if lstat(path, &existing) == 0 {
            guard existing.st_mode & S_IFMT == S_IFSOCK else { throw SystemCallError("bind(\(path))", errno: EEXIST) }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError.current("socket") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 4) == 0 else {
            let error = SystemCallError.current("bind(\(path))")
            Glibc.close(fd)
            throw error
        }
        self.path = path
        self.loop = loop
        self.listenFD = fd
        self.outputLimit = outputLimit
        let handler = loop.addHandler(fd: fd, events: .readable) { [weak self] _ in self?.acceptClient() }
        listener.withLock { $0 = handler }
    }

    /// Whether a client is connected.
    public var hasClient: Bool { state.withLock { $0.stream != nil } }

    /// Output bytes dropped because no client was connected.
    public var droppedBytes: UInt64 { dropped.load(ordering: .relaxed) }

    public func connect(_ client: any SerialPortClient) {
        let stream = state.withLock { state in
            state.port = client
            return state.stream
        }
        stream?.connect(client)
    }

    public func send(_ bytes: ArraySlice<UInt8>) -> Int {
        guard let stream = state.withLock({ $0.stream }) else {
            dropped.add(UInt64(bytes.count), ordering: .relaxed)
            return bytes.count
        }
        return stream.send(bytes)
    }

    public func receiveSpaceAvailable() { state.withLock { $0.stream }?.resumeInput() }

    /// Disconnects the client, stops listening, closes the fds and removes the socket file.
    public func close() {
        let alreadyClosed = state.withLock { state in
            defer { state.closed = true }
            return state.closed
        }
        guard !alreadyClosed else { return }
        disconnect()
        listener.withLock { $0?.remove(); $0 = nil }
        Glibc.close(listenFD)
        unlink(path)
    }

    deinit { close() }

    private func acceptClient() {
        // accept4 is not in Swift's Glibc module: the flags are set right after. A process that
        // forks and execs between the two calls would leak this fd to its child.
        let fd = Glibc.accept(listenFD, nil, nil)
        guard fd >= 0 else { return }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let stream = SerialStream(loop: loop, input: fd, output: fd, isSocket: true, outputLimit: outputLimit,
                                  onHangup: { [weak self] in self?.disconnect() })
        let port = state.withLock { state -> (any SerialPortClient)? in
            guard !state.closed, state.stream == nil else { return nil }
            state.clientFD = fd
            state.stream = stream
            return state.port
        }
        guard state.withLock({ $0.clientFD == fd }) else {
            stream.stop()
            Glibc.close(fd)
            return
        }
        // One client at a time: others wait in the backlog until this one leaves.
        listener.withLock { $0?.setEvents([]) }
        if let port {
            stream.connect(port)
            port.hostReadyForOutput()
        }
    }

    private func disconnect() {
        let (stream, fd, closed) = state.withLock { state in
            defer { state.stream = nil; state.clientFD = -1 }
            return (state.stream, state.clientFD, state.closed)
        }
        stream?.stop()
        if fd >= 0 { Glibc.close(fd) }
        if !closed { listener.withLock { $0?.setEvents(.readable) } }
        // Output the client had not taken is gone; let the port send again (to nobody).
        state.withLock { $0.port }?.hostReadyForOutput()
    }
}
