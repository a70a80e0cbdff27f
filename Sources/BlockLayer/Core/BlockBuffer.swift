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

    /// Allocates `count` zeroed bytes aligned to `alignment` (a power of two, at least 1).
    public init(count: Int, alignment: Int = 4096) {
        let alignment = max(1, alignment)
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(0, count), alignment: alignment)
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
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

    deinit { bytes.deallocate() }

    /// A copy of the bytes as an array.
    public var array: [UInt8] { Array(bytes) }
}
