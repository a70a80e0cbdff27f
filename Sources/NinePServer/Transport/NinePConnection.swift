import EmuCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One client of a ``NinePSocketServer``: reads frames from its socket into a ``NinePSession``
/// on the server's event loop, and writes the session's replies back.
///
/// Replies are written by the thread that delivers them (the request's own thread, usually),
/// with a non-blocking `sendmsg`, so a request costs no wake-up of the loop. Only what the
/// socket does not take at once is left queued, and then the loop polls for writability and
/// writes the rest. One writer at a time (the `writing` flag): replies leave in exactly the
/// order the session hands them over, queued or not.
///
/// Back-pressure: the connection stops reading requests while more than ``maxQueuedBytes`` of
/// replies wait to be written (a client that sends but never reads), or while
/// ``maxRequestsInFlight`` requests are unanswered (each may hold an msize-sized Twrite body: 65,535
/// tags of 1 MiB would otherwise pin 64 GiB). Reading resumes as replies go out.
final class NinePConnection: Sendable {
    let fd: Int32
    let session: NinePSession
    private let loop: EventLoop
    /// The loop thread's side: only the loop's thread reads the socket.
    private let reader: Mutex<Reader>
    /// Replies not yet written, and who writes them.
    private let writer = Mutex<Writer>(Writer())
    private let handler = Mutex<FDHandler?>(nil)
    /// A refresh (``refresh()``) is queued on the loop and has not started yet.
    private let refreshScheduled = Atomic<Bool>(false)
    /// The loop stopped reading requests (too many unanswered or too much queued): whoever
    /// answers one or writes some out must ask the loop for a refresh.
    private let readPaused = Atomic<Bool>(false)
    private let onClose: @Sendable (NinePConnection) -> Void

    private struct Reader {
        var splitter: FrameSplitter
        /// Reused for every read.
        var readBuffer = [UInt8](repeating: 0, count: 65536)
    }

    struct Writer {
        /// Frames not yet fully written: `frames[head...]`, the first from `offset` on.
        var frames: [[UInt8]] = []
        var head = 0
        var offset = 0
        /// Bytes in `frames[head...]` not yet written.
        var queuedBytes = 0
        /// A thread is writing `frames`; others only append.
        var writing = false
        /// Shut down: nothing more is queued or written.
        var closing = false
        /// The socket is to be closed by whoever stops writing (or at once if nobody writes).
        var fdReleased = false

        mutating func append(_ frame: [UInt8]) {
            frames.append(frame)
            queuedBytes += frame.count
        }

        /// Drops `count` written bytes from the front.
        mutating func consume(_ count: Int) {
            var left = count
            queuedBytes -= count
            while left > 0 {
                let rest = frames[head].count - offset
                if left < rest {
                    offset += left
                    return
                }
                left -= rest
                frames[head] = []
                head += 1
                offset = 0
            }
            if head == frames.count {
                frames.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64 && head * 2 >= frames.count {
                frames.removeFirst(head)
                head = 0
            }
        }
    }

    /// Unanswered requests beyond this stop the reading of requests.
    static let maxRequestsInFlight = 256

    /// Frames written per `sendmsg` at most.
    static let maxFramesPerSend = 64

    /// Replies queued beyond this stop the reading of requests.
    var maxQueuedBytes: Int { Int(max(session.msize, NineP.minimumMsize)) * 8 }

    init(fd: Int32, backend: any FileSystemBackend, msizeCeiling: UInt32, loop: EventLoop,
         onClose: @escaping @Sendable (NinePConnection) -> Void)
    {
        self.fd = fd
        self.loop = loop
        self.onClose = onClose
        self.reader = Mutex(Reader(splitter: FrameSplitter(msize: max(msizeCeiling, NineP.minimumMsize))))
        let outbox = OutboxLink()
        self.session = NinePSession(backend: backend, msizeCeiling: msizeCeiling) { output in
            outbox.connection?.deliver(output)
        }
        outbox.connection = self
    }

