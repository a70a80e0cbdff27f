import Synchronization

/// The device-facing end of a block graph: a device model submits I/O here, the backend counts it
/// in flight, and drained sections hold new requests back while the graph changes.
///
/// Guarantees:
/// - Every request is bound to the node that is current when it is *admitted* and runs to its end
///   on that node; a request is admitted only outside a drained section.
/// - Requests submitted while a drained section is open wait (they are neither failed nor lost)
///   and are admitted in submission order when the outermost section ends, before any request
///   submitted after that end.
/// - ``drainedBegin()`` returns only when no admitted request is in flight. So inside a section
///   ``replaceNode(with:)`` swaps nodes with nothing in flight on the old one, and no request
///   completes against the old node after the swap (seed 004).
/// - A writable backend holds its node's write permission (one writer per node), and is a
///   ``BlockDrainParent`` of its node: a drained section of the node quiesces the backend.
public final class BlockBackend: BlockDrainParent {
    /// The backend's name (the device id).
    public let name: String
    /// Whether this backend only reads (holds no write permission).
    public let isReadOnly: Bool

    private struct Waiter {
        let sequence: UInt64
        let continuation: CheckedContinuation<BlockNode, Never>
    }

    private struct State {
        var node: BlockNode
        var claim: BlockWriterClaim?
        var observer: (any BlockDrainObserver)?
        var inFlight = 0
        var drainDepth = 0
        var queued: [Waiter] = []
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var nextSequence: UInt64 = 0
        var admissionLog: [UInt64]? = nil
    }
    private let state: Mutex<State>
    /// Serialises observer calls, so begin/end reach the device in the order the depth changed.
    private let observerOrder = Mutex(())

    /// Attaches a backend to `node`; unless `readOnly`, takes the node's write permission.
    /// Throws `writerConflict` if another parent writes the node, `readOnly` for a writable
    /// backend on a read-only node.
    public init(name: String, node: BlockNode, readOnly: Bool = false) throws(BlockError) {
        self.name = name
        isReadOnly = readOnly
        let claim = readOnly ? nil : try node.claimWriter(holder: "backend \(name)")
        state = Mutex(State(node: node, claim: claim))
        node.addParent(self)
    }

    deinit {
        state.withLock { state in
            state.claim?.release()
            state.node.removeParent(self)
        }
    }

    /// The node requests currently go to.
    public var node: BlockNode { state.withLock { $0.node } }
    /// Requests admitted and not yet finished.
    public var inFlight: Int { state.withLock { $0.inFlight } }
    /// Requests waiting for the drained section to end.
    public var queuedCount: Int { state.withLock { $0.queued.count } }
    /// Whether a drained section is open.
    public var isDrained: Bool { state.withLock { $0.drainDepth > 0 } }

    /// Registers (or with `nil` removes) the device to quiesce in drained sections.
    public func setDrainObserver(_ observer: (any BlockDrainObserver)?) {
        state.withLock { $0.observer = observer }
    }

    // MARK: Requests

    /// Reads `buffer.count` bytes at `offset` into `buffer`. Throws the node's errors.
    public func read(into buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        let node = await admit()
        defer { finish() }
        try await node.read(into: buffer, at: offset)
    }

    /// Reads `count` bytes at `offset`. Throws the node's errors.
    public func read(at offset: UInt64, count: Int) async throws(BlockError) -> [UInt8] {
        let buffer = BlockBuffer(count: max(0, count))
        try await read(into: buffer, at: offset)
        return buffer.array
    }

    /// Writes `buffer` at `offset`; returns once the node acknowledged it. Throws `readOnly` on a
    /// read-only backend, or the node's errors.
    public func write(from buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        if isReadOnly { throw .readOnly }
        let node = await admit()
        defer { finish() }
        try await node.write(from: buffer, at: offset)
    }

    /// Writes `data` at `offset`. Throws as ``write(from:at:)``.
    public func write(_ data: [UInt8], at offset: UInt64) async throws(BlockError) {
        try await write(from: BlockBuffer(data), at: offset)
    }

    /// Flushes the node. Throws the node's errors.
    public func flush() async throws(BlockError) {
        let node = await admit()
        defer { finish() }
        try await node.flush()
    }

    /// Discards a range. Throws `readOnly` or the node's errors.
    public func discard(at offset: UInt64, length: UInt64) async throws(BlockError) {
        if isReadOnly { throw .readOnly }
        let node = await admit()
        defer { finish() }
        try await node.discard(at: offset, length: length)
    }

    /// Makes a range read as zeroes. Throws `readOnly` or the node's errors.
    public func writeZeroes(at offset: UInt64, length: UInt64) async throws(BlockError) {
        if isReadOnly { throw .readOnly }
        let node = await admit()
        defer { finish() }
        try await node.writeZeroes(at: offset, length: length)
    }

