import EmuCore

/// The device side of one virtqueue, split or packed (see ``makeVirtqueue(_:memory:)``).
///
/// A queue reads rings the driver writes concurrently and treats every value in them as hostile:
/// a malformed chain makes `pop` throw a ``VirtqueueError`` and leaves the queue **broken**
/// (``failure`` is set; every later `pop` and `push` throws it again) until the transport makes a
/// new queue on reset. A queue never reads or writes outside guest RAM and always terminates.
///
/// A queue belongs to one thread at a time (the device's loop thread): it is not `Sendable`; a
/// device that shares it keeps it behind its own lock.
public protocol Virtqueue: AnyObject {
    /// The validated configuration the queue was made from.
    var configuration: VirtqueueConfiguration { get }
    /// The first driver error seen, after which the queue is broken.
    var failure: VirtqueueError? { get }
    /// Elements popped and not yet pushed back.
    var inFlight: Int { get }

    /// Takes the next chain the driver made available, or `nil` if there is none.
    /// - Throws: a ``VirtqueueError`` for a malformed chain or a broken queue.
    func pop() throws(VirtqueueError) -> VirtqueueElement?

    /// Returns `element` to the driver as used, with `writtenLength` bytes written into its
    /// writable buffers (0 for a request cancelled without a reply). Elements may be pushed in
    /// any order.
    /// - Throws: ``VirtqueueError/usedLengthTooLong(id:length:writable:)``,
    ///   ``VirtqueueError/nothingInFlight``, or the recorded failure of a broken queue.
    func push(_ element: VirtqueueElement, writtenLength: UInt32) throws(VirtqueueError)

    /// Asks the driver not to notify (kick) the device; a hint the driver may ignore.
    func disableNotifications()

    /// Asks the driver to notify on new buffers again. Returns `true` if buffers arrived while
    /// notifications were off (the device must pop again: no kick will come for them).
    func enableNotifications() -> Bool

    /// Whether the driver wants an interrupt for the elements pushed since the last time this
    /// returned `true` (`VIRTQ_AVAIL_F_NO_INTERRUPT`, or the used event index with
    /// `VIRTIO_F_EVENT_IDX`). `false` when nothing was pushed since.
    func shouldInterrupt() -> Bool
}

/// Makes the queue `configuration` describes over `memory`, checking its size and that its three
/// areas are aligned, RAM and contiguous.
/// - Throws: ``VirtqueueError/invalidSize(_:)``, ``VirtqueueError/misaligned(_:address:alignment:)``,
///   ``VirtqueueError/areaNotRAM(_:_:)``, ``VirtqueueError/areaNotContiguous(_:address:)``.
public func makeVirtqueue(_ configuration: VirtqueueConfiguration, memory: some GuestMemory) throws(VirtqueueError) -> any Virtqueue {
    switch configuration.format {
    case .split: return try SplitVirtqueue(configuration, memory: memory)
    case .packed: return try PackedVirtqueue(configuration, memory: memory)
    }
}

/// Descriptor flag bits (virtio 1.2 §2.7.5 split, §2.8.1 packed), for device code and for
/// tests that write descriptors by hand.
public enum VirtqueueDescriptorFlags {
    /// `VIRTQ_DESC_F_NEXT`: the chain continues.
    public static let next: UInt16 = 1
    /// `VIRTQ_DESC_F_WRITE`: the device writes this buffer.
    public static let write: UInt16 = 2
    /// `VIRTQ_DESC_F_INDIRECT`: the buffer is a table of descriptors.
    public static let indirect: UInt16 = 4
    /// Packed `VIRTQ_DESC_F_AVAIL` (bit 7).
    public static let avail: UInt16 = 1 << 7
    /// Packed `VIRTQ_DESC_F_USED` (bit 15).
    public static let used: UInt16 = 1 << 15
}

/// The size of one descriptor, split or packed, in a ring or an indirect table.
let descriptorSize = 16

/// Reads an indirect table (`length` bytes at `address`) after checking its length.
func readIndirectTable(address: UInt64, length: UInt32, memory: some GuestMemory) throws(VirtqueueError) -> [UInt8] {
    guard length > 0, length % UInt32(descriptorSize) == 0,
          Int(length) / descriptorSize <= VirtqueueConfiguration.maximumIndirectDescriptors
    else { throw .invalidIndirectLength(length) }
    do { return try memory.read(count: Int(length), at: address) } catch { throw .indirectTableNotRAM(error) }
}

extension [UInt8] {
    @inline(__always) func le<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}
