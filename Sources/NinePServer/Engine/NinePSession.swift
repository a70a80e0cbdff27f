import Synchronization

/// One 9P2000.L connection's state machine, independent of the transport: it takes complete
/// request frames and hands back, in order, what must go out (``NinePOutput``).
///
/// Requests run concurrently, each in its own task; a slow back-end call never holds up
/// another request. Tflush follows seeds 000 and 003:
/// - a Tflush naming an unknown or finished tag, or its own tag, is answered at once;
/// - otherwise the request it names is cancelled cooperatively. If the request then finishes
///   by cancellation it gets **no reply** (``NinePOutput/noReply(tag:)``); if it completed
///   anyway, its reply goes out first. The Rflush follows;
/// - several Tflush naming one request are all answered after it, in the order received; a
///   Tflush naming a pending Tflush is answered after that one;
/// - a cancelled request binds no fid; one that was answered does.
/// Everything a request held (its tag, its task, fids it used) is released when it finishes;
/// ``statistics`` counts what is live, so tests can show nothing leaks.
public final class NinePSession: Sendable {
    /// The file system served.
    public let backend: any FileSystemBackend
    /// The largest msize this server accepts in Tversion.
    public let msizeCeiling: UInt32
    private let output: @Sendable (NinePOutput) -> Void
    let state = Mutex<State>(State())
    private let liveTasks = Atomic<Int>(0)

    struct State {
        /// The negotiated msize; 0 until a Tversion succeeded.
        var msize: UInt32 = 0
        var requests: [UInt16: Request] = [:]
        var fids: [UInt32: Fid] = [:]
        var nextSerial: UInt64 = 0
        var closed = false
    }

    struct Request {
        /// Tells this request from an earlier one that used the same tag.
        let serial: UInt64
        var task: Task<Void, Never>?
        let isFlush: Bool
        /// Tflush tags to answer once this request is finished, in the order they came.
        var waiters: [UInt16] = []
    }

    /// Creates a session. `output` is called with every frame or event to send, in order; it
    /// is called while the session's lock is held, so it must not block or call back into the
    /// session (queue the bytes and return).
    public init(backend: any FileSystemBackend, msizeCeiling: UInt32 = 1 << 20,
                output: @escaping @Sendable (NinePOutput) -> Void)
    {
        self.backend = backend
        self.msizeCeiling = max(msizeCeiling, NineP.minimumMsize)
        self.output = output
    }

    /// The msize negotiated by Tversion, or 0 before it.
    public var msize: UInt32 { state.withLock { $0.msize } }

    /// What the session holds right now.
    public var statistics: NinePSessionStatistics {
        let (requests, fids) = state.withLock { ($0.requests.count, $0.fids.count) }
        return NinePSessionStatistics(requestsInFlight: requests, fids: fids,
                                      tasks: liveTasks.load(ordering: .acquiring))
    }

    // MARK: Input

    /// Takes one complete request frame (a transport splits its byte stream with
    /// ``FrameSplitter``). Never blocks on the back end.
    public func receive(_ frame: [UInt8]) {
        let limit = state.withLock { state -> UInt32? in
            state.closed ? nil : (state.msize == 0 ? msizeCeiling : state.msize)
        }
        guard let limit else { return }
        let tag: UInt16, message: TMessage
        do {
            (tag, message) = try NineP.decodeRequest(frame, msize: limit)
        } catch {
            refuse(frame, limit: limit, error: error)
            return
        }
        switch message {
        case let .version(msize, version):
            negotiate(tag: tag, clientMsize: msize, version: version)
        case let .flush(oldTag):
            flush(tag: tag, oldTag: oldTag)
        default:
            start(tag: tag, message: message)
        }
    }

    /// A frame that does not decode: answered with Rlerror if its header can be trusted (its
    /// tag is known), otherwise the connection is given up.
    private func refuse(_ frame: [UInt8], limit: UInt32, error: NinePWireError) {
        if let header = try? FrameHeader(validating: frame, msize: limit) {
            state.withLock { _ in emitError(tag: header.tag, errno: error.errno) }
        } else {
            let abandoned = abandonAll(closing: true)
            output(.protocolViolation(error.description))
            retire(abandoned)
        }
    }

