/// A set of virtio feature bits (virtio 1.2 §2.2, §6): bits 0–23 belong to the device type,
/// 24–40 to the queues and transport.
public struct VirtioFeatures: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The feature with bit number `bit` (0...63).
    public static func bit(_ bit: Int) -> VirtioFeatures { VirtioFeatures(rawValue: 1 << UInt64(bit & 63)) }

    /// `VIRTIO_F_INDIRECT_DESC` (28): descriptors may point at indirect tables.
    public static let indirectDescriptors = bit(28)
    /// `VIRTIO_F_EVENT_IDX` (29): used/avail event indices suppress notifications.
    public static let eventIndex = bit(29)
    /// `VIRTIO_F_VERSION_1` (32): a virtio 1.x (non-legacy) driver. Always offered by our
    /// transports and required of the driver.
    public static let version1 = bit(32)
    /// `VIRTIO_F_ACCESS_PLATFORM` (33): DMA goes through the platform's IOMMU.
    public static let accessPlatform = bit(33)
    /// `VIRTIO_F_RING_PACKED` (34): packed virtqueues.
    public static let ringPacked = bit(34)

    /// The bits a transport itself understands and may offer on a device's behalf.
    public static let ringFeatures: VirtioFeatures = [.indirectDescriptors, .eventIndex, .ringPacked]

    public var description: String { "0x" + String(rawValue, radix: 16) }
}
