import EmuCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One client of a ``NinePSocketServer``: reads frames from its socket into a ``NinePSession``
/// and writes the session's replies back, on the server's event loop.
///
/// Back-pressure: the connection stops reading requests while more than ``maxQueuedBytes`` of
/// replies wait to be written (a client that sends but never reads), or while
/// ``maxRequestsInFlight`` requests are unanswered (each may hold an msize-sized Twrite body: 65,535
/// tags of 1 MiB would otherwise pin 64 GiB). Reading resumes as replies go out.
final class NinePConnection: Sendable {
    let fd: Int32
    let session: NinePSession
    private let loop: EventLoop
    private let state: Mutex<State>
    private let handler = Mutex<FDHandler?>(nil)
    private let flushScheduled = Atomic<Bool>(false)
    private let onClose: @Sendable (NinePConnection) -> Void

    private struct State {
        var splitter: FrameSplitter
        /// Replies not yet written: `outbox[written...]`.
        var outbox: [UInt8] = []
        var written = 0
        var closing = false
        /// Reused for every read (reads happen only on the loop's thread).
        var readBuffer = [UInt8](repeating: 0, count: 65536)
    }

    /// Unanswered requests beyond this stop the reading of requests.
    static let maxRequestsInFlight = 256

    /// Replies queued beyond this stop the reading of requests.
    var maxQueuedBytes: Int { Int(max(session.msize, NineP.minimumMsize)) * 8 }

    init(fd: Int32, backend: any FileSystemBackend, msizeCeiling: UInt32, loop: EventLoop,
         onClose: @escaping @Sendable (NinePConnection) -> Void)
    {
        self.fd = fd
        self.loop = loop
        self.onClose = onClose
        self.state = Mutex(State(splitter: FrameSplitter(msize: max(msizeCeiling, NineP.minimumMsize))))
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
        if events.contains(.writable) { flush() }
        if events.contains(.readable) || events.contains(.hangup) || events.contains(.error) { readRequests() }
    }

    private func readRequests() {
        let (count, error) = state.withLock { state -> (Int, Int32) in
            let n = state.readBuffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            let error = errno
            if n > 0 { state.splitter.append(state.readBuffer[0..<n]) }
            return (n, error)
        }
        if count == 0 || (count < 0 && error != EAGAIN && error != EINTR) {
            shutDown()
            return
        }
        if count > 0, dispatchBufferedFrames() { flush() }
    }

    /// Hands buffered frames to the session one at a time while fewer than
    /// ``maxRequestsInFlight`` requests are unanswered; the rest wait in the splitter. Returns
    /// false if the connection was shut down (a frame size that cannot be trusted).
    private func dispatchBufferedFrames() -> Bool {
        while session.requestsInFlight < Self.maxRequestsInFlight {
            let next = state.withLock { state -> Result<[UInt8]?, NinePWireError> in
                do throws(NinePWireError) {
                    return .success(try state.splitter.nextFrame())
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
                if negotiated != 0 { state.withLock { $0.splitter.msize = negotiated } }
            case .failure:
                shutDown()
                return false
            }
        }
        return true
    }

    /// Called by the session (one thread at a time, not under its lock): queue and let the loop write.
    private func deliver(_ output: NinePOutput) {
        switch output {
        case let .reply(_, frame):
            state.withLock { $0.outbox.append(contentsOf: frame) }
            scheduleFlush()
        case .noReply:
            scheduleFlush() // nothing to send, but a request fewer in flight may resume reading
        case .protocolViolation:
            loop.submit { [weak self] in self?.shutDown() }
        }
    }

    /// Makes the loop flush once, however many replies arrive before it runs.
    private func scheduleFlush() {
        guard flushScheduled.compareExchange(expected: false, desired: true,
                                             ordering: .acquiringAndReleasing).exchanged else { return }
        loop.submit { [weak self] in
            guard let self else { return }
            self.flushScheduled.store(false, ordering: .releasing)
            if self.dispatchBufferedFrames() { self.flush() } // replies drained: resume held frames
        }
    }

    /// Writes what it can without blocking; polls for writability while output remains, and
    /// stops reading while too much is queued.
    private func flush() {
        let (remaining, closing) = state.withLock { state -> (Int, Bool) in
            while state.written < state.outbox.count {
                let n = state.outbox.withUnsafeBytes { raw in
                    send(fd, raw.baseAddress.map { $0 + state.written }, raw.count - state.written,
                         Int32(MSG_NOSIGNAL))
                }
                guard n > 0 else { break } // EAGAIN: wait for writability; errors surface on read
                state.written += n
            }
            if state.written == state.outbox.count {
                state.outbox.removeAll(keepingCapacity: state.outbox.capacity <= 1 << 20)
                state.written = 0
            }
            return (state.outbox.count - state.written, state.closing)
        }
        guard !closing, let registration = handler.withLock({ $0 }) else { return }
        let busy = session.requestsInFlight >= Self.maxRequestsInFlight
        var events: IOEvents = remaining < maxQueuedBytes && !busy ? .readable : []
        if remaining > 0 { events.insert(.writable) }
        if registration.events != events { registration.setEvents(events) }
    }

    /// Stops watching the socket, ends the session (cancelling its requests), then closes the
    /// socket. Idempotent.
    func shutDown() {
        let first = state.withLock { state in
            defer { state.closing = true }
            return !state.closing
        }
        guard first else { return }
        handler.withLock { $0 }?.remove()
        let fd = self.fd, session = self.session
        Task {
            await session.close()
            close(fd)
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
