/// The ring layout of a virtqueue (virtio 1.2 §2.6 split, §2.8 packed).
public enum VirtqueueFormat: String, Sendable, Hashable {
    /// Descriptor table, available ring, used ring.
    case split
    /// One descriptor ring with wrap counters (`VIRTIO_F_RING_PACKED`).
    case packed
}

/// What a transport collected from the driver for one queue: its size, the guest addresses of its
/// three areas, and the negotiated features that change how the rings are read. All values are
/// driver-controlled; ``SplitVirtqueue`` and ``PackedVirtqueue`` validate them.
public struct VirtqueueConfiguration: Sendable, Hashable {
    /// The ring layout.
    public var format: VirtqueueFormat
    /// Number of descriptors (split: a power of two; both: 1...32768).
    public var size: UInt16
    /// Descriptor table (split) or descriptor ring (packed).
    public var descriptorArea: UInt64
    /// Available ring (split) or driver event suppression structure (packed).
    public var driverArea: UInt64
    /// Used ring (split) or device event suppression structure (packed).
    public var deviceArea: UInt64
    /// `VIRTIO_F_EVENT_IDX` (bit 29) was negotiated.
    public var eventIndex: Bool
    /// `VIRTIO_F_INDIRECT_DESC` (bit 28) was negotiated.
    public var indirectDescriptors: Bool

    /// Creates a configuration; nothing is checked until a queue is made from it.
    public init(format: VirtqueueFormat, size: UInt16, descriptorArea: UInt64, driverArea: UInt64,
                deviceArea: UInt64, eventIndex: Bool = false, indirectDescriptors: Bool = false) {
        self.format = format
        self.size = size
        self.descriptorArea = descriptorArea
        self.driverArea = driverArea
        self.deviceArea = deviceArea
        self.eventIndex = eventIndex
        self.indirectDescriptors = indirectDescriptors
    }

    /// The largest queue size the spec allows.
    public static let maximumSize: UInt16 = 32768

    /// The most descriptors an indirect table may hold. The spec sets no bound of its own; a
    /// driver's table is bounded by its scatter-gather limit, and Linux's stays far below this.
    public static let maximumIndirectDescriptors = 1024
}