    // MARK: Tversion

    private func negotiate(tag: UInt16, clientMsize: UInt32, version: String) {
        let answer: RMessage
        var agreed: UInt32 = 0
        do {
            let (msize, reply) = try NineP.negotiateVersion(clientMsize: clientMsize,
                                                             clientVersion: version,
                                                             ceiling: msizeCeiling)
            answer = .version(msize: msize, version: reply)
            if reply == NineP.version9P2000L { agreed = msize }
        } catch {
            answer = .lerror(errno: error.errno)
        }
        // A Tversion starts a new session: outstanding requests are abandoned (no reply; their
        // buffers go back empty) and every fid is clunked.
        let abandoned = abandonAll(closing: false) { state in
            state.msize = agreed
            self.emit(tag: tag, answer, msize: max(agreed, NineP.minimumMsize))
        }
        retire(abandoned)
    }

    // MARK: Tflush

    private func flush(tag: UInt16, oldTag: UInt16) {
        state.withLock { state in
            guard !state.closed else { return }
            guard state.requests[tag] == nil else {
                emitError(tag: tag, errno: UInt32(NinePError.invalid.errno)) // tag already in use
                return
            }
            guard oldTag != tag, var victim = state.requests[oldTag] else {
                emit(tag: tag, .flush, msize: state.msize) // nothing to wait for
                return
            }
            victim.waiters.append(tag)
            if !victim.isFlush { victim.task?.cancel() } // a flush is never cancelled, only awaited
            state.requests[oldTag] = victim
            state.requests[tag] = Request(serial: state.nextSerial, task: nil, isFlush: true)
            state.nextSerial += 1
        }
    }

    // MARK: Requests

    private func start(tag: UInt16, message: TMessage) {
        state.withLock { state in
            guard !state.closed else { return }
            guard state.msize != 0 else {
                emitError(tag: tag, errno: UInt32(NinePError.invalid.errno)) // no Tversion yet
                return
            }
            guard state.requests[tag] == nil else {
                emitError(tag: tag, errno: UInt32(NinePError.invalid.errno)) // tag already in use
                return
            }
            let serial = state.nextSerial
            state.nextSerial += 1
            let msize = state.msize
            liveTasks.add(1, ordering: .acquiringAndReleasing)
            // The task cannot finish before it is recorded: `finish` takes this same lock.
            let task = Task {
                let outcome = await self.perform(message, msize: msize)
                let leftover = self.finish(tag: tag, serial: serial, outcome: outcome)
                if let leftover { await self.finishFid(leftover) }
                self.liveTasks.subtract(1, ordering: .acquiringAndReleasing)
            }
            state.requests[tag] = Request(serial: serial, task: task, isFlush: false)
        }
    }

    /// Publishes a request's outcome: its fid change and reply (or no reply), then the Tflush
    /// requests that waited for it, in order. Returns a fid the caller must finish (a change
    /// that can no longer be applied, or a fid it replaced).
    private func finish(tag: UInt16, serial: UInt64, outcome: Outcome) -> Fid? {
        state.withLock { state -> Fid? in
            guard let request = state.requests[tag], request.serial == serial else {
                // Abandoned by Tversion or close: nothing goes out, nothing is bound.
                if case let .reply(_, .bind(_, fid, _)) = outcome { return fid.retire() ? fid : nil }
                return nil
            }
            state.requests[tag] = nil
            var finished: Fid?
            switch outcome {
            case let .reply(message, change):
                var reply = message
                if case let .bind(number, fid, replacing) = change {
                    if state.fids[number] === replacing {
                        state.fids[number] = fid
                        if let replacing, replacing.retire() { finished = replacing }
                    } else {
                        // Taken, clunked or rebound meanwhile: refuse, and discard the new fid.
                        reply = .lerror(errno: UInt32(NinePError.badFid.errno))
                        finished = fid.retire() ? fid : nil
                    }
                }
                emit(tag: tag, reply, msize: state.msize)
            case .cancelled:
                output(.noReply(tag: tag))
            }
            answerFlushes(waitingOn: request, in: &state)
            return finished
        }
    }

