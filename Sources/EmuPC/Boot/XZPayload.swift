import CLZMA

/// Decompresses a bzImage's xz payload on the host with liblzma.
///
/// The payload is one xz stream followed by the decompressed size as a 32-bit little-endian
/// number (what the kernel's own decompressor reads). The output must have exactly that size,
/// and at most ``maximumOutput`` bytes, so a hostile image cannot make the host allocate more.
enum XZPayload {
    /// The largest decompressed kernel accepted: 1 GiB.
    static let maximumOutput = 1 << 30
    /// liblzma's memory limit for the decoder (the kernel's streams use a 32 MiB dictionary).
    static let memoryLimit: UInt64 = 256 << 20
    /// The xz stream header magic.
    static let magic: [UInt8] = [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]

    /// The decompressed bytes of `payload`.
    /// - Throws: ``LinuxBootError/unsupportedCompression(_:)`` when the payload is not xz,
    ///   ``LinuxBootError/corruptPayload(_:)`` for a stream liblzma rejects, a truncated stream,
    ///   or an output whose size differs from the declared one.
    static func decompress(_ payload: ArraySlice<UInt8>) throws(LinuxBootError) -> [UInt8] {
        guard payload.count > magic.count + 4 else { throw .corruptPayload("only \(payload.count) bytes") }
        guard payload.prefix(magic.count).elementsEqual(magic) else {
            throw .unsupportedCompression(formatName(payload))
        }
        let tail = payload.suffix(4)
        let declared = tail.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard declared > 0, declared <= maximumOutput else {
            throw .corruptPayload("declared size \(declared) is out of range")
        }
        let input = payload.dropLast(4)
        var output = [UInt8](repeating: 0, count: declared)
        var stream = lzma_stream()
        let initResult = lzma_stream_decoder(&stream, memoryLimit, 0)
        guard initResult == LZMA_OK else { throw .corruptPayload("liblzma refused to start (\(initResult.rawValue))") }
        defer { lzma_end(&stream) }

        var result = LZMA_OK
        var produced = 0
        var inputLeft = 0
        input.withUnsafeBytes { inRaw in
            output.withUnsafeMutableBytes { outRaw in
                stream.next_in = inRaw.baseAddress?.assumingMemoryBound(to: UInt8.self)
                stream.avail_in = inRaw.count
                stream.next_out = outRaw.baseAddress?.assumingMemoryBound(to: UInt8.self)
                stream.avail_out = outRaw.count
                // With all input given and LZMA_FINISH, every call makes progress or ends: at the
                // stream's end, with an error, or with LZMA_BUF_ERROR when it cannot go on (input
                // exhausted before the end, or output full).
                repeat {
                    result = lzma_code(&stream, LZMA_FINISH)
                } while result == LZMA_OK
                produced = outRaw.count - stream.avail_out
                inputLeft = stream.avail_in
            }
        }
        switch result {
        case LZMA_STREAM_END:
            guard produced == declared else {
                throw .corruptPayload("decompressed to \(produced) bytes, \(declared) declared")
            }
            return output
        case LZMA_BUF_ERROR where produced == declared && inputLeft > 0:
            throw .corruptPayload("decompresses to more than the \(declared) bytes declared")
        default:
            throw .corruptPayload(describe(result))
        }
    }

    private static func describe(_ result: lzma_ret) -> String {
        switch result {
        case LZMA_DATA_ERROR: "xz data error"
        case LZMA_FORMAT_ERROR: "not an xz stream"
        case LZMA_OPTIONS_ERROR: "unsupported xz options"
        case LZMA_BUF_ERROR: "xz stream truncated"
        case LZMA_MEM_ERROR, LZMA_MEMLIMIT_ERROR: "xz stream needs too much memory"
        case LZMA_UNSUPPORTED_CHECK: "unsupported xz integrity check"
        default: "liblzma error \(result.rawValue)"
        }
    }

    /// A name for the compression formats a bzImage may carry.
    private static func formatName(_ payload: ArraySlice<UInt8>) -> String {
        let head = Array(payload.prefix(4))
        switch head.count == 4 ? (head[0], head[1], head[2], head[3]) : (0, 0, 0, 0) {
        case (0x1F, 0x8B, _, _): return "gzip"
        case (0x42, 0x5A, 0x68, _): return "bzip2"
        case (0x5D, 0x00, 0x00, _): return "lzma"
        case (0x89, 0x4C, 0x5A, 0x4F): return "lzo"
        case (0x02, 0x21, 0x4C, 0x18): return "lz4"
        case (0x28, 0xB5, 0x2F, 0xFD): return "zstd"
        default: return "an unknown format"
        }
    }
}
