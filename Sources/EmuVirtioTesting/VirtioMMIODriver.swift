import EmuCore
import EmuVirtio

/// The driver side of a virtio-mmio device, for tests: the registers, and through
/// ``VirtioTransportDriver`` the initialisation sequence of virtio 1.2 §3.1.1. Not thread-safe.
public final class VirtioMMIODriver: VirtioTransportDriver {
    /// Why the device refused to be initialised (shared by every transport's driver).
    public typealias Failure = VirtioDriverFailure

    private let read: (UInt64) -> UInt32
    private let write: (UInt64, UInt32) -> Void
    public var queues: [any VirtqueueDriver] = []
    public var features: VirtioFeatures = []

    private typealias R = VirtioMMIOTransport.Register

    /// Drives the registers of `device` (called directly, as 32-bit accesses).
    public init(device: any MMIOHandler) {
        read = { UInt32(truncatingIfNeeded: device.read(offset: $0, size: 4)) }
        write = { device.write(offset: $0, size: 4, value: UInt64($1)) }
    }

    /// Drives a device mapped at `base` in `space` (through the bus, as a CPU would).
    public init(space: AddressSpace, base: UInt64) {
        read = { UInt32(truncatingIfNeeded: space.read(at: base + $0, size: 4)) }
        write = { space.write(at: base + $0, size: 4, value: UInt64($1)) }
    }

    /// Reads a register.
    public func register(_ offset: UInt64) -> UInt32 { read(offset) }
    /// Writes a register.
    public func setRegister(_ offset: UInt64, _ value: UInt32) { write(offset, value) }

    public var status: VirtioDeviceStatus { VirtioDeviceStatus(rawValue: UInt8(truncatingIfNeeded: read(R.status))) }

    public var offeredFeatures: VirtioFeatures {
        write(R.deviceFeaturesSelect, 0)
        let low = UInt64(read(R.deviceFeatures))
        write(R.deviceFeaturesSelect, 1)
        return VirtioFeatures(rawValue: low | UInt64(read(R.deviceFeatures)) << 32)
    }

    public func writeStatus(_ status: VirtioDeviceStatus) { write(R.status, UInt32(status.rawValue)) }

    public func writeDriverFeatures(_ features: VirtioFeatures) {
        write(R.driverFeaturesSelect, 0)
        write(R.driverFeatures, UInt32(truncatingIfNeeded: features.rawValue))
        write(R.driverFeaturesSelect, 1)
        write(R.driverFeatures, UInt32(truncatingIfNeeded: features.rawValue >> 32))
    }

    public func queueMaximum(_ index: Int) -> UInt16 {
        write(R.queueSelect, UInt32(index))
        return UInt16(truncatingIfNeeded: read(R.queueSizeMax))
    }

    public func enable(queue index: Int) {
        write(R.queueSelect, UInt32(index))
        write(R.queueReady, 1)
    }

    public func checkIdentity() throws(VirtioDriverFailure) {
        let magic = read(R.magicValue), version = read(R.version)
        guard magic == VirtioMMIOTransport.magic, version == 2 else { throw .notVirtioMMIO(magic: magic, version: version) }
    }

    public func setUp(queue index: Int, _ configuration: VirtqueueConfiguration) {
        write(R.queueSelect, UInt32(index))
        write(R.queueSize, UInt32(configuration.size))
        for (low, value) in [(R.queueDescriptorLow, configuration.descriptorArea), (R.queueDriverLow, configuration.driverArea),
                             (R.queueDeviceLow, configuration.deviceArea)] {
            write(low, UInt32(truncatingIfNeeded: value))
            write(low + 4, UInt32(truncatingIfNeeded: value >> 32))
        }
    }

    public func kick(_ index: Int) { write(R.queueNotify, UInt32(index)) }

    /// The interrupt status bits (1: used buffers, 2: configuration change).
    public var interruptStatus: UInt32 { read(R.interruptStatus) }

    /// Acknowledges interrupt status bits.
    public func acknowledge(_ bits: UInt32) { write(R.interruptACK, bits) }
}
