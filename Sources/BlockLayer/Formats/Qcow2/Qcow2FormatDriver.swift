import Synchronization

/// The `qcow2` format driver: version 3 read/write, version 2 read-only.
///
/// Guest clusters map through the L1 and L2 tables to host clusters of the `file` child; an
/// unallocated cluster reads from the `backing` child (zeroes past its end, or without one);
/// zero clusters read as zeroes; compressed clusters are inflated. A write to a cluster that is
/// not exclusively ours (unallocated, zero, compressed, shared) allocates a new cluster, copies
/// in the old contents around the written bytes, and drops the old reference. Metadata changes
/// are written back in crash order on ``flush()`` (see ``Qcow2Image``), so an acknowledged
/// *flushed* write survives a crash and a crash never leaves a reference to a free cluster.
///
/// Concurrency: one async lock serialises metadata changes; reads and writes into clusters that
/// are already ours map under it and do their data I/O outside it, so they run in parallel. A
/// cluster whose entry was dropped (discard, zeroes, copy-on-write) is freed only at a flush,
/// after the entries are on disk and after every such unlocked I/O mapped before has ended, so
/// no request ever reads or writes a cluster that was handed out again.
///
/// Drop the driver only after a final ``flush()``: unflushed metadata is lost otherwise (the
/// image stays consistent, the writes since the last flush are not in it).
public final class Qcow2FormatDriver: BlockDriver {
    /// `qcow2`.
    public let formatName = "qcow2"
    /// Whether writes are refused (always for version 2, corrupt-marked and dirty images).
    public let isReadOnly: Bool
    /// The header as it was when the image was opened.
    public let openedHeader: Qcow2Header
    let image: Qcow2Image
    private let file: BlockNode
    /// The backing node; replaced only by ``replaceBacking(with:recordedAs:format:)``.
    let backingLink: Mutex<BlockNode?>
    private var backing: BlockNode? { backingLink.withLock { $0 } }
    private let claim: BlockWriterClaim?

    private init(image: Qcow2Image, file: BlockNode, backing: BlockNode?, claim: BlockWriterClaim?) {
        self.image = image
        self.file = file
        backingLink = Mutex(backing)
        self.claim = claim
        isReadOnly = image.isReadOnly
        openedHeader = image.header
    }

    deinit { claim?.release() }

    /// Opens the qcow2 image in `file`, reading unallocated clusters from `backing` (the
    /// caller opens the backing chain; see ``ImageOpener``). `cacheBytes` bounds the L2 cache.
    ///
    /// Throws `corrupt`/`unsupported` for malformed or unsupported images (see
    /// ``Qcow2Header/parse(_:fileLength:)``); for a writable open also `unsupported` for version 2
    /// or internal snapshots, `corrupt` if the corrupt bit is set or the dirty bit says the
    /// refcounts may be stale (repair with `check`), `writerConflict` if `file` has a writer.
    public static func open(file: BlockNode, backing: BlockNode? = nil, readOnly: Bool = false,
                            cacheBytes: Int = 4 << 20) async throws(BlockError) -> Qcow2FormatDriver {
        let image = try await Qcow2Image.load(file: file, readOnly: readOnly, cacheBytes: cacheBytes)
        var claim: BlockWriterClaim? = nil
        if !readOnly {
            let header = image.header
            if header.version < 3 { throw .unsupported("writing qcow2 version 2 images (open read-only or convert)") }
            if header.isMarkedCorrupt { throw .corrupt("the image is marked corrupt; open it read-only or repair it") }
            if header.isDirty { throw .corrupt("the image is dirty (refcounts may be stale); repair it with check -r all") }
            if header.snapshotCount > 0 { throw .unsupported("writing images with internal snapshots") }
            claim = try file.claimWriter(holder: "qcow2 format over \(file.name)")
            if header.autoclearFeatures != 0 {
                // We maintain no bitmaps or other auto-clear data: say so in the header.
                image.header.autoclearFeatures = 0
                try await image.writeFeatures()
                try await file.flush()
            }
        }
        return Qcow2FormatDriver(image: image, file: file, backing: backing, claim: claim)
    }

    /// `file`, and `backing` when there is one.
    public var children: [BlockChildRole: BlockNode] {
        var children: [BlockChildRole: BlockNode] = [.file: file]
        if let backing { children[.backing] = backing }
        return children
    }

    /// The virtual size.
    public func length() async throws(BlockError) -> UInt64 {
        await image.lock.withLock { image.header.size }
    }

    // MARK: Reads

    private enum Extent {
        case host(UInt64)
        case zero
        case unallocated
        case compressed(host: UInt64, length: Int, inCluster: Int)
    }

