import Synchronization

/// Mirror: copies what a device backend's node holds to a target node while the guest keeps
/// writing, then (on `complete`) switches the backend to the target.
///
/// - Sync `full` copies everything, `top` only what the layers above `base` hold (by default the
///   source's own layer; the target is expected to have `base` as its backing, or be `base`
///   itself for an active commit), `none` only what the guest writes from now on.
/// - Guest writes made while copying are recorded in a ``BlockDirtyBitmap`` on the source and
///   copied again; at most ``Options/maxInFlight`` copies run at once, each at most
///   ``Options/chunksPerCopy`` chunks long. Runs of zeroes are written as write-zeroes.
/// - When nothing is dirty and nothing is in flight the job becomes **ready** and keeps the
///   target in sync until `complete` or `cancel`.
/// - `complete` (seed 004): the job opens a drained section of the source, so the device stops
///   taking requests and every admitted request finishes; copies what is still dirty; flushes the
///   target; then, at finalize, switches the backend to the target and ends the section. No guest
///   write can land between the final pass and the switch, so every acknowledged write is in the
///   target. (With `autoFinalize` off, the guest waits in the section until `finalize`.)
/// - `cancel` after ready: the same final pass, no switch: the target is a consistent copy.
///   Cancel before ready, or a failure: the target is left incomplete, the source untouched.
public final class MirrorJob: BlockJobBody {
    /// Which part of the source to copy.
    public enum SyncMode: String, Sendable { case full, top, none }

    /// Tuning.
    public struct Options: Sendable {
        /// Bytes per dirty-bitmap bit (a power of two, at least 512).
        public var granularity: UInt64 = 64 << 10
        /// Copies in flight at once.
        public var maxInFlight = 16
        /// Dirty chunks one copy may take.
        public var chunksPerCopy = 16
        /// Defaults: 64 KiB chunks, 16 copies of up to 1 MiB in flight.
        public init() {}
    }

    public let kind = "mirror"
    /// The backend whose node is mirrored, and which moves to the target on completion.
    public let backend: BlockBackend
    /// The node being copied (the backend's node when the job was made).
    public let source: BlockNode
    /// The copy.
    public let target: BlockNode
    /// Which part is copied.
    public let sync: SyncMode
    /// For `top`: the highest layer not copied (`nil`: the whole chain below the source).
    public let base: BlockNode?
    /// Tuning.
    public let options: Options
    /// Guest writes not yet copied.
    public let dirty: BlockDirtyBitmap
    public var nodes: [BlockNode] { [source, target] }

    private struct State {
        var targetClaim: BlockWriterClaim?
        var drained = false
        var switched = false
    }
    private let state: Mutex<State>
    /// Test-only: the final step skips the drained section (seed 004's bug), so tests can show
    /// that they catch the writes it loses.
    let skipDrainForTesting: Bool

    /// A mirror of `backend`'s current node to `target` (same length).
    /// Throws `invalidArgument` for a length mismatch or bad options, `writerConflict`/`readOnly`
    /// if the target cannot be written by the job.
    /// For `sync: .top`, `base` is the highest layer not copied; by default the source's backing.
    public convenience init(backend: BlockBackend, target: BlockNode, sync: SyncMode = .full, base: BlockNode? = nil,
                            options: Options = Options()) throws(BlockError) {
        try self.init(backend: backend, target: target, sync: sync, base: base, options: options, skipDrainForTesting: false)
    }

    init(backend: BlockBackend, target: BlockNode, sync: SyncMode, base: BlockNode? = nil, options: Options,
         skipDrainForTesting: Bool) throws(BlockError) {
        let source = backend.node
        guard source !== target else { throw .invalidArgument("mirror source and target are the same node") }
        guard target.length == source.length else {
            throw .invalidArgument("mirror target is \(target.length) bytes, source \(source.length)")
        }
        guard options.maxInFlight > 0, options.chunksPerCopy > 0, options.chunksPerCopy <= 1024 else {
            throw .invalidArgument("mirror needs 1... copies in flight and 1...1024 chunks per copy")
        }
        self.backend = backend
        self.source = source
        self.target = target
        self.sync = sync
        self.base = base ?? source.children[.backing]
        self.options = options
        self.skipDrainForTesting = skipDrainForTesting
        dirty = try BlockDirtyBitmap(length: source.length, granularity: options.granularity)
        state = Mutex(State(targetClaim: try target.claimWriter(holder: "mirror job")))
    }

    /// Whether the backend was switched to the target.
    public var switched: Bool { state.withLock { $0.switched } }

    public func run(_ job: BlockJob) async throws(BlockJobError) {
        source.addDirtyBitmap(dirty)
        dirty.onDirty { [weak job] in job?.wake() }
        try await markInitialRegions(job)
        job.setRemaining(dirty.dirtyBytes)
        try await copyUntilAsked(job)
        // The final pass: complete, or cancel after ready.
        if !skipDrainForTesting {
            await source.drainedBegin()
            state.withLock { $0.drained = true }
        }
        while let run = dirty.takeNextRun(maxChunks: options.chunksPerCopy) {
            try await copy(run, job, bypassingPause: true)
        }
        try await job.io(bypassingPause: true) { () throws(BlockError) in try await target.flush() }
    }

