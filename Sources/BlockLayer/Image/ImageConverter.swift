/// Copies one image into another (`emu-img convert`), and compares images (`emu-img compare`).
public enum ImageConverter {
    /// What a whole chain holds at `offset`: data somewhere in the chain, or zeroes (zero
    /// clusters, or unallocated down to the bottom), with the run length (1...`length`).
    public static func chainStatus(_ node: BlockNode, at offset: UInt64, length: UInt64) async throws(BlockError) -> BlockStatus {
        var status = try await node.blockStatus(at: offset, length: length)
        guard status.allocation == .unallocated else { return status }
        guard let backing = node.children[.backing], offset < backing.length else {
            return BlockStatus(.zero, length: status.length)
        }
        let below = try await chainStatus(backing, at: offset, length: min(status.length, backing.length - offset))
        status = below
        return status
    }

    /// Copies every byte of `source` into `target` (at least as long), in chunks of `chunkSize`
    /// bytes. With `targetReadsZero` (a freshly created target), runs the chain reports as zero
    /// and chunks that read as all zeroes are not written, so the target stays sparse; without
    /// it they become `writeZeroes` requests (an existing target's old data is overwritten).
    /// With `compress` (a qcow2 target), whole clusters are written compressed.
    /// `progress` gets (bytes done, total). Flushes the target at the end. Throws the nodes'
    /// errors; `invalidArgument` if the target is shorter, or `compress` without a qcow2 target.
    public static func copy(from source: BlockNode, to target: BlockNode, chunkSize: Int = 2 << 20,
                            targetReadsZero: Bool = true, compress: Bool = false,
                            progress: ((UInt64, UInt64) -> Void)? = nil) async throws(BlockError) {
        let total = source.length
        guard target.length >= total else { throw .invalidArgument("target of \(target.length) bytes is shorter than the source (\(total))") }
        var compressor: Qcow2FormatDriver? = nil
        if compress {
            guard let qcow2 = target.driver as? Qcow2FormatDriver else { throw .invalidArgument("compression needs a qcow2 target") }
            compressor = qcow2
        }
        // Two buffers: the write of one chunk overlaps the read of the next.
        var buffers = [BlockBuffer(count: chunkSize), BlockBuffer(count: chunkSize)]
        var pending: (buffer: BlockBuffer, offset: UInt64)? = nil
        var offset: UInt64 = 0
        while offset < total || pending != nil {
            let toWrite = pending
            async let written: Void = writeUnlessZero(toWrite, to: target, targetReadsZero: targetReadsZero, compressor: compressor)
            var next: (buffer: BlockBuffer, offset: UInt64)? = nil
            var readError: BlockError? = nil
            while offset < total && next == nil {
                // Chunks stay aligned to the chunk size (and so to clusters) after a zero run.
                let length = min(UInt64(chunkSize) - offset % UInt64(chunkSize), total - offset)
                do throws(BlockError) {
                    let status = try await chainStatus(source, at: offset, length: length)
                    if status.allocation == .zero && !targetReadsZero {
                        try await target.writeZeroes(at: offset, length: status.length)
                    } else if status.allocation != .zero {
                        let part = status.length == UInt64(chunkSize) ? buffers[0] : buffers[0].view(0..<Int(status.length))
                        try await source.read(into: part, at: offset)
                        next = (part, offset)
                    }
                    offset += status.length
                } catch {
                    readError = error
                    break
                }
            }
            do { try await written } catch let error as BlockError { throw error } catch { throw .invalidArgument("\(error)") }
            if let readError { throw readError }
            if let pending { progress?(pending.offset + UInt64(pending.buffer.count), total) }
            pending = next
            buffers.swapAt(0, 1)
        }
        progress?(total, total)
        try await target.flush()
    }

    private static func writeUnlessZero(_ chunk: (buffer: BlockBuffer, offset: UInt64)?, to target: BlockNode,
                                        targetReadsZero: Bool, compressor: Qcow2FormatDriver?) async throws(BlockError) {
        guard let chunk else { return }
        if let compressor {
            // Whole clusters compressed (zero ones skipped), a partial tail written as it is.
            let clusterSize = compressor.openedHeader.clusterSize
            var position = 0
            while position < chunk.buffer.count {
                let inCluster = Int((chunk.offset + UInt64(position)) % UInt64(clusterSize))
                let piece = min(clusterSize - inCluster, chunk.buffer.count - position)
                let part = chunk.buffer.view(position..<(position + piece))
                let at = chunk.offset + UInt64(position)
                if part.isAllZero {
                    if !targetReadsZero { try await target.writeZeroes(at: at, length: UInt64(piece)) }
                } else if piece == clusterSize {
                    try await compressor.writeCompressed(from: part, at: at)
                } else {
                    try await target.write(from: part, at: at)
                }
                position += piece
            }
            return
        }
        if chunk.buffer.isAllZero {
            if !targetReadsZero { try await target.writeZeroes(at: chunk.offset, length: UInt64(chunk.buffer.count)) }
            return
        }
        try await target.write(from: chunk.buffer, at: chunk.offset)
    }

    /// The first offset where `a` and `b` differ (a longer image's tail must read as zeroes),
    /// or nil if they read identically. Throws the nodes' errors.
    public static func firstDifference(_ a: BlockNode, _ b: BlockNode, chunkSize: Int = 1 << 20) async throws(BlockError) -> UInt64? {
        let total = max(a.length, b.length)
        let left = BlockBuffer(count: chunkSize), right = BlockBuffer(count: chunkSize)
        var offset: UInt64 = 0
        while offset < total {
            let count = Int(min(UInt64(chunkSize), total - offset))
            for (node, buffer) in [(a, left), (b, right)] {
                buffer.bytes.initializeMemory(as: UInt8.self, repeating: 0)
                if offset < node.length {
                    let inside = Int(min(UInt64(count), node.length - offset))
                    try await node.read(into: buffer.view(0..<inside), at: offset)
                }
            }
            for index in 0..<count where left.bytes[index] != right.bytes[index] {
                return offset + UInt64(index)
            }
            offset += UInt64(count)
        }
        return nil
    }
}
