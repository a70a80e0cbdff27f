/// Writing compressed clusters (`emu-img convert -c`): whole guest clusters, deflated and packed
/// one after another into host clusters; each host cluster counts one reference per compressed
/// cluster that touches it, as qemu's images do.
extension Qcow2FormatDriver {
    /// Writes `buffer` (exactly one cluster) compressed at the cluster-aligned `offset`, which
    /// must not hold data in this image yet (unallocated or a zero cluster without a host
    /// cluster). Data that does not shrink by at least 512 bytes is written uncompressed.
    /// Throws `readOnly`, `invalidArgument` for a misaligned or wrong-sized request or one past
    /// the end, `unsupported` over allocated data, or the file's errors.
    public func writeCompressed(from buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        if isReadOnly { throw .readOnly }
        let geometry = image.geometry
        guard buffer.count == geometry.clusterSize, offset & geometry.clusterMask == 0 else {
            throw .invalidArgument("compressed writes take one whole, aligned cluster")
        }
        try await image.lock.withLock { () async throws(BlockError) in
            guard offset + UInt64(geometry.clusterSize) <= image.header.size else {
                throw .invalidArgument("compressed write at \(offset) past the end")
            }
            let old = try await image.cluster(guestOffset: offset)
            guard old == .unallocated || old == .zero(host: nil) else {
                throw .unsupported("compressed write over allocated data at \(offset)")
            }
            guard let data = Qcow2Compression.deflateCluster(UnsafeRawBufferPointer(buffer.bytes)) else {
                try await writeLockedForCompression(buffer, at: offset)
                return
            }
            let clusterSize = UInt64(geometry.clusterSize)
            let count = UInt64(data.count)
            let host: UInt64
            let cursor = image.compressedCursor
            if cursor != 0, cursor & geometry.clusterMask != 0, clusterSize - (cursor & geometry.clusterMask) >= count {
                // Packs into the host cluster the previous compressed cluster ended in.
                host = cursor
                try await image.changeRefcount(cluster: geometry.clusterIndex(host), by: 1)
            } else {
                host = try await image.allocateClusters(Int((count + clusterSize - 1) / clusterSize))
            }
            image.compressedCursor = host + count
            try await image.writeBytes(data, at: host)
            let offsetBits = UInt64(62 - (geometry.clusterBits - 8))
            let additionalSectors = (host + count - 1) / 512 - host / 512
            try await image.setL2Entry(guestOffset: offset,
                                       to: Qcow2Cluster.compressedFlag | additionalSectors << offsetBits | host)
        }
    }
}
