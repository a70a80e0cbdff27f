/// The metadata of one open qcow2 image: header, L1 table, the L2 cache, the refcount table and
/// the refcount blocks in memory, and the order in which changes reach the file.
///
/// Crash order. Metadata changes are kept in memory (write-back) and reach the file in
/// ``writeBack()``, which every flush and every eviction of a dirty L2 table runs:
/// 1. refcount blocks (then, after a flush, the refcount table if it changed), flush: every
///    cluster an L2 or L1 entry is about to point to is counted, and its data is on disk;
/// 2. L2 tables (then, after a flush, the L1 entries that point to new L2 tables), flush;
/// 3. only now the decrements of clusters that entries stopped pointing to are applied, so a
///    freed cluster can never be reused while an old on-disk entry still points to it.
/// A crash at any point therefore leaves at worst leaked clusters (refcount too high), never a
/// reference to a cluster counted as free. Guest data goes to new clusters before step 1.
/// Step 3 also waits for data I/O that runs outside the lock (``unlockedIO``), so a read or an
/// in-place write mapped before a discard never lands in a cluster already handed out again.
///
/// `@unchecked Sendable`: every member is touched only while holding `lock` (the driver takes it
/// around each operation), so no two tasks ever touch the state at once.
final class Qcow2Image: @unchecked Sendable {
    let file: BlockNode
    let lock = AsyncLock()
    /// Data I/O running outside `lock` (reads, in-place writes) on clusters mapped under it.
    let unlockedIO = InFlightCounter()
    var header: Qcow2Header
    let geometry: Qcow2Geometry
    let isReadOnly: Bool

    var l1: [UInt64]
    /// L1 indexes whose entries changed since the last write-back.
    var dirtyL1: Set<Int> = []
    var l2Cache: Qcow2L2Cache

    var refcountTable: [UInt64]
    var refcountTableDirty = false
    /// Loaded refcount blocks by block index (all kept: one block covers many clusters).
    var refcountBlocks: [Int: [UInt8]] = [:]
    var dirtyRefcountBlocks: Set<Int> = []
    /// Host clusters (indexes) whose references were dropped but not yet durable on disk.
    var pendingFrees: [UInt64] = []
    /// Clusters being handed out right now, not to be handed out twice.
    var reserved: [Range<UInt64>] = []
    /// No free cluster below this index.
    var freeHint: UInt64 = 0
    /// Where the next compressed cluster may be packed (0: start a new host cluster). Reset when
    /// frees are applied, since the cluster it points into may have been freed.
    var compressedCursor: UInt64 = 0

    init(file: BlockNode, header: Qcow2Header, l1: [UInt64], refcountTable: [UInt64], readOnly: Bool, cacheBytes: Int) {
        self.file = file
        self.header = header
        geometry = Qcow2Geometry(clusterBits: header.clusterBits, refcountOrder: header.refcountOrder)
        self.l1 = l1
        self.refcountTable = refcountTable
        isReadOnly = readOnly
        l2Cache = Qcow2L2Cache(capacity: cacheBytes / header.clusterSize)
    }

    /// Reads and validates the header, L1 and refcount tables of the image in `file`. Throws
    /// `corrupt`/`unsupported` for bad images (see ``Qcow2Header/parse(_:fileLength:)``).
    static func load(file: BlockNode, readOnly: Bool, cacheBytes: Int = 4 << 20) async throws(BlockError) -> Qcow2Image {
        let fileLength = file.length
        guard fileLength >= 72 else { throw .corrupt("file of \(fileLength) bytes is too short for qcow2") }
        let probe = try await readBytes(file, at: 0, count: Int(min(fileLength, 512)))
        let clusterBits = Int(probe.bigEndian32(at: 20))
        guard (9...21).contains(clusterBits) else {
            _ = try Qcow2Header.parse(probe, fileLength: fileLength)  // throws the precise error
            throw .corrupt("cluster bits \(clusterBits) outside 9...21")
        }
        let first = try await readBytes(file, at: 0, count: Int(min(fileLength, UInt64(1) << UInt64(clusterBits))))
        let header = try Qcow2Header.parse(first, fileLength: fileLength)

        let l1Bytes = try await readBytes(file, at: header.l1TableOffset, count: Int(header.l1Size) * 8)
        let l1 = (0..<Int(header.l1Size)).map { l1Bytes.bigEndian64(at: $0 * 8) }
        let tableBytes = try await readBytes(file, at: header.refcountTableOffset,
                                             count: Int(header.refcountTableClusters) << clusterBits)
        let table = (0..<(tableBytes.count / 8)).map { tableBytes.bigEndian64(at: $0 * 8) }
        return Qcow2Image(file: file, header: header, l1: l1, refcountTable: table, readOnly: readOnly, cacheBytes: cacheBytes)
    }

