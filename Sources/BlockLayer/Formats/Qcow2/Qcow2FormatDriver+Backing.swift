extension Qcow2FormatDriver: BlockBackingReplaceable {
    /// Rewrites the header with the new backing file name and format (other header extensions
    /// are not kept: we write only the backing format extension), flushes it, then switches the
    /// node. Throws `readOnly` for a read-only image, `invalidArgument` if the names do not fit
    /// in the header cluster, or the file's errors.
    public func replaceBacking(with node: BlockNode?, recordedAs name: String?, format: String?) async throws(BlockError) {
        if isReadOnly { throw .readOnly }
        try await image.lock.withLock { () async throws(BlockError) in
            var header = image.header
            header.backingFile = node == nil ? nil : name
            header.backingFormat = node == nil ? nil : format
            let bytes = try header.serialized()
            // Metadata first, so the header never names a chain the tables do not match.
            try await image.writeBack()
            // Cluster 0 holds only the header: rewrite it whole.
            try await image.writeBytes(bytes, at: 0)
            try await image.file.flush()
            image.header = header
        }
        backingLink.withLock { $0 = node }
    }
}