    /// Starts reading; call once, on or off the loop's thread.
    func start() {
        let registration = loop.addHandler(fd: fd, events: .readable) { [weak self] events in
            self?.ready(events)
        }
        handler.withLock { $0 = registration }
    }

    private func ready(_ events: IOEvents) {
        if events.contains(.readable) || events.contains(.hangup) || events.contains(.error) {
            guard readRequests() else { return }
        }
        refresh()
    }

    /// Reads what the socket has and dispatches the complete frames. Returns false if the
    /// connection was shut down.
    private func readRequests() -> Bool {
        let (count, error) = reader.withLock { reader -> (Int, Int32) in
            let n = reader.readBuffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            let error = errno
            if n > 0 { reader.splitter.append(reader.readBuffer[0..<n]) }
            return (n, error)
        }
        if count == 0 || (count < 0 && error != EAGAIN && error != EINTR) {
            shutDown()
            return false
        }
        return dispatchBufferedFrames()
    }

    /// Hands buffered frames to the session one at a time while fewer than
    /// ``maxRequestsInFlight`` requests are unanswered; the rest wait in the splitter. Returns
    /// false if the connection was shut down (a frame size that cannot be trusted).
    private func dispatchBufferedFrames() -> Bool {
        while session.requestsInFlight < Self.maxRequestsInFlight {
            let next = reader.withLock { reader -> Result<[UInt8]?, NinePWireError> in
                do throws(NinePWireError) {
                    return .success(try reader.splitter.nextFrame())
                } catch {
                    return .failure(error)
                }
            }
            switch next {
            case .success(nil):
                return true
            case let .success(frame?):
                session.receive(frame)
                let negotiated = session.msize
                if negotiated != 0 { reader.withLock { $0.splitter.msize = negotiated } }
            case .failure:
                shutDown()
                return false
            }
        }
        return true
    }

    /// Called by the session (one thread at a time, in order, not under its lock): writes the
    /// reply at once if the socket takes it, else leaves it queued for the loop.
    private func deliver(_ output: NinePOutput) {
        switch output {
        case let .reply(_, frame):
            let mine = writer.withLock { writer -> Bool in
                guard !writer.closing else { return false }
                writer.append(frame)
                guard !writer.writing else { return false }
                writer.writing = true
                return true
            }
            if mine, !writeQueued() {
                scheduleRefresh() // the socket is full: the loop polls for writability
                return
            }
            if readPaused.load(ordering: .sequentiallyConsistent) { scheduleRefresh() }
        case .noReply:
            // Nothing to send, but a request fewer in flight may resume reading.
            if readPaused.load(ordering: .sequentiallyConsistent) { scheduleRefresh() }
        case .protocolViolation:
            loop.submit { [weak self] in self?.shutDown() }
        }
    }

    /// Writes queued frames until none is left or the socket would block. Call only as the
    /// writer (having set `writing`); clears it. Returns false if frames remain queued.
    private func writeQueued() -> Bool {
        while true {
            // The frames are copied by reference (no bytes copied); others may append meanwhile.
            let (batch, offset) = writer.withLock { writer -> ([[UInt8]], Int) in
                let end = min(writer.frames.count, writer.head + Self.maxFramesPerSend)
                return (Array(writer.frames[writer.head..<end]), writer.offset)
            }
            let sent = batch.isEmpty ? 0 : Self.send(batch, from: offset, on: fd)
            let total = batch.reduce(0) { $0 + $1.count } - offset
            let (done, closeFD) = writer.withLock { writer -> (Bool?, Bool) in
                if sent > 0 { writer.consume(sent) }
                let drained = writer.head == writer.frames.count
                guard !drained, sent == total, !writer.closing else {
                    writer.writing = false
                    return (drained, writer.fdReleased)
                }
                return (nil, false) // all of this batch went out and more is queued
            }
            if closeFD { close(fd) }
            if let done { return done }
        }
    }

