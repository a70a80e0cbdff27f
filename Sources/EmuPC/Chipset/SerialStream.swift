import EmuCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The byte pump shared by the fd-based serial host sides: a bounded output buffer written to
/// an fd when it is writable, and input read from an fd only while the port has room for it.
///
/// Output: ``send(_:)`` takes at most ``outputLimit`` bytes in total, then refuses (the port
/// keeps the rest, which back-pressures the guest) until the buffer drains, when the client is
/// told. Input: at most ``readChunk`` bytes are read at a time; what the port does not take is
/// kept (never more than one chunk plus what the filter adds) and the fd is not read again
/// until the port has room. Never blocks: it writes only when the fd polls writable, at most
/// 4 KiB at a time (within `PIPE_BUF`, so a blocking pipe or terminal accepts it whole).
final class SerialStream: Sendable {
    static let readChunk = 64
    static let writeChunk = 4096
    let outputLimit: Int
    private let input: Int32?
    private let output: Int32?
    private let useSend: Bool
    private let state: Mutex<State>
    private let handlers = Mutex<(input: FDHandler?, output: FDHandler?)>((nil, nil))
    private let onHangup: @Sendable () -> Void
    private let onCommand: @Sendable (SerialEscapeCommand) -> Void

    struct State {
        var buffer: [UInt8] = []
        var head = 0
        var refused = false
        var pending: [UInt8] = []
        var inputEnded = false
        /// The output fd failed (its reader went away): output is dropped from then on.
        var outputClosed = false
        var stopped = false
        weak var client: (any SerialPortClient)?
        var filter: SerialEscapeFilter?

        var buffered: Int { buffer.count - head }
    }

    /// - Parameters:
    ///   - input: the fd input is read from, or nil.
    ///   - output: the fd output is written to, or nil.
    ///   - isSocket: write with `send(MSG_NOSIGNAL)`, so a closed peer is an error, not SIGPIPE.
    ///   - filter: an escape filter applied to input; commands go to `onCommand`.
    ///   - onHangup: called on the loop's thread at the end of input on a socket, or when the
    ///     output fd fails (after which output is dropped).
    init(loop: EventLoop, input: Int32?, output: Int32?, isSocket: Bool, outputLimit: Int,
         filter: SerialEscapeFilter? = nil,
         onCommand: @escaping @Sendable (SerialEscapeCommand) -> Void = { _ in },
         onHangup: @escaping @Sendable () -> Void = {}) {
        self.input = input
        self.output = output
        self.useSend = isSocket
        self.outputLimit = max(1, outputLimit)
        self.onHangup = onHangup
        self.onCommand = onCommand
        var initial = State()
        initial.filter = filter
        self.state = Mutex(initial)
        let inputHandler = input.map { fd in
            loop.addHandler(fd: fd, events: [], kind: .external) { [weak self] events in self?.readable(events) }
        }
        let outputHandler = output.map { fd in
            loop.addHandler(fd: fd, events: [], kind: .internal) { [weak self] events in self?.writable(events) }
        }
        handlers.withLock { $0 = (inputHandler, outputHandler) }
    }

    /// Connects the port and starts reading input.
    func connect(_ client: any SerialPortClient) {
        state.withLock { $0.client = client }
        resumeInput()
    }

    /// Buffers what fits; returns how many bytes were taken.
    func send(_ bytes: ArraySlice<UInt8>) -> Int {
        let taken = state.withLock { state -> Int in
            guard !state.stopped, !state.outputClosed, output != nil else { return bytes.count }
            let room = outputLimit - state.buffered
            let taken = min(room, bytes.count)
            if taken < bytes.count { state.refused = true }
            guard taken > 0 else { return 0 }
            if state.head > 0 && state.head >= state.buffer.count / 2 {
                state.buffer.removeFirst(state.head)
                state.head = 0
            }
            state.buffer.append(contentsOf: bytes.prefix(taken))
            return taken
        }
        if taken > 0 { handlers.withLock { $0.output?.setEvents(.writable) } }
        return taken
    }

    /// Bytes waiting to be written.
    var bufferedOutput: Int { state.withLock { $0.buffered } }

    /// The port has room: offer what is pending and read the fd again.
    func resumeInput() {
        offerPending()
    }