    /// Maps `offset..<offset+length` to extents (merging host-contiguous clusters).
    private func map(_ offset: UInt64, _ length: Int) async throws(BlockError) -> [(range: Range<Int>, extent: Extent)] {
        let geometry = image.geometry
        var result: [(range: Range<Int>, extent: Extent)] = []
        var done = 0
        while done < length {
            let guest = offset + UInt64(done)
            let inCluster = Int(guest & geometry.clusterMask)
            let piece = min(geometry.clusterSize - inCluster, length - done)
            let extent: Extent
            switch try await image.cluster(guestOffset: guest) {
            case .unallocated: extent = .unallocated
            case .zero: extent = .zero
            case .normal(let host, _): extent = .host(host + UInt64(inCluster))
            case .compressed(let host, let compressedLength):
                extent = .compressed(host: host, length: compressedLength, inCluster: inCluster)
            }
            if let last = result.last {
                var merged: Extent? = nil
                switch (last.extent, extent) {
                case (.zero, .zero): merged = .zero
                case (.unallocated, .unallocated): merged = .unallocated
                case (.host(let a), .host(let b)) where a + UInt64(last.range.count) == b: merged = .host(a)
                default: break
                }
                if let merged {
                    result[result.count - 1] = (last.range.lowerBound..<(done + piece), merged)
                    done += piece
                    continue
                }
            }
            result.append((done..<(done + piece), extent))
            done += piece
        }
        return result
    }

    /// Fills `buffer` from `offset`.
    public func read(into buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        let extents = try await image.lock.withLock { () async throws(BlockError) in
            let extents = try await map(offset, buffer.count)
            image.unlockedIO.enter()
            return extents
        }
        defer { image.unlockedIO.leave() }
        for (range, extent) in extents {
            let part = buffer.view(range)
            switch extent {
            case .zero: part.bytes.initializeMemory(as: UInt8.self, repeating: 0)
            case .unallocated: try await readBacking(into: part, at: offset + UInt64(range.lowerBound))
            case .host(let host): try await readHost(into: part, at: host)
            case .compressed(let host, let length, let inCluster):
                let cluster = BlockBuffer(count: image.geometry.clusterSize)
                try await inflate(host: host, length: length, into: cluster)
                part.bytes.copyMemory(from: UnsafeRawBufferPointer(rebasing: cluster.bytes[inCluster..<(inCluster + range.count)]))
            }
        }
    }

    /// Reads data clusters; the part of a cluster past the end of the file reads as zeroes.
    private func readHost(into part: BlockBuffer, at host: UInt64) async throws(BlockError) {
        let fileLength = file.length
        guard host < fileLength else { throw .corrupt("data cluster at \(host) lies past the end of the file") }
        let inside = Int(min(UInt64(part.count), fileLength - host))
        if inside < part.count {
            UnsafeMutableRawBufferPointer(rebasing: part.bytes[inside...]).initializeMemory(as: UInt8.self, repeating: 0)
        }
        try await file.read(into: inside == part.count ? part : part.view(0..<inside), at: host)
    }

    /// Reads from the backing node, zeroes past its end or without one.
    private func readBacking(into part: BlockBuffer, at guest: UInt64) async throws(BlockError) {
        guard let backing, guest < backing.length else {
            part.bytes.initializeMemory(as: UInt8.self, repeating: 0)
            return
        }
        let inside = Int(min(UInt64(part.count), backing.length - guest))
        if inside < part.count {
            UnsafeMutableRawBufferPointer(rebasing: part.bytes[inside...]).initializeMemory(as: UInt8.self, repeating: 0)
        }
        try await backing.read(into: inside == part.count ? part : part.view(0..<inside), at: guest)
    }

    private func inflate(host: UInt64, length: Int, into cluster: BlockBuffer) async throws(BlockError) {
        let fileLength = file.length
        guard host < fileLength else { throw .corrupt("compressed cluster at \(host) lies past the end of the file") }
        let count = Int(min(UInt64(length), fileLength - host))
        let compressed = try await image.readBytes(at: host, count: count)
        try Qcow2Compression.inflateCluster(compressed, clusterSize: image.geometry.clusterSize, into: cluster.bytes)
    }

    /// The old contents of a guest cluster (for copy-on-write), into `cluster` (one cluster).
    private func fillOld(_ old: Qcow2Cluster, guestCluster: UInt64, into cluster: BlockBuffer) async throws(BlockError) {
        switch old {
        case .zero: cluster.bytes.initializeMemory(as: UInt8.self, repeating: 0)
        case .unallocated: try await readBacking(into: cluster, at: guestCluster)
        case .normal(let host, _): try await readHost(into: cluster, at: host)
        case .compressed(let host, let length): try await inflate(host: host, length: length, into: cluster)
        }
    }

    // MARK: Writes

