/// The device status field (virtio 1.2 §2.1): the driver's progress through initialisation,
/// and the device's "needs reset".
public struct VirtioDeviceStatus: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The guest found the device.
    public static let acknowledge = VirtioDeviceStatus(rawValue: 1)
    /// The guest knows how to drive it.
    public static let driver = VirtioDeviceStatus(rawValue: 2)
    /// The driver is ready: the device may process its queues.
    public static let driverOK = VirtioDeviceStatus(rawValue: 4)
    /// Feature negotiation is complete (the device keeps it only if it accepts the features).
    public static let featuresOK = VirtioDeviceStatus(rawValue: 8)
    /// The device hit an error it cannot recover from without a reset.
    public static let deviceNeedsReset = VirtioDeviceStatus(rawValue: 64)
    /// The driver gave up on the device.
    public static let failed = VirtioDeviceStatus(rawValue: 128)

    public var description: String { "0x" + String(rawValue, radix: 16) }
}