    public func commit(_ job: BlockJob) async throws(BlockJobError) {
        defer { cleanUp() }
        if job.completion == .complete {
            let claim = state.withLock { s -> BlockWriterClaim? in defer { s.targetClaim = nil }; return s.targetClaim }
            claim?.release()
            do throws(BlockError) {
                if skipDrainForTesting { try backend.replaceNodeSkippingDrainForTesting(with: target) } else { try backend.replaceNode(with: target) }
            } catch {
                throw .io(error)
            }
            state.withLock { $0.switched = true }
        }
    }

    public func abort(_ job: BlockJob) async {
        cleanUp()
    }

    /// Ends the final drained section, stops recording, gives back the target.
    private func cleanUp() {
        source.removeDirtyBitmap(dirty)
        dirty.onDirty(nil)
        let (drained, claim) = state.withLock { s -> (Bool, BlockWriterClaim?) in
            defer { s.drained = false; s.targetClaim = nil }
            return (s.drained, s.targetClaim)
        }
        claim?.release()
        if drained { try? source.drainedEnd() }
    }

    private func markInitialRegions(_ job: BlockJob) async throws(BlockJobError) {
        switch sync {
        case .none: return
        case .full: dirty.markAll()
        case .top:
            var offset: UInt64 = 0
            let length = source.length
            while offset < length {
                try await job.checkpoint()
                let status = try await job.io { () throws(BlockError) in
                    try await BlockChain.isAllocated(from: source, above: base, at: offset, length: length - offset)
                }
                if status.allocated { dirty.mark(offset: offset, length: status.length) }
                offset += status.length
            }
        }
    }

    /// Copies dirty runs with up to `maxInFlight` copies at once until the job is ready and the
    /// user asked it to finish. Throws on a copy failure or a hard cancel.
    ///
    /// Two copies of the same range never overlap in time: if a guest write dirties a range
    /// whose copy is still in flight, the new copy waits for the old one. (Otherwise the older
    /// copy, holding data read before the guest write, could land after the newer one and leave
    /// stale data in the target with the range marked clean.)
    private func copyUntilAsked(_ job: BlockJob) async throws(BlockJobError) {
        let failure: BlockJobError? = await withTaskGroup(of: (Range<UInt64>, BlockJobError?).self) { group in
            var busy: [Range<UInt64>] = []
            var cursor: UInt64 = 0
            var failure: BlockJobError?
            func reap(_ result: (Range<UInt64>, BlockJobError?)?) {
                guard let (run, error) = result else { return }
                busy.removeAll { $0 == run }
                if let error, failure == nil { failure = error }
            }
            while failure == nil {
                do throws(BlockJobError) { try await job.checkpoint() } catch { failure = error; break }
                if job.isReady, job.completion != .none { break }
                if busy.count < options.maxInFlight, let run = dirty.takeNextRun(from: cursor, maxChunks: options.chunksPerCopy) {
                    cursor = run.upperBound
                    if busy.contains(where: { $0.overlaps(run) }) {
                        dirty.mark(offset: run.lowerBound, length: run.upperBound - run.lowerBound)
                        reap(await group.next())
                        continue
                    }
                    await job.rateLimit(run.upperBound - run.lowerBound)
                    busy.append(run)
                    group.addTask {
                        do throws(BlockJobError) { try await self.copy(run, job, bypassingPause: false) } catch {
                            self.dirty.mark(offset: run.lowerBound, length: run.upperBound - run.lowerBound)
                            return (run, error)
                        }
                        return (run, nil)
                    }
                    continue
                }
                if !busy.isEmpty {
                    reap(await group.next())
                    continue
                }
                job.setRemaining(0)
                job.setReady()
                await job.idle(upTo: .milliseconds(20))
            }
            while !busy.isEmpty { reap(await group.next()) }
            return failure
        }
        if let failure { throw failure }
    }

    /// Reads `run` from the source and writes it to the target as one I/O of the job.
    private func copy(_ run: Range<UInt64>, _ job: BlockJob, bypassingPause: Bool) async throws(BlockJobError) {
        let length = run.upperBound - run.lowerBound
        try await job.io(bypassingPause: bypassingPause) { () throws(BlockError) in
            let buffer = BlockBuffer(count: Int(length))
            try await source.read(into: buffer, at: run.lowerBound)
            if buffer.isAllZero {
                try await target.writeZeroes(at: run.lowerBound, length: length)
            } else {
                try await target.write(from: buffer, at: run.lowerBound)
            }
        }
        job.addProgress(length)
        job.setRemaining(dirty.dirtyBytes)
    }
}