    /// Writes all of `buffer` at `offset`.
    /// A write that lands entirely in clusters that are ours runs its data I/O outside the lock
    /// (so such writes proceed in parallel); any other write runs wholly under it.
    public func write(from buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        let inPlace: [(range: Range<Int>, host: UInt64)]? = try await image.lock.withLock { () async throws(BlockError) in
            if let extents = try await inPlaceExtents(offset, buffer.count) {
                for extent in extents { try await image.ensureFileLength(extent.host + UInt64(extent.range.count)) }
                image.unlockedIO.enter()
                return extents
            }
            try await writeLocked(buffer, at: offset)
            return nil
        }
        guard let inPlace else { return }
        defer { image.unlockedIO.leave() }
        for extent in inPlace { try await file.write(from: buffer.view(extent.range), at: extent.host) }
    }

    /// The host extents of a write if every cluster it touches is ours (normal, COPIED), else nil.
    private func inPlaceExtents(_ offset: UInt64, _ length: Int) async throws(BlockError) -> [(range: Range<Int>, host: UInt64)]? {
        let geometry = image.geometry
        var extents: [(range: Range<Int>, host: UInt64)] = []
        var done = 0
        while done < length {
            let guest = offset + UInt64(done)
            let inCluster = Int(guest & geometry.clusterMask)
            let piece = min(geometry.clusterSize - inCluster, length - done)
            guard case .normal(let host, copied: true) = try await image.cluster(guestOffset: guest) else { return nil }
            let target = host + UInt64(inCluster)
            if let last = extents.last, last.host + UInt64(last.range.count) == target {
                extents[extents.count - 1] = (last.range.lowerBound..<(done + piece), last.host)
            } else {
                extents.append((done..<(done + piece), target))
            }
            done += piece
        }
        return extents
    }

    private func writeLocked(_ buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        let geometry = image.geometry
        let clusterSize = geometry.clusterSize
        let total = buffer.count
        var done = 0
        while done < total {
            let guest = offset + UInt64(done)
            let inCluster = Int(guest & geometry.clusterMask)
            let first = try await image.cluster(guestOffset: guest)
            if case .normal(let host, copied: true) = first {
                // In place, over following clusters that are ours and host-contiguous.
                var length = min(clusterSize - inCluster, total - done)
                var nextHost = host + UInt64(clusterSize)
                while done + length < total,
                      case .normal(let next, copied: true) = try await image.cluster(guestOffset: offset + UInt64(done + length)),
                      next == nextHost {
                    length += min(clusterSize, total - done - length)
                    nextHost += UInt64(clusterSize)
                }
                let target = host + UInt64(inCluster)
                try await image.ensureFileLength(target + UInt64(length))
                try await file.write(from: buffer.view(done..<(done + length)), at: target)
                done += length
                continue
            }
            // Allocate: this cluster and the following ones that are not ours either.
            var olds: [Qcow2Cluster] = [first]
            var covered = clusterSize - inCluster
            while done + covered < total, olds.count < 4096 {
                let next = try await image.cluster(guestOffset: offset + UInt64(done + covered))
                if case .normal(_, copied: true) = next { break }
                olds.append(next)
                covered += clusterSize
            }
            let length = min(covered, total - done)
            let guestStart = guest - UInt64(inCluster)
            let host: UInt64
            if inCluster == 0 && length % clusterSize == 0 {
                // Whole clusters: straight from the request's buffer.
                host = try await image.allocateClusters(olds.count)
                try await file.write(from: buffer.view(done..<(done + length)), at: host)
            } else {
                let staging = BlockBuffer(count: olds.count * clusterSize)
                if inCluster != 0 {
                    try await fillOld(olds[0], guestCluster: guestStart, into: staging.view(0..<clusterSize))
                }
                let endInRun = inCluster + length
                if endInRun % clusterSize != 0 && !(olds.count == 1 && inCluster != 0) {
                    let last = olds.count - 1
                    try await fillOld(olds[last], guestCluster: guestStart + UInt64(last * clusterSize),
                                      into: staging.view((last * clusterSize)..<((last + 1) * clusterSize)))
                }
                UnsafeMutableRawBufferPointer(rebasing: staging.bytes[inCluster..<(inCluster + length)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer.bytes[done..<(done + length)]))
                host = try await image.allocateClusters(olds.count)
                try await file.write(from: staging, at: host)
            }
            for (index, old) in olds.enumerated() {
                let newHost = host + UInt64(index * clusterSize)
                try await image.setL2Entry(guestOffset: guestStart + UInt64(index * clusterSize), to: newHost | Qcow2Cluster.copiedFlag)
                drop(old)
            }
            done += length
        }
    }

    /// The locked write path, for ``writeCompressed(from:at:)``'s incompressible clusters.
    func writeLockedForCompression(_ buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        try await writeLocked(buffer, at: offset)
    }

