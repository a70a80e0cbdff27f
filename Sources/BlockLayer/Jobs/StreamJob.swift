/// Stream: copies into an image everything its backing chain holds above `base`, then makes
/// `base` (or nothing) its backing, so the images between can be deleted.
///
/// The guest may keep writing to the image through its backend meanwhile. Each copy runs in a
/// drained section of the image and re-checks, inside it, that the image still does not hold
/// the range: a guest write is never overwritten by older data from the backing chain. (The
/// sections are short: one chunk's read and write.) At finalize the new backing is recorded in
/// the image (``BlockBackingReplaceable``) inside a drained section.
public final class StreamJob: BlockJobBody {
    public let kind = "stream"
    /// The image that receives the data.
    public let top: BlockNode
    /// The image that stays as the backing (`nil`: the whole chain is copied and dropped).
    public let base: BlockNode?
    /// Bytes per copy.
    public let chunkSize: UInt64
    public var nodes: [BlockNode] { [top] }
    private let replaceable: any BlockBackingReplaceable

    /// A stream into `top` down to `base`. Throws `unsupported` if `top`'s format cannot change
    /// its backing, `readOnly` for a read-only `top`, `invalidArgument` if `base` is not in the
    /// chain below `top` or `chunkSize` is not a power of two of at least 64 KiB.
    public init(top: BlockNode, base: BlockNode? = nil, chunkSize: UInt64 = 1 << 20) throws(BlockError) {
        guard let replaceable = top.driver as? any BlockBackingReplaceable else {
            throw .unsupported("\(top.driver.formatName) images cannot change their backing file")
        }
        if top.isReadOnly { throw .readOnly }
        if let base, !BlockChain.isBelow(base, top: top) { throw .invalidArgument("\(base.name) is not below \(top.name)") }
        guard chunkSize >= 65536, chunkSize & (chunkSize - 1) == 0 else { throw .invalidArgument("stream chunk size \(chunkSize)") }
        self.top = top
        self.base = base
        self.chunkSize = chunkSize
        self.replaceable = replaceable
    }

    public func run(_ job: BlockJob) async throws(BlockJobError) {
        let length = top.length
        job.setRemaining(length)
        var offset: UInt64 = 0
        while offset < length {
            try await job.checkpoint()
            let span = min(chunkSize - offset % chunkSize, length - offset)
            let own = try await job.io { () throws(BlockError) in try await top.blockStatus(at: offset, length: span) }
            var step = own.length
            if own.allocation == .unallocated, let backing = top.children[.backing] {
                let below = try await job.io { () throws(BlockError) in
                    try await BlockChain.isAllocated(from: backing, above: base, at: offset, length: own.length)
                }
                step = below.length
                if below.allocated {
                    await job.rateLimit(step)
                    step = try await copyIfStillUnallocated(offset, step, job)
                }
            }
            offset += step
            job.addProgress(step)
            job.setRemaining(length - offset)
        }
        try await job.io { () throws(BlockError) in try await top.flush() }
    }

    /// Copies `offset..<offset+length` from the chain into `top` unless the guest wrote it first;
    /// returns how many bytes from `offset` it settled.
    private func copyIfStillUnallocated(_ offset: UInt64, _ length: UInt64, _ job: BlockJob) async throws(BlockJobError) -> UInt64 {
        await top.drainedBegin()
        defer { try? top.drainedEnd() }
        return try await job.io(bypassingPause: true) { () throws(BlockError) -> UInt64 in
            let now = try await top.blockStatus(at: offset, length: length)
            guard now.allocation == .unallocated else { return now.length }
            let buffer = BlockBuffer(count: Int(now.length))
            try await top.read(into: buffer, at: offset)
            try await top.write(from: buffer, at: offset)
            return now.length
        }
    }

    public func commit(_ job: BlockJob) async throws(BlockJobError) {
        await top.drainedBegin()
        defer { try? top.drainedEnd() }
        do {
            try await replaceable.replaceBacking(with: base, recordedAs: base.map(BlockChain.recordedName), format: base?.driver.formatName)
        } catch {
            throw .io(error)
        }
    }
}
