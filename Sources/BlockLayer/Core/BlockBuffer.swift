/// A heap buffer that a request reads into or writes from, allocated with an alignment (so it can
/// go to `O_DIRECT` and libaio later without a bounce copy).
///
/// `@unchecked Sendable`: the buffer moves between tasks and the I/O threads with its request.
/// The contract that makes this safe is ownership transfer: while a request that was given the
/// buffer is in flight, only that request touches the bytes; the submitter reads them again after
/// the request returned. The block layer itself never keeps a buffer after a request ends.
public final class BlockBuffer: @unchecked Sendable {
    /// The bytes. Valid for the buffer's lifetime.
    public let bytes: UnsafeMutableRawBufferPointer

    /// The number of bytes.
    public var count: Int { bytes.count }
    /// Whether `deinit` frees `bytes` (false for a view into another buffer).
    private let ownsBytes: Bool

    /// Allocates `count` zeroed bytes aligned to `alignment` (a power of two, at least 1).
    public init(count: Int, alignment: Int = 4096) {
        let alignment = max(1, alignment)
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(0, count), alignment: alignment)
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
        ownsBytes = true
    }

    /// A view of part of another buffer's bytes, for passing a slice of a request down without a
    /// copy. The view must not outlive the buffer it points into (format drivers create views
    /// only for the duration of the child request they issue).
    init(viewing bytes: UnsafeMutableRawBufferPointer) {
        self.bytes = bytes
        ownsBytes = false
    }

    /// A view of `range` of this buffer (see ``init(viewing:)``).
    func view(_ range: Range<Int>) -> BlockBuffer {
        BlockBuffer(viewing: UnsafeMutableRawBufferPointer(rebasing: bytes[range]))
    }

    /// Allocates a buffer holding a copy of `data`.
    public convenience init(_ data: [UInt8], alignment: Int = 4096) {
        self.init(count: data.count, alignment: alignment)
        data.withUnsafeBytes { source in
            if let base = source.baseAddress, !source.isEmpty {
                bytes.baseAddress?.copyMemory(from: base, byteCount: source.count)
            }
        }
    }

    deinit { if ownsBytes { bytes.deallocate() } }

    /// A copy of the bytes as an array.
    public var array: [UInt8] { Array(bytes) }

    /// Whether every byte is zero (jobs write such runs as write-zeroes).
    public var isAllZero: Bool {
        var index = 0
        let count = bytes.count
        while index + 8 <= count {
            if bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) != 0 { return false }
            index += 8
        }
        while index < count {
            if bytes[index] != 0 { return false }
            index += 1
        }
        return true
    }
}