    /// Answers the Tflush requests waiting on `request`, and those waiting on them, in order.
    /// Iterative: a hostile chain of flushes of flushes cannot exhaust the stack.
    private func answerFlushes(waitingOn request: Request, in state: inout State) {
        var queue = request.waiters[...]
        while let waiter = queue.popFirst() {
            guard let flush = state.requests.removeValue(forKey: waiter) else { continue }
            emit(tag: waiter, .flush, msize: state.msize)
            queue.append(contentsOf: flush.waiters)
        }
    }

    // MARK: Ending

    /// Ends the session: cancels every request (they get no reply), waits for their tasks to
    /// finish, and releases every fid (closing open files). Idempotent.
    public func close() async {
        let (tasks, fids) = state.withLock { state -> ([Task<Void, Never>], [Fid]) in
            state.closed = true
            let tasks = state.requests.values.compactMap(\.task)
            tasks.forEach { $0.cancel() }
            state.requests.removeAll()
            let fids = Array(state.fids.values)
            state.fids.removeAll()
            return (tasks, fids)
        }
        for task in tasks { await task.value }
        for fid in fids where fid.retire() { await finishFid(fid) }
    }

    /// Drops every request (each gets ``NinePOutput/noReply(tag:)``) and every fid; runs
    /// `andThen` under the same lock. Returns the fids to retire.
    private func abandonAll(closing: Bool, andThen: ((inout State) -> Void)? = nil) -> [Fid] {
        state.withLock { state -> [Fid] in
            for (tag, request) in state.requests.sorted(by: { $0.value.serial < $1.value.serial }) {
                request.task?.cancel()
                output(.noReply(tag: tag))
            }
            state.requests.removeAll()
            let fids = Array(state.fids.values)
            state.fids.removeAll()
            if closing { state.closed = true }
            andThen?(&state)
            return fids
        }
    }

    private func retire(_ fids: [Fid]) {
        let toFinish = fids.filter { $0.retire() }
        guard !toFinish.isEmpty else { return }
        liveTasks.add(1, ordering: .acquiringAndReleasing)
        Task {
            for fid in toFinish { await self.finishFid(fid) }
            self.liveTasks.subtract(1, ordering: .acquiringAndReleasing)
        }
    }

    /// Closes what a retired fid held open. Called once per fid, after its last use.
    func finishFid(_ fid: Fid) async {
        if let open = fid.open { await backend.close(open) }
    }

    // MARK: Output

    /// Encodes and sends a reply; a reply that cannot be encoded within msize (a readlink
    /// target too long for it, say) becomes an Rlerror. Call with the lock held.
    private func emit(tag: UInt16, _ reply: RMessage, msize: UInt32) {
        let limit = msize == 0 ? msizeCeiling : msize
        do {
            output(.reply(tag: tag, frame: try NineP.encodeReply(tag: tag, reply, maxSize: limit)))
        } catch {
            emitError(tag: tag, errno: error.errno)
        }
    }

    private func emitError(tag: UInt16, errno: UInt32) {
        // An Rlerror is 11 bytes and always encodes.
        if let frame = try? NineP.encodeReply(tag: tag, .lerror(errno: errno)) {
            output(.reply(tag: tag, frame: frame))
        }
    }
}

/// Counts of what a ``NinePSession`` holds, for monitoring and leak tests.
public struct NinePSessionStatistics: Sendable, Equatable {
    /// Requests (including pending Tflush) not yet answered.
    public var requestsInFlight: Int
    /// Fids in the fid table.
    public var fids: Int
    /// Tasks started by the session and not yet ended.
    public var tasks: Int
}
