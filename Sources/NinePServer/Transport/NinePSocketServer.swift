import EmuCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A 9P2000.L server on a TCP or Unix stream socket: many clients at once, each with its own
/// ``NinePSession`` over the same back end. Sockets are served by an ``IOThread``; file
/// operations run in the sessions' tasks, off that thread.
///
/// Memory: the request and reply buffers of all connections together stay within
/// ``memoryBudget`` (see ``NinePMemoryBudget``; clients that send without reading are held to a
/// few msize each and then wait, and each connection keeps a reserved share). When a
/// connection closes, its buffers are freed and the allocator is asked to give free memory back
/// to the system (`malloc_trim`), so the process's resident size falls back after a burst.
public final class NinePSocketServer: Sendable {
    /// The address given at start.
    public let address: NinePListenAddress
    /// The TCP port bound (useful with port 0); 0 for Unix sockets.
    public let boundPort: UInt16
    private let io: IOThread
    private let listener: ListeningSocketBox
    private let acceptHandler = Mutex<FDHandler?>(nil)
    private let connections = Mutex<[ObjectIdentifier: NinePConnection]>([:])
    private let stopped = Atomic<Bool>(false)
    /// The bound on all connections' request and reply buffers.
    public let memoryBudget: NinePMemoryBudget

    /// The default of `maxMemory`: 256 MiB.
    public static let defaultMaxMemory = 256 << 20

    /// Binds, listens and starts serving `backend`. The buffers of all connections together
    /// stay within `maxMemory` bytes; a value too small for even one connection's reserved
    /// share (its input buffers and one request of `msizeCeiling`) is raised to that share.
    /// - Throws: ``SystemCallError`` if the socket or the thread cannot be set up.
    public init(address: NinePListenAddress, backend: any FileSystemBackend,
                msizeCeiling: UInt32 = 1 << 20, maxMemory: Int = NinePSocketServer.defaultMaxMemory) throws(SystemCallError)
    {
        let ceiling = Int(max(msizeCeiling, NineP.minimumMsize))
        let budget = NinePMemoryBudget(limit: max(maxMemory, NinePConnection.floor(msize: ceiling)))
        self.memoryBudget = budget
        let socket = try ListeningSocket(address)
        self.address = address
        self.boundPort = socket.port
        self.io = try IOThread(name: "9p-server")
        let box = ListeningSocketBox(socket)
        self.listener = box
        let loop = io.loop
        let registration = loop.addHandler(fd: box.fd, events: .readable) { [weak self] _ in
            guard let self else { return }
            while let client = box.accept() {
                let connection = NinePConnection(fd: client, backend: backend, msizeCeiling: msizeCeiling,
                                                 budget: budget, loop: loop) { [weak self] closed in
                    _ = self?.connections.withLock { $0.removeValue(forKey: ObjectIdentifier(closed)) }
                    // Freed reply buffers of up to msize sit in glibc's heaps otherwise.
                    HeapTrim.releaseFreeMemory()
                }
                self.connections.withLock { $0[ObjectIdentifier(connection)] = connection }
                connection.start()
            }
        }
        acceptHandler.withLock { $0 = registration }
    }

    /// Clients connected now.
    public var connectionCount: Int { connections.withLock { $0.count } }

    /// Stops accepting, disconnects every client (their requests are cancelled and their fids
    /// released), waits for that, and stops the server's thread. Idempotent.
    public func stop() async {
        guard stopped.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return
        }
        acceptHandler.withLock { $0 }?.remove()
        let open = connections.withLock { Array($0.values) }
        for connection in open { connection.shutDown() }
        for _ in 0..<5000 where connectionCount > 0 {
            try? await Task.sleep(for: .milliseconds(1))
        }
        listener.close()
        io.stop()
    }
}

/// A class wrapper so the listening socket can be shared with the accept handler.
final class ListeningSocketBox: Sendable {
    private let socket: Mutex<ListeningSocket?>
    let fd: Int32
    init(_ socket: consuming ListeningSocket) {
        self.fd = socket.fd
        self.socket = Mutex(consume socket)
    }
    func accept() -> Int32? { socket.withLock { $0?.accept() } }
    /// Closes the socket (and removes a Unix socket's file). Idempotent.
    func close() { socket.withLock { $0 = nil } }
}
