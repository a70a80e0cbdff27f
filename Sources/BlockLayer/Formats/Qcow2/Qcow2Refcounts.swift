/// Refcounts and cluster allocation of an open qcow2 image.
///
/// Every host cluster in use has a refcount of at least 1 in a refcount block; a cluster whose
/// block does not exist yet has refcount 0 and is free. New refcount blocks are placed in the
/// lowest free cluster (usually inside the range they describe). When the refcount table is too
/// short, a larger copy is written to free clusters, made durable, and only then does the header
/// point to it; the old table is freed afterwards (a crash in between leaks, never corrupts).
extension Qcow2Image {
    /// The refcount of host cluster `cluster` (an index, not an offset).
    func refcount(cluster: UInt64) async throws(BlockError) -> UInt64 {
        let perBlock = UInt64(geometry.refcountsPerBlock)
        let blockIndex = cluster / perBlock
        guard blockIndex < UInt64(refcountTable.count), refcountTable[Int(blockIndex)] != 0 else { return 0 }
        let block = try await refcountBlock(Int(blockIndex))
        return Self.getRefcount(block, Int(cluster % perBlock), bits: geometry.refcountBits)
    }

    /// The loaded refcount block `index` (which must exist in the table). Throws `corrupt` if
    /// its offset is unaligned or past the end of the file.
    func refcountBlock(_ index: Int) async throws(BlockError) -> [UInt8] {
        if let block = refcountBlocks[index] { return block }
        let offset = refcountTable[index]
        if offset & geometry.clusterMask != 0 { throw .corrupt("refcount block offset \(offset) unaligned (entry \(index))") }
        let block = try await readBytes(at: offset, count: geometry.clusterSize)
        refcountBlocks[index] = block
        return block
    }

    static func getRefcount(_ block: [UInt8], _ slot: Int, bits: Int) -> UInt64 {
        guard slot >= 0, (slot + 1) * bits <= block.count * 8 else { return 0 }
        switch bits {
        case 64: return block.bigEndian64(at: slot * 8)
        case 32: return UInt64(block.bigEndian32(at: slot * 4))
        case 16: return UInt64(block.bigEndian16(at: slot * 2))
        case 8: return UInt64(block[slot])
        default:
            let perByte = 8 / bits
            let byte = block[slot / perByte]
            let shift = (slot % perByte) * bits
            return UInt64((byte >> UInt8(shift)) & UInt8((1 << bits) - 1))
        }
    }

    static func setRefcount(_ block: inout [UInt8], _ slot: Int, bits: Int, _ value: UInt64) {
        guard slot >= 0, (slot + 1) * bits <= block.count * 8 else { return }
        switch bits {
        case 64: block.setBigEndian64(value, at: slot * 8)
        case 32: block.setBigEndian32(UInt32(truncatingIfNeeded: value), at: slot * 4)
        case 16:
            block[slot * 2] = UInt8(truncatingIfNeeded: value >> 8)
            block[slot * 2 + 1] = UInt8(truncatingIfNeeded: value)
        case 8: block[slot] = UInt8(truncatingIfNeeded: value)
        default:
            let perByte = 8 / bits
            let shift = (slot % perByte) * bits
            let mask = UInt8((1 << bits) - 1) << UInt8(shift)
            block[slot / perByte] = (block[slot / perByte] & ~mask) | (UInt8(truncatingIfNeeded: value) << UInt8(shift) & mask)
        }
    }

    /// Sets the refcount of `cluster`, creating its refcount block (and growing the table) if
    /// needed. The change is in memory until ``writeBack()``.
    func setRefcount(cluster: UInt64, to value: UInt64) async throws(BlockError) {
        let perBlock = UInt64(geometry.refcountsPerBlock)
        let blockIndex = Int(cluster / perBlock)
        if blockIndex >= refcountTable.count || refcountTable[blockIndex] == 0 {
            if value == 0 { return }
            try await createRefcountBlock(blockIndex)
        }
        _ = try await refcountBlock(blockIndex)  // loaded (and cached) now; modified in place below
        Self.setRefcount(&refcountBlocks[blockIndex, default: []], Int(cluster % perBlock), bits: geometry.refcountBits, value)
        dirtyRefcountBlocks.insert(blockIndex)
        if value == 0 && cluster < freeHint { freeHint = cluster }
    }

    /// Adds `delta` to the refcount of `cluster`. Throws `corrupt` on overflow past the
    /// refcount width or on a decrement below zero.
    func changeRefcount(cluster: UInt64, by delta: Int) async throws(BlockError) {
        let current = try await refcount(cluster: cluster)
        if delta > 0 {
            guard current < geometry.maximumRefcount else { throw .corrupt("refcount overflow on cluster \(cluster)") }
            try await setRefcount(cluster: cluster, to: current + 1)
        } else {
            guard current > 0 else { throw .corrupt("refcount of cluster \(cluster) would drop below zero") }
            try await setRefcount(cluster: cluster, to: current - 1)
        }
    }

    private func isReserved(_ cluster: UInt64) -> Bool {
        reserved.contains { $0.contains(cluster) }
    }