    // MARK: File access

    /// `count` bytes of `file` at `offset`; throws `corrupt` if they are not all inside the file.
    static func readBytes(_ file: BlockNode, at offset: UInt64, count: Int) async throws(BlockError) -> [UInt8] {
        if count == 0 { return [] }
        let (end, overflow) = offset.addingReportingOverflow(UInt64(count))
        guard !overflow, end <= file.length else {
            throw .corrupt("metadata at \(offset)+\(count) lies past the end of the file (\(file.length) bytes)")
        }
        let buffer = BlockBuffer(count: count)
        try await file.read(into: buffer, at: offset)
        return buffer.array
    }

    func readBytes(at offset: UInt64, count: Int) async throws(BlockError) -> [UInt8] {
        try await Self.readBytes(file, at: offset, count: count)
    }

    /// Grows the file so `end` is inside it (new bytes read as zeroes).
    func ensureFileLength(_ end: UInt64) async throws(BlockError) {
        if end > file.length { try await file.truncate(to: end) }
    }

    func writeBytes(_ bytes: [UInt8], at offset: UInt64) async throws(BlockError) {
        try await ensureFileLength(offset + UInt64(bytes.count))
        try await file.write(from: BlockBuffer(bytes), at: offset)
    }

    // MARK: L1 and L2

    /// The L2 table offset an L1 entry names, or nil if none. Throws `corrupt` if unaligned or
    /// past the end of the file.
    func l2Offset(l1Index: Int) throws(BlockError) -> UInt64? {
        guard l1Index < l1.count else { throw .corrupt("guest offset beyond the L1 table") }
        let offset = l1[l1Index] & Qcow2Cluster.offsetMask
        if offset == 0 { return nil }
        if offset & geometry.clusterMask != 0 { throw .corrupt("L2 table offset \(offset) unaligned (L1 entry \(l1Index))") }
        let (end, overflow) = offset.addingReportingOverflow(UInt64(geometry.clusterSize))
        if overflow || end > file.length { throw .corrupt("L2 table at \(offset) lies past the end of the file (L1 entry \(l1Index))") }
        return offset
    }

    /// The L2 table at `offset`, from the cache or the file.
    func l2Table(at offset: UInt64) async throws(BlockError) -> Qcow2L2Table {
        if let table = l2Cache.table(at: offset) { return table }
        if l2Cache.needsWriteBack { try await writeBack() }
        let bytes = try await readBytes(at: offset, count: geometry.clusterSize)
        let table = Qcow2L2Table(offset: offset, entries: (0..<geometry.l2Entries).map { bytes.bigEndian64(at: $0 * 8) })
        l2Cache.insert(table)
        return table
    }

    /// The raw L2 entry for the guest cluster at `guestOffset` (0 where no L2 table exists).
    func l2Entry(guestOffset: UInt64) async throws(BlockError) -> UInt64 {
        guard let offset = try l2Offset(l1Index: geometry.l1Index(guestOffset)) else { return 0 }
        return try await l2Table(at: offset).entries[geometry.l2Index(guestOffset)]
    }

    /// What the guest cluster at `guestOffset` is.
    func cluster(guestOffset: UInt64) async throws(BlockError) -> Qcow2Cluster {
        try Qcow2Cluster.decode(try await l2Entry(guestOffset: guestOffset), geometry: geometry, version: header.version)
    }

    /// Sets the L2 entry of a guest cluster, allocating (and counting) a new L2 table if needed.
    func setL2Entry(guestOffset: UInt64, to entry: UInt64) async throws(BlockError) {
        let l1Index = geometry.l1Index(guestOffset)
        let table: Qcow2L2Table
        if let offset = try l2Offset(l1Index: l1Index) {
            if l1[l1Index] & Qcow2Cluster.copiedFlag == 0 {
                throw .unsupported("writing through a shared L2 table (internal snapshots)")
            }
            table = try await l2Table(at: offset)
        } else {
            if entry == 0 { return }
            let host = try await allocateClusters(1)
            try await ensureFileLength(host + UInt64(geometry.clusterSize))
            if l2Cache.needsWriteBack { try await writeBack() }
            table = Qcow2L2Table(offset: host, entries: [UInt64](repeating: 0, count: geometry.l2Entries))
            table.isDirty = true
            l2Cache.insert(table)
            l1[l1Index] = host | Qcow2Cluster.copiedFlag
            dirtyL1.insert(l1Index)
        }
        table.entries[geometry.l2Index(guestOffset)] = entry
        table.isDirty = true
    }