    /// Writes what is buffered to the output fd, blocking if need be (for a regular file at
    /// close). Stops at the first error.
    func flush() {
        guard let fd = output else { return }
        let rest = state.withLock { state in
            defer { state.buffer.removeAll(); state.head = 0 }
            return Array(state.buffer[state.head...])
        }
        var done = 0
        while done < rest.count {
            let written = rest[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            done += written
        }
    }

    /// Removes the fd handlers (the fds stay open: their owner closes them). Idempotent.
    func stop() {
        state.withLock { $0.stopped = true; $0.buffer = []; $0.head = 0; $0.pending = [] }
        let (inputHandler, outputHandler) = handlers.withLock { handlers in
            defer { handlers = (nil, nil) }
            return handlers
        }
        inputHandler?.remove()
        outputHandler?.remove()
    }

    deinit { stop() }

    /// Offers pending input to the client; polls the fd for more only when all was taken.
    private func offerPending() {
        let (client, pending) = state.withLock { ($0.client, $0.pending) }
        var allTaken = pending.isEmpty
        if let client, !pending.isEmpty {
            let taken = client.receiveFromHost(pending[...])
            allTaken = state.withLock { state in
                state.pending.removeFirst(min(taken, state.pending.count))
                return state.pending.isEmpty
            }
        }
        let poll = allTaken && client != nil && state.withLock { !$0.inputEnded && !$0.stopped }
        handlers.withLock { $0.input?.setEvents(poll ? .readable : []) }
    }

    private func readable(_ events: IOEvents) {
        guard let fd = input else { return }
        var chunk = [UInt8](repeating: 0, count: Self.readChunk)
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EAGAIN || errno == EINTR { return }
            endInput()
            return
        }
        if count == 0 {
            endInput()
            return
        }
        let (bytes, commands) = state.withLock { state -> ([UInt8], [SerialEscapeCommand]) in
            let raw = chunk.prefix(count)
            guard var filter = state.filter else { return (Array(raw), []) }
            defer { state.filter = filter }
            return filter.filter(raw)
        }
        state.withLock { $0.pending.append(contentsOf: bytes) }
        for command in commands { onCommand(command) }
        offerPending()
    }

    /// The output fd failed: drop what is buffered and what comes, release a waiting port.
    private func closeOutput() {
        let client = state.withLock { state -> (any SerialPortClient)? in
            state.outputClosed = true
            state.buffer = []
            state.head = 0
            defer { state.refused = false }
            return state.refused ? state.client : nil
        }
        handlers.withLock { $0.output?.setEvents([]) }
        onHangup()
        client?.hostReadyForOutput()
    }

    private func endInput() {
        state.withLock { $0.inputEnded = true }
        handlers.withLock { $0.input?.setEvents([]) }
        if useSend { onHangup() }
    }

    private func writable(_ events: IOEvents) {
        guard let fd = output else { return }
        let chunk = state.withLock { state in
            Array(state.buffer[state.head..<min(state.buffer.count, state.head + Self.writeChunk)])
        }
        guard !chunk.isEmpty, !events.contains(.error) else {
            // Nothing to write, or a pipe whose reader is gone (POLLERR): never write into that
            // (it would raise SIGPIPE); stop polling so the error does not spin the loop.
            handlers.withLock { $0.output?.setEvents([]) }
            if events.contains(.error) { closeOutput() }
            return
        }
        let written = chunk.withUnsafeBytes { raw in
            useSend ? Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
                    : write(fd, raw.baseAddress, raw.count)
        }
        if written < 0 {
            if errno == EAGAIN || errno == EINTR { return }
            closeOutput()
            return
        }
        let (empty, notify) = state.withLock { state -> (Bool, Bool) in
            state.head += written
            if state.head >= state.buffer.count {
                state.buffer.removeAll(keepingCapacity: true)
                state.head = 0
            }
            let notify = state.refused && state.buffered < outputLimit
            if notify { state.refused = false }
            return (state.buffered == 0, notify)
        }
        if empty { handlers.withLock { $0.output?.setEvents([]) } }
        if notify { state.withLock { $0.client }?.hostReadyForOutput() }
    }
}
