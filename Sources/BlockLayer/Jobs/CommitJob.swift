/// Commit: copies what the images from `top` down to, not including, `base` hold into `base`,
/// then points `overlay` (the image whose backing is `top`) at `base`, dropping the images
/// between. `top` must not be the active layer: nothing may write it (use
/// ``activeCommit(backend:base:options:)`` for the image a guest writes).
///
/// The guest keeps running meanwhile: it writes above `top`, and what it reads from `top` and
/// below does not change (a range copied into `base` is still shadowed by `top`). At finalize,
/// inside a drained section of `overlay`, the new backing is recorded in `overlay`'s image.
public final class CommitJob: BlockJobBody {
    public let kind = "commit"
    /// The highest image whose data goes into `base`.
    public let top: BlockNode
    /// The image that receives the data.
    public let base: BlockNode
    /// The image whose backing becomes `base` (`nil`: nothing to relink, as in an offline commit
    /// of a top image).
    public let overlay: BlockNode?
    /// Bytes per copy.
    public let chunkSize: UInt64
    public var nodes: [BlockNode] { [top, base] + (overlay.map { [$0] } ?? []) }
    private let replaceable: (any BlockBackingReplaceable)?
    private let baseClaim: BlockWriterClaim

    /// A commit of `top` (and the images between it and `base`) into `base`. Throws
    /// `invalidArgument` if `base` is not below `top`, `overlay`'s backing is not `top`, or `top`
    /// has a writer; `unsupported` if `overlay` cannot change its backing; `readOnly` or
    /// `writerConflict` if `base` cannot be written.
    public init(top: BlockNode, base: BlockNode, overlay: BlockNode? = nil, chunkSize: UInt64 = 1 << 20) throws(BlockError) {
        guard BlockChain.isBelow(base, top: top) else { throw .invalidArgument("\(base.name) is not below \(top.name)") }
        if let holder = top.writerHolder {
            throw .invalidArgument("\(top.name) is written by \(holder): commit the active layer with activeCommit")
        }
        var replaceable: (any BlockBackingReplaceable)? = nil
        if let overlay {
            guard overlay.children[.backing] === top else { throw .invalidArgument("\(overlay.name)'s backing is not \(top.name)") }
            guard let r = overlay.driver as? any BlockBackingReplaceable else {
                throw .unsupported("\(overlay.driver.formatName) images cannot change their backing file")
            }
            replaceable = r
        }
        guard chunkSize >= 65536, chunkSize & (chunkSize - 1) == 0 else { throw .invalidArgument("commit chunk size \(chunkSize)") }
        self.top = top
        self.base = base
        self.overlay = overlay
        self.chunkSize = chunkSize
        self.replaceable = replaceable
        baseClaim = try base.claimWriter(holder: "commit job")
    }

    deinit { baseClaim.release() }

    public func run(_ job: BlockJob) async throws(BlockJobError) {
        let length = top.length
        if base.length < length {
            try await job.io { () throws(BlockError) in try await base.truncate(to: length) }
        }
        job.setRemaining(length)
        var offset: UInt64 = 0
        while offset < length {
            try await job.checkpoint()
            let span = min(chunkSize - offset % chunkSize, length - offset)
            let status = try await job.io { () throws(BlockError) in
                try await BlockChain.isAllocated(from: top, above: base, at: offset, length: span)
            }
            if status.allocated {
                await job.rateLimit(status.length)
                try await job.io { () throws(BlockError) in
                    let buffer = BlockBuffer(count: Int(status.length))
                    try await top.read(into: buffer, at: offset)
                    if buffer.isAllZero {
                        try await base.writeZeroes(at: offset, length: status.length)
                    } else {
                        try await base.write(from: buffer, at: offset)
                    }
                }
            }
            offset += status.length
            job.addProgress(status.length)
            job.setRemaining(length - offset)
        }
        try await job.io { () throws(BlockError) in try await base.flush() }
    }

    public func commit(_ job: BlockJob) async throws(BlockJobError) {
        baseClaim.release()
        guard let overlay, let replaceable else { return }
        await overlay.drainedBegin()
        defer { try? overlay.drainedEnd() }
        do {
            try await replaceable.replaceBacking(with: base, recordedAs: BlockChain.recordedName(base), format: base.driver.formatName)
        } catch {
            throw .io(error)
        }
    }

    public func abort(_ job: BlockJob) async {
        baseClaim.release()
    }

    /// Commit of the active layer: a mirror of `backend`'s node into `base` (which must be in its
    /// chain) copying what the layers above `base` hold; on `complete` the backend switches to
    /// `base` (see ``MirrorJob``). Throws as ``MirrorJob``'s initialiser, and `invalidArgument`
    /// if `base` is not below the backend's node.
    public static func activeCommit(backend: BlockBackend, base: BlockNode, options: MirrorJob.Options = .init()) throws(BlockError) -> MirrorJob {
        guard BlockChain.isBelow(base, top: backend.node) else { throw .invalidArgument("\(base.name) is not below \(backend.node.name)") }
        return try MirrorJob(backend: backend, target: base, sync: .top, base: base, options: options)
    }
}
