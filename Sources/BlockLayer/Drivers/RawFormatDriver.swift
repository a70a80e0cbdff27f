/// The `raw` format: the guest sees the `file` child's bytes as they are, optionally only a
/// window of them (`offset`, `size`, like QEMU's raw options).
///
/// A writable raw node holds its child's write permission for as long as the driver lives.
public final class RawFormatDriver: BlockDriver {
    /// `raw`.
    public let formatName = "raw"
    /// Whether writes are refused.
    public let isReadOnly: Bool
    /// Where the window starts in the child.
    public let windowOffset: UInt64
    /// The window's fixed size, or `nil` for "to the child's end".
    public let windowSize: UInt64?
    private let file: BlockNode
    private let claim: BlockWriterClaim?

    /// Opens `file` as raw. Throws `invalidArgument` if the window does not fit in the child,
    /// `writerConflict` if a writable raw node cannot take the child's write permission,
    /// `readOnly` if writable was asked of a read-only child.
    public init(file: BlockNode, offset: UInt64 = 0, size: UInt64? = nil, readOnly: Bool = false) throws(BlockError) {
        let (end, overflow) = offset.addingReportingOverflow(size ?? 0)
        if overflow || end > file.length || offset > file.length {
            throw .invalidArgument("raw window \(offset)+\(size ?? 0) outside child of \(file.length) bytes")
        }
        self.file = file
        windowOffset = offset
        windowSize = size
        isReadOnly = readOnly
        claim = readOnly ? nil : try file.claimWriter(holder: "raw format over \(file.name)")
    }

    deinit { claim?.release() }

    /// The child as `file`.
    public var children: [BlockChildRole: BlockNode] { [.file: file] }
    /// The child's limits.
    public var limits: BlockLimits { file.driver.limits }

    /// The window size, or the child's length past the window start.
    public func length() async throws(BlockError) -> UInt64 {
        if let windowSize { return windowSize }
        return file.length >= windowOffset ? file.length - windowOffset : 0
    }

    private func shifted(_ offset: UInt64) throws(BlockError) -> UInt64 {
        let (shifted, overflow) = offset.addingReportingOverflow(windowOffset)
        if overflow { throw .overflow(offset: offset, length: windowOffset) }
        return shifted
    }

    /// Reads through to the child at the shifted offset.
    public func read(into buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        try await file.read(into: buffer, at: try shifted(offset))
    }

    /// Writes through to the child at the shifted offset.
    public func write(from buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        try await file.write(from: buffer, at: try shifted(offset))
    }

    /// Flushes the child.
    public func flush() async throws(BlockError) { try await file.flush() }

    /// Discards in the child.
    public func discard(at offset: UInt64, length: UInt64) async throws(BlockError) {
        try await file.discard(at: try shifted(offset), length: length)
    }

    /// Zeroes in the child.
    public func writeZeroes(at offset: UInt64, length: UInt64) async throws(BlockError) {
        try await file.writeZeroes(at: try shifted(offset), length: length)
    }

    /// Truncates the child; throws `unsupported` for a windowed node.
    public func truncate(to length: UInt64) async throws(BlockError) {
        if windowOffset != 0 || windowSize != nil { throw .unsupported("truncate of a raw window") }
        try await file.truncate(to: length)
    }
}
