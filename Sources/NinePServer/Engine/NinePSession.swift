import Synchronization

/// One 9P2000.L connection's state machine, independent of the transport: it takes complete
/// request frames and hands back, in order, what must go out (``NinePOutput``).
///
/// Requests run concurrently, each in its own task, started on the thread that passed the frame
/// and continued after a suspension on the back end's ``FileSystemBackend/preferredTaskExecutor``
/// (if it names one); a slow back-end call never holds up another request.
///
/// Tflush follows seeds 000 and 003:
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
    /// `state.msize` and `state.requests.count`, readable without the lock (a transport asks
    /// for them per frame). Stored under the lock whenever those change.
    private let agreedMsize = Atomic<UInt32>(0)
    private let unanswered = Atomic<Int>(0)
    /// Outputs decided (in order, under `state`'s lock) but not yet handed to `output`.
    /// Lock order: `state`, then `pending`; never the other way round.
    private let pending = Mutex<PendingOutput>(PendingOutput())

    private struct PendingOutput {
        var queue: [NinePOutput] = []
        /// A thread is handing the queue to `output`; others only append.
        var draining = false
    }

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
        /// Set just after the request is recorded (nil for a Tflush).
        var task: Task<Void, Never>?
        let isFlush: Bool
        /// A Tflush asked to cancel it before its task was recorded.
        var cancelRequested = false
        /// Tflush tags to answer once this request is finished, in the order they came.
        var waiters: [UInt16] = []
    }

    /// Creates a session. `output` is called with every frame or event to send, in order, by
    /// one thread at a time and never with the session's lock held; it should not block for
    /// long (other replies wait behind it). It may read ``msize`` and ``requestsInFlight``.
    public init(backend: any FileSystemBackend, msizeCeiling: UInt32 = 1 << 20,
                output: @escaping @Sendable (NinePOutput) -> Void)
    {
        self.backend = backend
        self.msizeCeiling = max(msizeCeiling, NineP.minimumMsize)
        self.output = output
    }

    /// The msize negotiated by Tversion, or 0 before it. Lock-free.
    public var msize: UInt32 { agreedMsize.load(ordering: .acquiring) }

    /// Requests (including pending Tflush) not yet answered. Lock-free; it drops before the
    /// request's reply (or no-reply) is handed to `output`.
    public var requestsInFlight: Int { unanswered.load(ordering: .sequentiallyConsistent) }

    /// What the session holds right now.
    public var statistics: NinePSessionStatistics {
        let (requests, fids) = state.withLock { ($0.requests.count, $0.fids.count) }
        return NinePSessionStatistics(requestsInFlight: requests, fids: fids,
                                      tasks: liveTasks.load(ordering: .acquiring))
    }

    /// Publishes the counters read without the lock; call at the end of every locked section
    /// that changes the request table or the msize.
    private func publishCounters(_ state: borrowing State) {
        agreedMsize.store(state.msize, ordering: .releasing)
        unanswered.store(state.requests.count, ordering: .sequentiallyConsistent)
    }

    // MARK: Input

    /// Takes one complete request frame (a transport splits its byte stream with
    /// ``FrameSplitter``). Never blocks on the back end.
    public func receive(_ frame: [UInt8]) {
        defer { drainOutput() }
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
            let abandoned = abandonAll(closing: true) { _ in
                self.enqueue(.protocolViolation(error.description))
            }
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
            if !victim.isFlush { // a flush is never cancelled, only awaited
                victim.cancelRequested = true
                victim.task?.cancel()
            }
            state.requests[oldTag] = victim
            state.requests[tag] = Request(serial: state.nextSerial, task: nil, isFlush: true)
            state.nextSerial += 1
            publishCounters(state)
        }
    }

    // MARK: Requests

    /// Records the request, then starts its task outside the lock (the task runs at once, and
    /// takes the lock), then gives the record its task.
    private func start(tag: UInt16, message: TMessage) {
        let admitted = state.withLock { state -> (serial: UInt64, msize: UInt32)? in
            guard !state.closed else { return nil }
            guard state.msize != 0 else {
                emitError(tag: tag, errno: UInt32(NinePError.invalid.errno)) // no Tversion yet
                return nil
            }
            guard state.requests[tag] == nil else {
                emitError(tag: tag, errno: UInt32(NinePError.invalid.errno)) // tag already in use
                return nil
            }
            let serial = state.nextSerial
            state.nextSerial += 1
            state.requests[tag] = Request(serial: serial, task: nil, isFlush: false)
            publishCounters(state)
            liveTasks.add(1, ordering: .acquiringAndReleasing) // under the lock: `close` sees it
            return (serial, state.msize)
        }
        guard let (serial, msize) = admitted else { return }
        // Runs here until its first suspension (a back-end call moving to the back end's
        // threads), so a request the back end answers at once costs no thread hand-off.
        let task = Task.immediate(executorPreference: backend.preferredTaskExecutor) {
            let outcome = await self.perform(message, tag: tag, msize: msize)
            // Encoded here, off the lock: a 1 MiB Rread is not copied while others wait.
            let leftover = self.finish(tag: tag, serial: serial, prepared: Self.prepare(tag: tag, outcome, msize: msize))
            self.drainOutput()
            if let leftover { await self.finishFid(leftover) }
            self.liveTasks.subtract(1, ordering: .acquiringAndReleasing)
        }
        let cancel = state.withLock { state -> Bool in
            // Already finished (nothing to record), or abandoned by a Tversion or close, or
            // flushed, while unrecorded: cancelling a finished task does nothing.
            guard var request = state.requests[tag], request.serial == serial else { return true }
            request.task = task
            state.requests[tag] = request
            return request.cancelRequested
        }
        if cancel { task.cancel() }
    }

    /// A request's outcome with its reply already encoded.
    private enum Prepared {
        case reply(frame: [UInt8], FidChange)
        case cancelled
    }

    /// Encodes an outcome's reply; a reply that cannot be encoded within msize (a readlink
    /// target too long for it, say) becomes an Rlerror.
    private static func prepare(tag: UInt16, _ outcome: Outcome, msize: UInt32) -> Prepared {
        switch outcome {
        case let .reply(message, change):
            do {
                return .reply(frame: try NineP.encodeReply(tag: tag, message, maxSize: msize), change)
            } catch {
                return .reply(frame: errorFrame(tag: tag, errno: error.errno), change)
            }
        case let .encoded(frame):
            return .reply(frame: frame, .none)
        case .cancelled:
            return .cancelled
        }
    }

    /// Publishes a request's outcome: its fid change and reply (or no reply), then the Tflush
    /// requests that waited for it, in order. Returns a fid the caller must finish (a change
    /// that can no longer be applied, or a fid it replaced). The caller then drains the output.
    private func finish(tag: UInt16, serial: UInt64, prepared: Prepared) -> Fid? {
        state.withLock { state -> Fid? in
            guard let request = state.requests[tag], request.serial == serial else {
                // Abandoned by Tversion or close: nothing goes out, nothing is bound.
                if case let .reply(_, .bind(_, fid, _)) = prepared { return fid.retire() ? fid : nil }
                return nil
            }
            state.requests[tag] = nil
            var finished: Fid?
            switch prepared {
            case .reply(var frame, let change):
                if case let .bind(number, fid, replacing) = change {
                    if state.fids[number] === replacing {
                        state.fids[number] = fid
                        if let replacing, replacing.retire() { finished = replacing }
                    } else {
                        // Taken, clunked or rebound meanwhile: refuse, and discard the new fid.
                        frame = Self.errorFrame(tag: tag, errno: UInt32(NinePError.badFid.errno))
                        finished = fid.retire() ? fid : nil
                    }
                }
                enqueue(.reply(tag: tag, frame: frame))
            case .cancelled:
                enqueue(.noReply(tag: tag))
            }
            answerFlushes(waitingOn: request, in: &state)
            publishCounters(state)
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
            publishCounters(state)
            return (tasks, fids)
        }
        for task in tasks { await task.value }
        for fid in fids where fid.retire() { await finishFid(fid) }
        // A request still starting on another thread when the lock was taken (its task runs
        // inline before it is recorded) was cancelled but not awaited above: wait for it too.
        // No task starts after `closed` is set, so this ends when those tasks end.
        while liveTasks.load(ordering: .acquiring) > 0 {
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Drops every request (each gets ``NinePOutput/noReply(tag:)``) and every fid; runs
    /// `andThen` under the same lock. Returns the fids to retire.
    private func abandonAll(closing: Bool, andThen: ((inout State) -> Void)? = nil) -> [Fid] {
        state.withLock { state -> [Fid] in
            for (tag, request) in state.requests.sorted(by: { $0.value.serial < $1.value.serial }) {
                request.task?.cancel()
                enqueue(.noReply(tag: tag))
            }
            state.requests.removeAll()
            let fids = Array(state.fids.values)
            state.fids.removeAll()
            if closing { state.closed = true }
            andThen?(&state)
            publishCounters(state)
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

    /// Encodes and queues a small reply the session makes itself (Rversion, Rflush, Rlerror);
    /// a reply that cannot be encoded within msize becomes an Rlerror. Call with the lock held.
    private func emit(tag: UInt16, _ reply: RMessage, msize: UInt32) {
        let limit = msize == 0 ? msizeCeiling : msize
        do {
            enqueue(.reply(tag: tag, frame: try NineP.encodeReply(tag: tag, reply, maxSize: limit)))
        } catch {
            emitError(tag: tag, errno: error.errno)
        }
    }

    private func emitError(tag: UInt16, errno: UInt32) {
        enqueue(.reply(tag: tag, frame: Self.errorFrame(tag: tag, errno: errno)))
    }

    /// An Rlerror frame (11 bytes; always encodes).
    private static func errorFrame(tag: UInt16, errno: UInt32) -> [UInt8] {
        var w = WireWriter(type: .rlerror, tag: tag, capacity: NineP.headerSize + 4)
        w.writeUInt32(errno)
        return (try? (consume w).finishFrame()) ?? []
    }

    /// Queues an output in the order decided under the lock. Call with the lock held, then
    /// ``drainOutput()`` once the lock is released.
    private func enqueue(_ item: NinePOutput) {
        pending.withLock { $0.queue.append(item) }
    }

    /// Hands queued outputs to `output`, in order, unless another thread is already doing so
    /// (that thread then takes what was queued meanwhile before it stops).
    private func drainOutput() {
        var batch = pending.withLock { pending -> [NinePOutput] in
            guard !pending.draining, !pending.queue.isEmpty else { return [] }
            pending.draining = true
            defer { pending.queue = [] }
            return pending.queue
        }
        while !batch.isEmpty {
            for item in batch { output(item) }
            batch = pending.withLock { pending -> [NinePOutput] in
                if pending.queue.isEmpty { pending.draining = false }
                defer { pending.queue = [] }
                return pending.queue
            }
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