    /// Takes an in-flight slot and the current node, waiting while a drained section is open.
    /// Waiting is not cancellable: a submitted request is never dropped.
    private func admit() async -> BlockNode {
        await withCheckedContinuation { (continuation: CheckedContinuation<BlockNode, Never>) in
            let node: BlockNode? = state.withLock { state in
                let sequence = state.nextSequence
                state.nextSequence += 1
                if state.drainDepth > 0 {
                    state.queued.append(Waiter(sequence: sequence, continuation: continuation))
                    return nil
                }
                state.inFlight += 1
                state.admissionLog?.append(sequence)
                return state.node
            }
            if let node { continuation.resume(returning: node) }
        }
    }

    private func finish() {
        let idle: [CheckedContinuation<Void, Never>] = state.withLock { state in
            state.inFlight -= 1
            guard state.inFlight == 0 else { return [] }
            defer { state.idleWaiters.removeAll() }
            return state.idleWaiters
        }
        for waiter in idle { waiter.resume() }
    }

    // MARK: Drained sections

    /// Opens a drained section (sections nest). The outermost begin calls the observer's
    /// `drainedBegin()`; every begin returns only when nothing admitted is in flight. Until the
    /// outermost ``drainedEnd()``, new requests wait.
    public func drainedBegin() async {
        observerOrder.withLock { _ in
            let observer: (any BlockDrainObserver)? = state.withLock { state in
                state.drainDepth += 1
                return state.drainDepth == 1 ? state.observer : nil
            }
            observer?.drainedBegin()
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state in
                if state.inFlight == 0 { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// Closes a drained section. The outermost end admits the waiting requests in submission
    /// order, then calls the observer's `drainedEnd()`. Throws `unbalancedDrain` without an open
    /// section.
    public func drainedEnd() throws(BlockError) {
        try observerOrder.withLock { (_: inout Void) throws(BlockError) in
            let outcome: Result<(node: BlockNode, waiters: [Waiter], observer: (any BlockDrainObserver)?)?, BlockError> =
                state.withLock { state in
                    guard state.drainDepth > 0 else { return .failure(.unbalancedDrain) }
                    state.drainDepth -= 1
                    guard state.drainDepth == 0 else { return .success(nil) }
                    let waiters = state.queued
                    state.queued.removeAll()
                    state.inFlight += waiters.count
                    for waiter in waiters { state.admissionLog?.append(waiter.sequence) }
                    return .success((state.node, waiters, state.observer))
                }
            guard let resumed = try outcome.get() else { return }
            for waiter in resumed.waiters { waiter.continuation.resume(returning: resumed.node) }
            resumed.observer?.drainedEnd()
        }
    }

    /// Runs `body` inside a drained section (begin, body, end; the end also runs if `body`
    /// throws). Rethrows `body`'s error.
    public func withDrainedSection<T>(_ body: () async throws -> T) async rethrows -> T {
        await drainedBegin()
        defer { try? drainedEnd() }
        return try await body()
    }

    // MARK: Graph changes

    /// Points the backend at `newNode` (e.g. a mirror's final switch to its target). Allowed only
    /// inside a drained section with nothing in flight; the write permission moves from the old
    /// node to the new one. Throws `notDrained` outside a section, `writerConflict`/`readOnly` if
    /// the new node cannot be written by this backend (the old node stays attached then).
    public func replaceNode(with newNode: BlockNode) throws(BlockError) {
        let result: Result<Void, BlockError> = state.withLock { state in
            guard state.drainDepth > 0, state.inFlight == 0 else { return .failure(.notDrained) }
            if state.node === newNode { return .success(()) }
            var newClaim: BlockWriterClaim? = nil
            if !isReadOnly {
                do throws(BlockError) {
                    newClaim = try newNode.claimWriter(holder: "backend \(name)")
                } catch { return .failure(error) }
            }
            state.claim?.release()
            state.claim = newClaim
            state.node.removeParent(self)
            newNode.addParent(self)
            state.node = newNode
            return .success(())
        }
        try result.get()
    }

    // MARK: Testing support

    /// Seed 004's bug, for tests that must show they catch it: swaps the node with no drained
    /// section, while requests may be in flight on the old node.
    func replaceNodeSkippingDrainForTesting(with newNode: BlockNode) throws(BlockError) {
        let result: Result<Void, BlockError> = state.withLock { state in
            if state.node === newNode { return .success(()) }
            var newClaim: BlockWriterClaim? = nil
            if !isReadOnly {
                do throws(BlockError) { newClaim = try newNode.claimWriter(holder: "backend \(name)") } catch { return .failure(error) }
            }
            state.claim?.release()
            state.claim = newClaim
            state.node.removeParent(self)
            newNode.addParent(self)
            state.node = newNode
            return .success(())
        }
        try result.get()
    }

    /// Starts recording admission order (internal; tests read it with ``admissions``).
    func recordAdmissions() { state.withLock { $0.admissionLog = [] } }
    /// Submission sequence numbers in the order requests were admitted.
    var admissions: [UInt64] { state.withLock { $0.admissionLog ?? [] } }
}
