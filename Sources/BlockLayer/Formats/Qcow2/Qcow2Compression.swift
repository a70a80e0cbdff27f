import CZlib

/// Compressed qcow2 clusters: raw deflate (zlib without header, 4 KiB window as qemu writes it;
/// any window up to 32 KiB inflates).
enum Qcow2Compression {
    /// Inflates `compressed` into exactly `clusterSize` bytes. Throws `corrupt` if the data is
    /// not valid deflate or yields fewer bytes than a cluster.
    static func inflateCluster(_ compressed: [UInt8], clusterSize: Int, into output: UnsafeMutableRawBufferPointer) throws(BlockError) {
        guard output.count == clusterSize, let outBase = output.baseAddress else {
            throw .invalidArgument("inflate output must be one cluster")
        }
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corrupt("zlib inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var input = compressed
        let status: Int32 = input.withUnsafeMutableBytes { inBytes in
            stream.next_in = inBytes.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_in = uInt(inBytes.count)
            stream.next_out = outBase.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(clusterSize)
            return inflate(&stream, Z_FINISH)
        }
        // Full output is what counts: qemu's compressed data may end without a final block marker
        // within the sectors it names (Z_BUF_ERROR with a full output is fine).
        guard (status == Z_STREAM_END || status == Z_BUF_ERROR || status == Z_OK), stream.avail_out == 0 else {
            throw .corrupt("compressed cluster does not inflate to \(clusterSize) bytes (zlib status \(status))")
        }
    }

    /// Deflates one cluster (raw deflate, 4 KiB window), or nil if it does not get smaller than
    /// `clusterSize - 512` bytes (then it is better stored as it is).
    static func deflateCluster(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        var stream = z_stream()
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY,
                            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: input.count)
        let status: Int32 = output.withUnsafeMutableBytes { outBytes in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = outBytes.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(outBytes.count)
            return deflate(&stream, Z_FINISH)
        }
        guard status == Z_STREAM_END, Int(stream.total_out) < input.count - 512 else { return nil }
        return Array(output.prefix(Int(stream.total_out)))
    }
}