    /// The first index of `count` consecutive free, unreserved clusters at or after `start`.
    /// A scan from ``freeHint`` moves the hint to the first free cluster it saw, so later scans
    /// do not walk the used clusters again.
    func findFreeRun(_ count: UInt64, from start: UInt64) async throws(BlockError) -> UInt64 {
        let endOfFile = geometry.clusterCount(bytes: file.length)
        let updatesHint = start == freeHint
        var candidate = max(start, 1)
        var firstFree: UInt64? = nil
        var runLength: UInt64 = 0
        var index = candidate
        defer { if updatesHint, let firstFree { freeHint = max(freeHint, firstFree) } }
        while runLength < count {
            // Everything past the file's end and past every reservation is free.
            if index >= endOfFile && !reserved.contains(where: { $0.upperBound > index }) {
                if firstFree == nil { firstFree = index }
                return runLength == 0 ? index : candidate
            }
            var free = !isReserved(index)
            if free { free = try await refcount(cluster: index) == 0 }
            if free {
                if firstFree == nil { firstFree = index }
                if runLength == 0 { candidate = index }
                runLength += 1
            } else {
                runLength = 0
            }
            index += 1
        }
        return candidate
    }

    /// Allocates `count` consecutive host clusters (refcount 1 each) and returns the first one's
    /// byte offset. The file is grown to cover them (they read as zeroes until written).
    func allocateClusters(_ count: Int) async throws(BlockError) -> UInt64 {
        let count = UInt64(max(1, count))
        let first = try await findFreeRun(count, from: freeHint)
        let range = first..<(first + count)
        reserved.append(range)
        defer { reserved.removeAll { $0 == range } }
        for cluster in range { try await setRefcount(cluster: cluster, to: 1) }
        if first == freeHint { freeHint = range.upperBound }
        try await ensureFileLength(range.upperBound << UInt64(geometry.clusterBits))
        return first << UInt64(geometry.clusterBits)
    }

    /// Places a new, empty refcount block for block `index` in the lowest free cluster.
    private func createRefcountBlock(_ index: Int) async throws(BlockError) {
        if index >= refcountTable.count { try await growRefcountTable(toInclude: index) }
        if refcountTable[index] != 0 { return }  // growing the table may have created it
        let cluster = try await findFreeRun(1, from: freeHint)
        reserved.append(cluster..<(cluster + 1))
        defer { reserved.removeAll { $0 == cluster..<(cluster + 1) } }
        refcountTable[index] = cluster << UInt64(geometry.clusterBits)
        refcountTableDirty = true
        refcountBlocks[index] = [UInt8](repeating: 0, count: geometry.clusterSize)
        dirtyRefcountBlocks.insert(index)
        try await ensureFileLength((cluster + 1) << UInt64(geometry.clusterBits))
        try await setRefcount(cluster: cluster, to: 1)
    }

    /// Replaces the refcount table with a larger one that has an entry for block `index`.
    private func growRefcountTable(toInclude index: Int) async throws(BlockError) {
        let clusterSize = geometry.clusterSize
        let entriesPerCluster = clusterSize / 8
        var entries = max(index + 1, refcountTable.count * 2)
        var tableClusters = 0
        var start: UInt64 = 0
        // The new table must also describe its own clusters and the blocks that count them.
        while true {
            tableClusters = (entries + entriesPerCluster - 1) / entriesPerCluster
            guard tableClusters * clusterSize <= Qcow2Header.maximumRefcountTableBytes else {
                throw .unsupported("image needs a refcount table larger than \(Qcow2Header.maximumRefcountTableBytes) bytes")
            }
            start = try await findFreeRun(UInt64(tableClusters), from: freeHint)
            let lastNeeded = (start + UInt64(tableClusters) + 4) / UInt64(geometry.refcountsPerBlock)
            if lastNeeded < UInt64(tableClusters * entriesPerCluster) { break }
            entries = Int(lastNeeded) + 1
        }
        let oldOffset = header.refcountTableOffset
        let oldClusters = UInt64(header.refcountTableClusters)
        let range = start..<(start + UInt64(tableClusters))
        reserved.append(range)
        defer { reserved.removeAll { $0 == range } }
        refcountTable += [UInt64](repeating: 0, count: tableClusters * entriesPerCluster - refcountTable.count)
        header.refcountTableOffset = start << UInt64(geometry.clusterBits)
        header.refcountTableClusters = UInt32(tableClusters)
        refcountTableDirty = true
        try await ensureFileLength(range.upperBound << UInt64(geometry.clusterBits))
        for cluster in range { try await setRefcount(cluster: cluster, to: 1) }
        // Blocks, then the new table, durable before the header switches to it.
        try await writeRefcountBlocks()
        try await file.flush()
        try await writeRefcountTableLocation()
        try await file.flush()
        let oldFirst = oldOffset >> UInt64(geometry.clusterBits)
        for cluster in oldFirst..<(oldFirst + oldClusters) {
            try await changeRefcount(cluster: cluster, by: -1)
        }
    }
}