    /// Queues the old entry's host clusters to be freed after the next write-back of L2 tables.
    private func drop(_ old: Qcow2Cluster) {
        for host in old.referencedHostClusters(geometry: image.geometry) {
            image.pendingFrees.append(image.geometry.clusterIndex(host))
        }
    }

    /// Writes back metadata in crash order and flushes the file.
    public func flush() async throws(BlockError) {
        if isReadOnly { return }
        try await image.lock.withLock { () async throws(BlockError) in try await image.writeBack() }
    }

    /// Whole clusters become unallocated (zero clusters if there is a backing file, so the
    /// backing data does not show through); partial clusters keep their data.
    public func discard(at offset: UInt64, length: UInt64) async throws(BlockError) {
        let replacement: UInt64 = backing == nil ? 0 : Qcow2Cluster.zeroFlag
        try await image.lock.withLock { () async throws(BlockError) in
            try await replaceWholeClusters(offset, length, with: replacement, partial: nil)
        }
    }

    /// Whole clusters become zero clusters; partial clusters get zeroes written.
    public func writeZeroes(at offset: UInt64, length: UInt64) async throws(BlockError) {
        try await image.lock.withLock { () async throws(BlockError) in
            try await replaceWholeClusters(offset, length, with: Qcow2Cluster.zeroFlag) { (start, count) throws(BlockError) in
                try await self.writeLocked(BlockBuffer(count: count), at: start)
            }
        }
    }

    private func replaceWholeClusters(_ offset: UInt64, _ length: UInt64, with entry: UInt64,
                                      partial: ((UInt64, Int) async throws(BlockError) -> Void)?) async throws(BlockError) {
        let geometry = image.geometry
        let clusterSize = UInt64(geometry.clusterSize)
        let end = offset + length
        var position = offset
        while position < end {
            let clusterStart = position & ~geometry.clusterMask
            let clusterEnd = min(clusterStart + clusterSize, end)
            if position != clusterStart || clusterEnd - clusterStart != clusterSize {
                // A partial cluster (the node's last cluster may also be short).
                let isImageTail = clusterEnd == image.header.size && position == clusterStart
                if isImageTail {
                    // Fall through: the whole guest-visible part of the last cluster.
                } else {
                    try await partial?(position, Int(clusterEnd - position))
                    position = clusterEnd
                    continue
                }
            }
            // Skip whole L2 ranges that are already unallocated when unallocating.
            if entry == 0, try image.l2Offset(l1Index: geometry.l1Index(position)) == nil {
                position = min(end, (UInt64(geometry.l1Index(position)) + 1) * geometry.bytesPerL2)
                continue
            }
            let old = try await image.cluster(guestOffset: position)
            if old != .unallocated || entry != 0 {
                if old != .zero(host: nil) || entry != Qcow2Cluster.zeroFlag {
                    try await image.setL2Entry(guestOffset: position, to: entry)
                    drop(old)
                }
            }
            position = clusterEnd
        }
    }

    /// Grows the virtual size within the current L1 table. Throws `unsupported` for shrinking
    /// or for growth that needs a larger L1 table.
    public func truncate(to length: UInt64) async throws(BlockError) {
        try await image.lock.withLock { () async throws(BlockError) in
            if length < image.header.size { throw .unsupported("shrinking a qcow2 image") }
            guard let needed = Qcow2Header.l1EntriesNeeded(size: length, clusterBits: image.geometry.clusterBits),
                  needed <= UInt64(image.l1.count) else {
                throw .unsupported("growing a qcow2 image beyond its L1 table")
            }
            image.header.size = length
            try await image.writeSize()
            try await file.flush()
        }
    }

    // MARK: Allocation status

    /// Data (normal or compressed clusters), zero clusters, or unallocated in this image.
    public func blockStatus(at offset: UInt64, length: UInt64) async throws(BlockError) -> BlockStatus {
        try await image.lock.withLock { () async throws(BlockError) in
            let geometry = image.geometry
            let end = offset + length
            var position = offset
            var kind: BlockAllocation? = nil
            var steps = 0
            while position < end && steps < 1 << 20 {
                steps += 1
                let next: UInt64
                let this: BlockAllocation
                if try image.l2Offset(l1Index: geometry.l1Index(position)) == nil {
                    this = .unallocated
                    next = (UInt64(geometry.l1Index(position)) + 1) * geometry.bytesPerL2
                } else {
                    switch try await image.cluster(guestOffset: position) {
                    case .unallocated: this = .unallocated
                    case .zero: this = .zero
                    case .normal, .compressed: this = .data
                    }
                    next = (position & ~geometry.clusterMask) + UInt64(geometry.clusterSize)
                }
                if let kind, kind != this { break }
                kind = this
                position = min(next, end)
            }
            return BlockStatus(kind ?? .data, length: position - offset)
        }
    }
}