    // MARK: Write-back in crash order

    /// Writes every in-memory metadata change to the file in crash order (see the type's
    /// documentation) and flushes it. Throws the file's errors.
    func writeBack() async throws(BlockError) {
        var wrote = false
        if !dirtyRefcountBlocks.isEmpty || refcountTableDirty {
            try await writeRefcountBlocks()
            wrote = true
        }
        let tables = l2Cache.dirtyTables
        if !tables.isEmpty || !dirtyL1.isEmpty {
            if wrote { try await file.flush() }
            for table in tables {
                try await writeBytes(table.bytes, at: table.offset)
                table.isDirty = false
            }
            if !dirtyL1.isEmpty {
                if !tables.isEmpty { try await file.flush() }
                try await writeL1Entries()
            }
            wrote = true
        }
        if !pendingFrees.isEmpty {
            if wrote { try await file.flush() }
            // I/O mapped before the entries changed may still touch these clusters: let it end
            // before they can be reused (new I/O cannot map them: it needs the lock we hold).
            await unlockedIO.waitIdle()
            let frees = pendingFrees
            pendingFrees.removeAll()
            compressedCursor = 0
            for cluster in frees { try await changeRefcount(cluster: cluster, by: -1) }
            try await writeRefcountBlocks()
        }
        try await file.flush()
    }

    private func writeL1Entries() async throws(BlockError) {
        // Contiguous runs of changed entries, one write each.
        let indexes = dirtyL1.sorted()
        var start = 0
        while start < indexes.count {
            var end = start
            while end + 1 < indexes.count && indexes[end + 1] == indexes[end] + 1 { end += 1 }
            var bytes = [UInt8](repeating: 0, count: (end - start + 1) * 8)
            for position in start...end { bytes.setBigEndian64(l1[indexes[position]], at: (position - start) * 8) }
            try await writeBytes(bytes, at: header.l1TableOffset + UInt64(indexes[start]) * 8)
            start = end + 1
        }
        dirtyL1.removeAll()
    }

    /// Writes dirty refcount blocks, then (after a flush) the refcount table if it changed.
    func writeRefcountBlocks() async throws(BlockError) {
        for index in dirtyRefcountBlocks.sorted() {
            guard let block = refcountBlocks[index], index < refcountTable.count else { continue }
            try await writeBytes(block, at: refcountTable[index])
        }
        dirtyRefcountBlocks.removeAll()
        if refcountTableDirty {
            try await file.flush()
            var bytes = [UInt8](repeating: 0, count: refcountTable.count * 8)
            for (index, entry) in refcountTable.enumerated() { bytes.setBigEndian64(entry, at: index * 8) }
            try await writeBytes(bytes, at: header.refcountTableOffset)
            refcountTableDirty = false
        }
    }

    /// Writes the refcount table location fields of ``header`` (12 bytes in one sector, so the
    /// switch to a new table is atomic).
    func writeRefcountTableLocation() async throws(BlockError) {
        var bytes = [UInt8](repeating: 0, count: 12)
        bytes.setBigEndian64(header.refcountTableOffset, at: 0)
        bytes.setBigEndian32(header.refcountTableClusters, at: 8)
        try await writeBytes(bytes, at: 48)
    }

    /// Writes the virtual size field of ``header``.
    func writeSize() async throws(BlockError) {
        var bytes = [UInt8](repeating: 0, count: 8)
        bytes.setBigEndian64(header.size, at: 0)
        try await writeBytes(bytes, at: 24)
    }

    /// Writes the three feature fields of ``header`` (v3).
    func writeFeatures() async throws(BlockError) {
        var bytes = [UInt8](repeating: 0, count: 24)
        bytes.setBigEndian64(header.incompatibleFeatures, at: 0)
        bytes.setBigEndian64(header.compatibleFeatures, at: 8)
        bytes.setBigEndian64(header.autoclearFeatures, at: 16)
        try await writeBytes(bytes, at: 72)
    }
}
