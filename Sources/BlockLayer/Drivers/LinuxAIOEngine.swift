import CLibAIO
import EmuCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Linux native AIO (libaio) for ``FileDriver``: reads and writes are submitted with `io_submit`
/// from the requesting task, and their completions arrive through an eventfd that an
/// ``EmuCore/EventLoop`` watches (an ``EmuCore/IOThread``'s loop, typically), which resumes the
/// waiting tasks. No thread blocks on the I/O.
///
/// Guarantees: at most `depth` requests are in the kernel at once; more wait in submission order
/// and go in as completions free room. A request the kernel refuses or fails completes with its
/// `errno`. The engine must outlive its requests; ``shutDown()`` (or deinit) waits for none and
/// must only be called when nothing is in flight.
///
/// With a file opened `O_DIRECT`, buffers, offsets and lengths must be aligned (``FileDriver``
/// pads unaligned requests); on a buffered file the kernel may run the submission synchronously,
/// which is correct but not asynchronous (Linux AIO is only truly asynchronous with `O_DIRECT`).
public final class LinuxAIOEngine: Sendable {
    /// The most requests in the kernel at once.
    public let depth: Int
    /// `io_context_t` as an integer (an opaque kernel handle, never dereferenced here).
    private let context: UInt
    private let notifier: EventNotifier
    private let handler: FDHandler

    private struct Waiting {
        /// The request's `iocb` address (owned by the submitting task until it resumes).
        let iocb: UInt
        let continuation: CheckedContinuation<Int, Never>
    }
    private struct State {
        var inKernel: [UInt: CheckedContinuation<Int, Never>] = [:]
        var queued: [Waiting] = []
    }
    private let state = Mutex(State())

    /// Creates a context for `depth` requests whose completions are handled on `loop`.
    /// Throws ``BlockError/io(errno:operation:)`` if `io_setup` or the eventfd fails (e.g. the
    /// system-wide `aio-max-nr` is exhausted).
    public init(loop: EventLoop, depth: Int = 128) throws(BlockError) {
        var raw: io_context_t? = nil
        let status = io_setup(Int32(clamping: depth), &raw)
        guard status == 0, let raw else { throw .io(errno: -status, operation: "io_setup") }
        let notifier: EventNotifier
        do { notifier = try EventNotifier() } catch {
            io_destroy(raw)
            throw .io(errno: error.errno, operation: "eventfd")
        }
        self.depth = depth
        self.context = UInt(bitPattern: Int(bitPattern: UnsafeMutableRawPointer(raw)))
        self.notifier = notifier
        let box = WeakEngine()
        handler = loop.addHandler(notifier: notifier) { box.engine?.reap() }
        box.engine = self
    }

    /// Holds the engine weakly for the loop's handler (the handler must not keep it alive).
    private final class WeakEngine: Sendable {
        private let reference = Mutex<LinuxAIOEngineReference>(LinuxAIOEngineReference())
        var engine: LinuxAIOEngine? {
            get { reference.withLock { $0.engine } }
            set { reference.withLock { $0.engine = newValue } }
        }
    }

    private var contextHandle: io_context_t? { io_context_t(bitPattern: context) }

    deinit {
        handler.remove()
        if let contextHandle { io_destroy(contextHandle) }
    }

    /// Reads `count` bytes at `offset` of `fd` into `buffer`; returns the bytes read (fewer at
    /// the end of the file) or `-errno`.
    func read(fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int, offset: UInt64) async -> Int {
        await submit { io_prep_pread($0, fd, buffer, count, Int64(bitPattern: offset)) }
    }

    /// Writes `count` bytes from `buffer` at `offset` of `fd`; returns the bytes written or `-errno`.
    func write(fd: Int32, from buffer: UnsafeMutableRawPointer, count: Int, offset: UInt64) async -> Int {
        await submit { io_prep_pwrite($0, fd, buffer, count, Int64(bitPattern: offset)) }
    }

    private func submit(_ prepare: (UnsafeMutablePointer<iocb>) -> Void) async -> Int {
        let request = UnsafeMutablePointer<iocb>.allocate(capacity: 1)
        defer { request.deallocate() }
        prepare(request)
        io_set_eventfd(request, notifier.fd)
        let address = UInt(bitPattern: request)
        return await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
            let goesIn = state.withLock { s -> Bool in
                guard s.inKernel.count < depth, s.queued.isEmpty else {
                    s.queued.append(Waiting(iocb: address, continuation: continuation))
                    return false
                }
                s.inKernel[address] = continuation
                return true
            }
            if goesIn { enter(address) }
        }
    }

    /// Hands one request to the kernel (its continuation is already registered); a refusal
    /// completes it with the error.
    private func enter(_ address: UInt) {
        var list = UnsafeMutablePointer<iocb>(bitPattern: address)
        let submitted = io_submit(contextHandle, 1, &list)
        if submitted == 1 { return }
        let error = submitted < 0 ? Int(submitted) : -Int(EIO)
        let continuation = state.withLock { $0.inKernel.removeValue(forKey: address) }
        continuation?.resume(returning: error)
        admitQueued()
    }

    /// On the loop: collects every finished request, resumes its task, and lets queued ones in.
    private func reap() {
        var events = [io_event](repeating: io_event(), count: 64)
        while true {
            var noWait = timespec(tv_sec: 0, tv_nsec: 0)
            let count = Int(io_getevents(contextHandle, 0, 64, &events, &noWait))
            guard count > 0 else { break }
            let results = events[0..<count].map { (UInt(bitPattern: $0.obj), Int(bitPattern: $0.res)) }
            let finished = state.withLock { s in
                results.compactMap { address, result -> (CheckedContinuation<Int, Never>, Int)? in
                    s.inKernel.removeValue(forKey: address).map { ($0, result) }
                }
            }
            for (continuation, result) in finished { continuation.resume(returning: result) }
            admitQueued()
            if count < 64 { break }
        }
    }

    private func admitQueued() {
        while true {
            let next = state.withLock { s -> UInt? in
                guard s.inKernel.count < depth, !s.queued.isEmpty else { return nil }
                let waiting = s.queued.removeFirst()
                s.inKernel[waiting.iocb] = waiting.continuation
                return waiting.iocb
            }
            guard let next else { return }
            enter(next)
        }
    }

    /// Requests in the kernel and waiting to go in.
    public var pending: (inKernel: Int, queued: Int) { state.withLock { ($0.inKernel.count, $0.queued.count) } }
}

/// The engine behind ``LinuxAIOEngine``'s loop handler, held weakly.
struct LinuxAIOEngineReference {
    weak var engine: LinuxAIOEngine?
}
