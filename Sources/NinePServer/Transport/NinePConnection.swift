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
/// Memory: every buffer the connection holds is accounted to the server's
/// ``NinePMemoryBudget``: its input buffers (the read buffer, the splitter, a frame waiting to be
/// dispatched) from the start, and each request, from its dispatch, with the frame and the
/// largest reply it can get; once the reply is encoded the charge becomes the reply's size, and
/// the bytes are returned as they are written to the socket. The connection's floor in the
/// budget covers its input buffers and one request of the largest size, so it always makes
/// progress. A request whose charge does not fit (beyond the connection's cap of a few msize, a
/// client that sends but never reads; or beyond the server's budget) waits in the connection, and
/// reading stops until memory comes back; nothing is dropped.
///
/// Back-pressure also stops reading while more than ``maxQueuedBytes`` of replies wait to be
/// written, or while ``maxRequestsInFlight`` requests are unanswered. Reading resumes as replies
/// go out.
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
    private let budget: NinePMemoryBudget
    private let accounting: Mutex<Accounting>

    private struct Reader {
        var splitter: FrameSplitter
        /// Reused for every read.
        var readBuffer = [UInt8](repeating: 0, count: NinePConnection.readSize)
        /// A frame taken from the splitter whose charge did not fit yet.
        var held: [UInt8]?
    }

    /// The connection's side of the budget.
    private struct Accounting {
        /// The budget account (nil until the floor was granted, and after close).
        var account: Int?
        /// Charged to the account for its input buffers.
        var inputCharge: Int
        /// Charges of dispatched requests not yet answered, by tag, oldest first (a tag in use
        /// may be refused while the first request with it still runs).
        var charges: [UInt16: [Int]] = [:]
        var closed = false
    }

    /// Bytes read from the socket at once.
    static let readSize = 65536

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

    /// The msize frames are limited to now: the agreed one, or the ceiling before Tversion.
    private var frameLimit: Int { Int(max(session.msize == 0 ? session.msizeCeiling : session.msize, NineP.minimumMsize)) }

    /// What the input buffers can hold for frames of up to `msize` bytes: the read buffer, the
    /// splitter (a partial frame and one read) and a held frame.
    static func inputCharge(msize: Int) -> Int { readSize + (msize + readSize) + msize }

    /// The most one request can be charged: a frame of msize (a Twrite) with a small reply,
    /// or a small frame with a reply of msize (a Tread).
    static func requestCharge(msize: Int) -> Int { msize + smallReplyAllowance }

    /// The reply allowance of a request that is not a Tread or Treaddir (Rlerror, Rwalk,
    /// Rgetattr, Rreadlink, … are a few hundred bytes; Rgetlock echoes its request's string).
    static let smallReplyAllowance = 8192

    /// The connection's floor in the budget: its input buffers and one request.
    static func floor(msize: Int) -> Int { inputCharge(msize: msize) + requestCharge(msize: msize) }

    /// What a connection may hold at most: its input buffers and a few msize of requests and
    /// replies.
    private var cap: Int { Self.inputCharge(msize: frameLimit) + 4 * frameLimit }

    /// The charge of a request frame: its bytes and the largest reply it can get (the count of
    /// a Tread or Treaddir plus the reply header, within msize; otherwise a small allowance).
    static func charge(of frame: [UInt8], msize: Int) -> Int {
        guard frame.count >= 23, frame[4] == NinePMessageType.tread.rawValue || frame[4] == NinePMessageType.treaddir.rawValue else {
            return frame.count + smallReplyAllowance
        }
        let count = Int(frame[19]) | Int(frame[20]) << 8 | Int(frame[21]) << 16 | Int(frame[22]) << 24
        return frame.count + min(count + NineP.headerSize + 4, msize)
    }

    init(fd: Int32, backend: any FileSystemBackend, msizeCeiling: UInt32, budget: NinePMemoryBudget, loop: EventLoop,
         onClose: @escaping @Sendable (NinePConnection) -> Void)
    {
        self.fd = fd
        self.loop = loop
        self.onClose = onClose
        self.budget = budget
        let ceiling = Int(max(msizeCeiling, NineP.minimumMsize))
        self.accounting = Mutex(Accounting(inputCharge: Self.inputCharge(msize: ceiling)))
        self.reader = Mutex(Reader(splitter: FrameSplitter(msize: max(msizeCeiling, NineP.minimumMsize))))
        let outbox = OutboxLink()
        self.session = NinePSession(backend: backend, msizeCeiling: msizeCeiling) { output in
            outbox.connection?.deliver(output)
        }
        outbox.connection = self
    }

    /// Starts reading (once the budget grants the connection its floor); call once, on or off
    /// the loop's thread.
    func start() {
        let registration = loop.addHandler(fd: fd, events: []) { [weak self] events in
            self?.ready(events)
        }
        handler.withLock { $0 = registration }
        scheduleRefresh()
    }

    /// Opens the budget account if it is not open yet; false while the budget cannot grant the
    /// floor (the connection is woken when memory comes back).
    private func openAccount() -> Bool {
        accounting.withLock { accounting -> Bool in
            if accounting.account != nil { return true }
            guard !accounting.closed else { return false }
            let ceiling = Int(max(session.msizeCeiling, NineP.minimumMsize))
            accounting.account = budget.open(floor: Self.floor(msize: ceiling), initial: accounting.inputCharge) { [weak self] in
                self?.scheduleRefresh()
            }
            return accounting.account != nil
        }
    }

    /// After a Tversion: the input charge and the floor follow the agreed msize.
    private func followMsize() {
        let limit = frameLimit
        accounting.withLock { accounting in
            guard let account = accounting.account else { return }
            let input = Self.inputCharge(msize: limit)
            if input < accounting.inputCharge {
                budget.release(account, accounting.inputCharge - input)
                accounting.inputCharge = input
            }
            budget.setFloor(account, Self.floor(msize: limit))
        }
    }

    private func ready(_ events: IOEvents) {
        if events.contains(.hangup) || events.contains(.error) {
            // The peer is gone (reset, or both directions shut): nothing more can be answered.
            shutDown()
            return
        }
        if events.contains(.readable) {
            guard readRequests() else { return }
        }
        refresh()
    }

    /// Reads what the socket has and dispatches the complete frames. Returns false if the
    /// connection was shut down.
    private func readRequests() -> Bool {
        let (count, error) = reader.withLock { reader -> (Int, Int32) in
            // A frame waits for memory: read nothing more until it is dispatched (the
            // splitter holds at most one partial frame and one read).
            guard reader.held == nil else { return (-1, EAGAIN) }
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
    /// ``maxRequestsInFlight`` requests are unanswered and each frame's charge fits the budget;
    /// the rest wait (in the splitter, or as the held frame). Returns false if the connection
    /// was shut down (a frame size that cannot be trusted).
    private func dispatchBufferedFrames() -> Bool {
        while session.requestsInFlight < Self.maxRequestsInFlight {
            let next = reader.withLock { reader -> Result<[UInt8]?, NinePWireError> in
                if let held = reader.held {
                    reader.held = nil
                    return .success(held)
                }
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
                guard admit(frame) else {
                    reader.withLock { $0.held = frame }
                    return true
                }
                let before = session.msize
                session.receive(frame)
                let negotiated = session.msize
                if negotiated != 0 { reader.withLock { $0.splitter.msize = negotiated } }
                if negotiated != before { followMsize() }
            case .failure:
                shutDown()
                return false
            }
        }
        return true
    }

    /// Charges `frame` to the budget and records the charge under its tag; false when it
    /// does not fit now (the connection is refreshed once memory comes back).
    private func admit(_ frame: [UInt8]) -> Bool {
        let charge = Self.charge(of: frame, msize: frameLimit)
        let tag = frame.count >= 7 ? UInt16(frame[5]) | UInt16(frame[6]) << 8 : NineP.noTag
        let limit = cap
        return accounting.withLock { accounting -> Bool in
            guard let account = accounting.account else { return false }
            let result = budget.charge(account, charge, cap: limit) { [weak self] in self?.scheduleRefresh() }
            guard result == .charged else { return false }
            accounting.charges[tag, default: []].append(charge)
            return true
        }
    }

    /// The request `tag` is answered by `replyBytes` (0: no reply): its charge becomes that.
    private func settle(tag: UInt16, replyBytes: Int) {
        accounting.withLock { accounting in
            guard var charges = accounting.charges[tag], !charges.isEmpty else { return }
            let charge = charges.removeFirst()
            accounting.charges[tag] = charges.isEmpty ? nil : charges
            guard let account = accounting.account else { return }
            if charge > replyBytes {
                budget.release(account, charge - replyBytes)
            } else if replyBytes > charge {
                // Never expected (the charge bounds the reply); accounted all the same.
                _ = budget.charge(account, replyBytes - charge, cap: .max) {}
            }
        }
    }

    /// `count` bytes of replies went out.
    private func returnWritten(_ count: Int) {
        guard count > 0, let account = accounting.withLock({ $0.account }) else { return }
        budget.release(account, count)
    }

    /// Called by the session (one thread at a time, in order, not under its lock): writes the
    /// reply at once if the socket takes it, else leaves it queued for the loop.
    private func deliver(_ output: NinePOutput) {
        switch output {
        case let .reply(tag, frame):
            settle(tag: tag, replyBytes: frame.count)
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
        case let .noReply(tag):
            settle(tag: tag, replyBytes: 0)
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
            returnWritten(sent)
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
        guard openAccount() else { return } // woken when the budget can grant the floor
        while true {
            guard dispatchBufferedFrames() else { return }
            let mine = writer.withLock { writer -> Bool in
                guard !writer.closing, !writer.writing, writer.head < writer.frames.count else { return false }
                writer.writing = true
                return true
            }
            if mine { _ = writeQueued() }
            let busy = session.requestsInFlight >= Self.maxRequestsInFlight || reader.withLock({ $0.held != nil })
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
            // A held frame needs no second look: its waker is registered with the budget
            // under the same lock that refused it.
            let stillPaused = session.requestsInFlight >= Self.maxRequestsInFlight
                || writer.withLock({ $0.queuedBytes }) >= maxQueuedBytes
                || reader.withLock({ $0.held != nil })
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
                if !writer.writing {
                    writer.frames = [] // never to be written
                    writer.head = 0
                    writer.offset = 0
                    writer.queuedBytes = 0
                }
                return !writer.writing
            }
            if closeNow { close(fd) }
            self.reader.withLock { reader in
                reader.held = nil
                reader.splitter = FrameSplitter(msize: reader.splitter.msize)
                reader.readBuffer = []
            }
            let account = self.accounting.withLock { accounting -> Int? in
                accounting.closed = true
                accounting.charges = [:]
                defer { accounting.account = nil }
                return accounting.account
            }
            if let account { self.budget.close(account) }
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
