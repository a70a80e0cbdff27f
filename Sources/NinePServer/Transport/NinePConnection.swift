import EmuCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One client of a ``NinePSocketServer``: reads frames from its socket into a ``NinePSession``
/// and writes the session's replies back, on the server's event loop.
///
/// Back-pressure: while more than ``maxQueuedBytes`` of replies wait to be written (a client
/// that sends but never reads), the connection stops reading requests.
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
        var outbox: [UInt8] = []
        var closing = false
    }

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
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) {
            shutDown()
            return
        }
        guard n > 0 else { return }
        var frames: [[UInt8]] = []
        let failure = state.withLock { state -> NinePWireError? in
            state.splitter.append(buffer[0..<n])
            do throws(NinePWireError) {
                while let frame = try state.splitter.nextFrame() { frames.append(frame) }
                return nil
            } catch {
                return error
            }
        }
        for frame in frames {
            session.receive(frame)
            let negotiated = session.msize
            if negotiated != 0 { state.withLock { $0.splitter.msize = negotiated } }
        }
        if failure != nil { shutDown() } // a frame size that cannot be trusted
    }

    /// Called by the session (under its lock, on any thread): queue and let the loop write.
    private func deliver(_ output: NinePOutput) {
        switch output {
        case let .reply(_, frame):
            state.withLock { $0.outbox.append(contentsOf: frame) }
            if flushScheduled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
                loop.submit { [weak self] in
                    guard let self else { return }
                    self.flushScheduled.store(false, ordering: .releasing)
                    self.flush()
                }
            }
        case .noReply:
            break // a stream transport sends nothing for a cancelled request
        case .protocolViolation:
            loop.submit { [weak self] in self?.shutDown() }
        }
    }

    /// Writes what it can without blocking; polls for writability while output remains, and
    /// stops reading while too much is queued.
    private func flush() {
        let (remaining, closing) = state.withLock { state -> (Int, Bool) in
            while !state.outbox.isEmpty {
                let n = state.outbox.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n > 0 {
                    state.outbox.removeFirst(n)
                } else {
                    break // EAGAIN: wait for writability; errors surface as a hang-up on read
                }
            }
            return (state.outbox.count, state.closing)
        }
        guard !closing, let registration = handler.withLock({ $0 }) else { return }
        var events: IOEvents = remaining < maxQueuedBytes ? .readable : []
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
