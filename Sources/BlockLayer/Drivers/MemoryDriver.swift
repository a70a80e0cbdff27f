import Synchronization

/// A RAM-backed image: for tests, and as a scratch node like QEMU's `null-co` with real data.
/// All requests complete inline; every operation is atomic with respect to the others.
public final class MemoryDriver: BlockDriver {
    /// `memory`.
    public let formatName = "memory"
    /// Whether writes are refused.
    public let isReadOnly: Bool
    private let storage: Mutex<[UInt8]>

    /// A zero-filled image of `size` bytes.
    public init(size: Int, readOnly: Bool = false) {
        storage = Mutex([UInt8](repeating: 0, count: max(0, size)))
        isReadOnly = readOnly
    }

    /// An image holding a copy of `contents`.
    public init(contents: [UInt8], readOnly: Bool = false) {
        storage = Mutex(contents)
        isReadOnly = readOnly
    }

    /// A copy of the whole image (for tests and comparisons).
    public var contents: [UInt8] { storage.withLock { $0 } }

    /// The current size. Never throws.
    public func length() async throws(BlockError) -> UInt64 { storage.withLock { UInt64($0.count) } }

    /// Copies out of RAM. Throws `outOfRange` if called past the end (the node prevents that).
    public func read(into buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        try storage.withLock { (data: inout [UInt8]) throws(BlockError) in
            let range = try Self.range(offset, UInt64(buffer.count), data.count)
            data.withUnsafeBytes { source in
                buffer.bytes.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[range]))
            }
        }
    }

    /// Copies into RAM. Throws `outOfRange` if called past the end.
    public func write(from buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        try storage.withLock { (data: inout [UInt8]) throws(BlockError) in
            let range = try Self.range(offset, UInt64(buffer.count), data.count)
            data.withUnsafeMutableBytes { target in
                UnsafeMutableRawBufferPointer(rebasing: target[range]).copyMemory(from: UnsafeRawBufferPointer(buffer.bytes))
            }
        }
    }

    /// Nothing to do: RAM is as durable as it gets here.
    public func flush() async throws(BlockError) {}

    /// Zeroes the range.
    public func discard(at offset: UInt64, length: UInt64) async throws(BlockError) {
        try await writeZeroes(at: offset, length: length)
    }

    /// Zeroes the range. Throws `outOfRange` if called past the end.
    public func writeZeroes(at offset: UInt64, length: UInt64) async throws(BlockError) {
        try storage.withLock { (data: inout [UInt8]) throws(BlockError) in
            let range = try Self.range(offset, length, data.count)
            for index in range { data[index] = 0 }
        }
    }

    /// Resizes; growth is zero-filled. Throws `invalidArgument` beyond `Int.max`.
    public func truncate(to length: UInt64) async throws(BlockError) {
        guard let count = Int(exactly: length) else { throw .invalidArgument("length \(length) too large for RAM") }
        storage.withLock { data in
            if count < data.count { data.removeLast(data.count - count) } else {
                data.append(contentsOf: repeatElement(0, count: count - data.count))
            }
        }
    }

    private static func range(_ offset: UInt64, _ length: UInt64, _ size: Int) throws(BlockError) -> Range<Int> {
        let (end, overflow) = offset.addingReportingOverflow(length)
        if overflow { throw .overflow(offset: offset, length: length) }
        guard end <= UInt64(size) else { throw .outOfRange(offset: offset, length: length, nodeLength: UInt64(size)) }
        return Int(offset)..<Int(end)
    }
}
