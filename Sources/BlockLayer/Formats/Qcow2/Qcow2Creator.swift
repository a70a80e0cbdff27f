/// Writes a new, empty qcow2 version 3 image (16-bit refcounts) into a file node.
///
/// Layout: the header cluster, the refcount table, the refcount blocks that count every
/// cluster of this layout, then the (zeroed) L1 table: the image passes `check` as created.
public enum Qcow2Creator {
    /// Formats `file` (its previous contents are discarded) as a qcow2 image of `size` bytes with
    /// `clusterSize` (a power of two, 512 B...2 MiB), optionally over `backingFile` of format
    /// `backingFormat`. Throws `invalidArgument` for a bad cluster size, a size whose L1 table
    /// exceeds 32 MiB or names that do not fit; the file's errors otherwise.
    public static func format(file: BlockNode, size: UInt64, clusterSize: Int = 65_536,
                              backingFile: String? = nil, backingFormat: String? = nil) async throws(BlockError) {
        guard clusterSize >= 512, clusterSize <= 2 << 20, clusterSize & (clusterSize - 1) == 0 else {
            throw .invalidArgument("cluster size \(clusterSize) must be a power of two from 512 to 2097152")
        }
        let clusterBits = clusterSize.trailingZeroBitCount
        guard let l1Entries = Qcow2Header.l1EntriesNeeded(size: size, clusterBits: clusterBits),
              l1Entries * 8 <= UInt64(Qcow2Header.maximumL1Bytes) else {
            throw .invalidArgument("image size \(size) needs an L1 table larger than 32 MiB at cluster size \(clusterSize)")
        }
        let geometry = Qcow2Geometry(clusterBits: clusterBits, refcountOrder: 4)
        let l1Clusters = max(1, Int((l1Entries * 8 + UInt64(clusterSize) - 1) / UInt64(clusterSize)))
        // Refcount blocks and table clusters so the layout counts itself (a fixed point).
        var blocks = 1, tableClusters = 1
        while true {
            let total = 1 + tableClusters + blocks + l1Clusters
            let neededBlocks = (total + geometry.refcountsPerBlock - 1) / geometry.refcountsPerBlock
            let neededTable = max(1, (neededBlocks * 8 + clusterSize - 1) / clusterSize)
            if neededBlocks == blocks && neededTable == tableClusters { break }
            blocks = neededBlocks
            tableClusters = neededTable
        }
        guard tableClusters * clusterSize <= Qcow2Header.maximumRefcountTableBytes else {
            throw .invalidArgument("image size \(size) is too large")
        }
        let tableCluster = 1, firstBlock = 1 + tableClusters, l1Cluster = firstBlock + blocks
        let totalClusters = l1Cluster + l1Clusters

        let header = Qcow2Header(
            version: 3, clusterBits: clusterBits, size: size, l1Size: UInt32(l1Entries),
            l1TableOffset: UInt64(l1Cluster) << UInt64(clusterBits),
            refcountTableOffset: UInt64(tableCluster) << UInt64(clusterBits),
            refcountTableClusters: UInt32(tableClusters), snapshotCount: 0, snapshotsOffset: 0,
            incompatibleFeatures: 0, compatibleFeatures: 0, autoclearFeatures: 0, refcountOrder: 4,
            headerLength: 112, backingFile: backingFile, backingFormat: backingFile == nil ? nil : backingFormat)
        let headerBytes = try header.serialized()

        var table = [UInt8](repeating: 0, count: tableClusters * clusterSize)
        for block in 0..<blocks { table.setBigEndian64(UInt64(firstBlock + block) << UInt64(clusterBits), at: block * 8) }
        var blockBytes = [UInt8](repeating: 0, count: blocks * clusterSize)
        for cluster in 0..<totalClusters {
            blockBytes[cluster * 2] = 0
            blockBytes[cluster * 2 + 1] = 1
        }

        try await file.truncate(to: 0)
        try await file.truncate(to: UInt64(totalClusters) << UInt64(clusterBits))
        try await file.write(from: BlockBuffer(table), at: UInt64(tableCluster) << UInt64(clusterBits))
        try await file.write(from: BlockBuffer(blockBytes), at: UInt64(firstBlock) << UInt64(clusterBits))
        try await file.flush()
        try await file.write(from: BlockBuffer(headerBytes), at: 0)
        try await file.flush()
    }
}
