/// A node's driver: a protocol (`file`), a format (`raw`, later `qcow2`) or a RAM image.
///
/// The node (``BlockNode``) calls the driver only with requests already checked against the
/// node's length (no overflow, nothing past the end), the driver's ``limits``, and, for
/// write-type requests, ``isReadOnly``; zero-length requests never reach the driver. A driver
/// reports failure only as a ``BlockError``.
public protocol BlockDriver: Sendable {
    /// The driver's name as qemu-img shows it (`file`, `raw`, …).
    var formatName: String { get }
    /// Alignment and transfer limits the driver needs.
    var limits: BlockLimits { get }
    /// Whether the driver refuses write-type requests.
    var isReadOnly: Bool { get }
    /// The nodes this driver reads through (`file` for a format, later `backing`).
    var children: [BlockChildRole: BlockNode] { get }

    /// The image length in bytes as the guest sees it.
    func length() async throws(BlockError) -> UInt64
    /// Fills `buffer` (all of it) from `offset`.
    func read(into buffer: BlockBuffer, at offset: UInt64) async throws(BlockError)
    /// Writes all of `buffer` at `offset`.
    func write(from buffer: BlockBuffer, at offset: UInt64) async throws(BlockError)
    /// Makes every completed write durable.
    func flush() async throws(BlockError)
    /// Tells the driver the range is no longer needed; afterwards it reads as zeroes or as the old
    /// data (drivers in this slice give zeroes).
    func discard(at offset: UInt64, length: UInt64) async throws(BlockError)
    /// Makes the range read as zeroes.
    func writeZeroes(at offset: UInt64, length: UInt64) async throws(BlockError)
    /// Changes the length; growing reads as zeroes.
    func truncate(to length: UInt64) async throws(BlockError)
    /// What this layer holds from `offset`: data, zeroes, or nothing (falls through to the
    /// backing node), with the run's length (1...`length` bytes). Called with a checked,
    /// non-empty range. Jobs (stream/commit/mirror `sync=top`), `convert` and `map` use it to
    /// skip what a layer does not hold. The default says "data" for the whole range, which is
    /// always safe (a copy then reads everything).
    func blockStatus(at offset: UInt64, length: UInt64) async throws(BlockError) -> BlockStatus
}

extension BlockDriver {
    /// No children by default (protocol drivers).
    public var children: [BlockChildRole: BlockNode] { [:] }
    /// Byte granularity by default.
    public var limits: BlockLimits { .unrestricted }
    /// Everything is data, by default.
    public func blockStatus(at offset: UInt64, length: UInt64) async throws(BlockError) -> BlockStatus {
        BlockStatus(.data, length: length)
    }
}