    /// One non-blocking `sendmsg` of `frames` (the first from `offset`). Returns the bytes
    /// written, 0 if the socket would block or failed (a failure surfaces on the next read).
    private static func send(_ frames: [[UInt8]], from offset: Int, on fd: Int32) -> Int {
        // Arrays are contiguous and `frames` keeps them alive for the call; their base
        // addresses stay valid while `frames` is not mutated.
        func fill(_ index: Int, _ iov: UnsafeMutablePointer<iovec>) -> Int {
            guard index < frames.count else { return index }
            return frames[index].withUnsafeBytes { raw in
                let skip = index == 0 ? offset : 0
                iov[index] = iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress.map { $0 + skip }),
                                   iov_len: raw.count - skip)
                return fill(index + 1, iov)
            }
        }
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: frames.count) { buffer -> Int in
            guard let base = buffer.baseAddress else { return 0 }
            let count = fill(0, base)
            var message = msghdr()
            message.msg_iov = base
            message.msg_iovlen = count
            while true {
                let n = sendmsg(fd, &message, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                if n >= 0 { return n }
                if errno != EINTR { return 0 }
            }
        }
    }

    /// Makes the loop run ``refresh()`` once, however many ask before it runs.
    private func scheduleRefresh() {
        guard refreshScheduled.compareExchange(expected: false, desired: true,
                                               ordering: .acquiringAndReleasing).exchanged else { return }
        loop.submit { [weak self] in
            guard let self else { return }
            self.refreshScheduled.store(false, ordering: .releasing)
            self.refresh()
        }
    }

    /// On the loop: dispatches frames held back by the in-flight cap, writes what is queued
    /// (if nobody else is writing), and sets what to poll for: readable unless too much is
    /// queued or too many requests are unanswered, writable while output waits.
    private func refresh() {
        while true {
            guard dispatchBufferedFrames() else { return }
            let mine = writer.withLock { writer -> Bool in
                guard !writer.closing, !writer.writing, writer.head < writer.frames.count else { return false }
                writer.writing = true
                return true
            }
            if mine { _ = writeQueued() }
            let busy = session.requestsInFlight >= Self.maxRequestsInFlight
            let (queued, waiting, closing) = writer.withLock { writer in
                (writer.queuedBytes, writer.queuedBytes > 0 && !writer.writing, writer.closing)
            }
            guard !closing, let registration = handler.withLock({ $0 }) else { return }
            let paused = busy || queued >= maxQueuedBytes
            var events: IOEvents = paused ? [] : .readable
            if waiting { events.insert(.writable) }
            if registration.events != events { registration.setEvents(events) }
            readPaused.store(paused, ordering: .sequentiallyConsistent)
            guard paused else { return }
            // A reply that went out between the checks above and the store saw no pause and
            // asked for no refresh: look again. (The store comes before these loads, and a
            // deliverer's counter change before its load of `readPaused`, so one of the two
            // sides sees the other.)
            let stillPaused = session.requestsInFlight >= Self.maxRequestsInFlight
                || writer.withLock({ $0.queuedBytes }) >= maxQueuedBytes
            if stillPaused { return }
        }
    }

    /// Stops watching the socket, ends the session (cancelling its requests), then closes the
    /// socket (once no thread is writing to it). Idempotent.
    func shutDown() {
        let first = writer.withLock { writer in
            defer { writer.closing = true }
            return !writer.closing
        }
        guard first else { return }
        handler.withLock { $0 }?.remove()
        let fd = self.fd, session = self.session
        Task {
            await session.close()
            let closeNow = self.writer.withLock { writer in
                writer.fdReleased = true
                return !writer.writing
            }
            if closeNow { close(fd) }
            self.onClose(self)
        }
    }
}

/// Breaks the cycle session → output closure → connection: the closure reaches the
/// connection weakly.
private final class OutboxLink: Sendable {
    // Written once in NinePConnection.init before the session can produce any output.
    nonisolated(unsafe) weak var connection: NinePConnection?
}
