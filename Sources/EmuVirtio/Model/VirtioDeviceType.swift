/// A virtio device ID (virtio 1.2 §5): what the driver binds to.
public struct VirtioDeviceType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The ID as the transport reports it.
    public let rawValue: UInt32

    /// Any device ID, including ones this library has no constant for.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Network card (1).
    public static let network = VirtioDeviceType(rawValue: 1)
    /// Block device (2).
    public static let block = VirtioDeviceType(rawValue: 2)
    /// Console (3).
    public static let console = VirtioDeviceType(rawValue: 3)
    /// Entropy source (4).
    public static let entropy = VirtioDeviceType(rawValue: 4)
    /// 9P transport (9).
    public static let ninePTransport = VirtioDeviceType(rawValue: 9)
    /// File system, virtio-fs (26).
    public static let fileSystem = VirtioDeviceType(rawValue: 26)

    public var description: String {
        switch self {
        case .network: return "virtio-net"
        case .block: return "virtio-blk"
        case .console: return "virtio-console"
        case .entropy: return "virtio-rng"
        case .ninePTransport: return "virtio-9p"
        case .fileSystem: return "virtio-fs"
        default: return "virtio device \(rawValue)"
        }
    }
}
