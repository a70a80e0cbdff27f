import EmuCore
import EmuVirtio

/// The driver side of a virtio-mmio device, for tests: the initialisation sequence of virtio
/// 1.2 §3.1.1 through the registers (reset, ACKNOWLEDGE, DRIVER, feature negotiation,
/// FEATURES_OK and its re-read, queue set-up, DRIVER_OK), then kicks and interrupt handling.
/// Queues are laid out by ``SplitQueueDriver`` or ``PackedQueueDriver`` in the guest memory
/// given. Not thread-safe.
public final class VirtioMMIODriver {
    /// Why the device refused to be initialised.
    public enum Failure: Error, Equatable, Sendable {
        /// The magic value or version is not virtio-mmio 2.
        case notVirtioMMIO(magic: UInt32, version: UInt32)
        /// The device did not keep FEATURES_OK: it refused the features.
        case featuresRefused(VirtioFeatures)
        /// Queue `index` does not exist or is smaller than asked.
        case queueUnavailable(index: Int, maximum: UInt16)
        /// The device set DEVICE_NEEDS_RESET (status attached).
        case needsReset(VirtioDeviceStatus)
        /// Laying out a queue failed.
        case queueLayout(VirtqueueDriverError)
    }

    private let read: (UInt64) -> UInt32
    private let write: (UInt64, UInt32) -> Void
    /// The queue drivers, by queue index, after ``initialize(features:queueSizes:memory:ringArea:)``.
    public private(set) var queues: [any VirtqueueDriver] = []
    /// The features agreed.
    public private(set) var features: VirtioFeatures = []

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

    /// The device status.
    public var status: VirtioDeviceStatus { VirtioDeviceStatus(rawValue: UInt8(truncatingIfNeeded: read(R.status))) }

    /// The features the device offers (both words).
    public var offeredFeatures: VirtioFeatures {
        write(R.deviceFeaturesSelect, 0)
        let low = UInt64(read(R.deviceFeatures))
        write(R.deviceFeaturesSelect, 1)
        return VirtioFeatures(rawValue: low | UInt64(read(R.deviceFeatures)) << 32)
    }

    /// Resets the device, negotiates `features` (intersected with the offer) plus `VERSION_1`,
    /// lays out one queue per entry of `queueSizes` in `ringArea` (rings first, then buffers) and
    /// sets DRIVER_OK. `enable` chooses which queues to enable (all by default).
    /// - Throws: ``Failure``.
    public func initialize(features wanted: VirtioFeatures, queueSizes: [UInt16], memory: some GuestMemory,
                           ringArea: Range<UInt64>, enable: Set<Int>? = nil) throws(Failure) {
        let magic = read(R.magicValue), version = read(R.version)
        guard magic == VirtioMMIOTransport.magic, version == 2 else { throw .notVirtioMMIO(magic: magic, version: version) }
        write(R.status, 0)
        write(R.status, UInt32(VirtioDeviceStatus.acknowledge.rawValue))
        write(R.status, UInt32(VirtioDeviceStatus([.acknowledge, .driver]).rawValue))
        let agreed = offeredFeatures.intersection(wanted.union(.version1))
        try negotiate(agreed)
        features = agreed
        let ringsPerQueue: UInt64 = 0x10000
        var queues: [any VirtqueueDriver] = []
        let dataStart = ringArea.lowerBound + ringsPerQueue * UInt64(queueSizes.count)
        let dataPerQueue = (ringArea.upperBound - min(dataStart, ringArea.upperBound)) / UInt64(max(queueSizes.count, 1))
        for (i, size) in queueSizes.enumerated() {
            write(R.queueSelect, UInt32(i))
            let maximum = UInt16(truncatingIfNeeded: read(R.queueSizeMax))
            guard maximum >= size, size > 0 else { throw .queueUnavailable(index: i, maximum: maximum) }
            let rings = ringArea.lowerBound + ringsPerQueue * UInt64(i)
            let data = dataStart + dataPerQueue * UInt64(i) ..< dataStart + dataPerQueue * UInt64(i + 1)
            let driver: any VirtqueueDriver
            do {
                if agreed.contains(.ringPacked) {
                    driver = try PackedQueueDriver(memory: memory, size: size, ringAddress: rings, dataArea: data,
                                                   eventIndex: agreed.contains(.eventIndex),
                                                   indirectDescriptors: agreed.contains(.indirectDescriptors))
                } else {
                    driver = try SplitQueueDriver(memory: memory, size: size, ringAddress: rings, dataArea: data,
                                                  eventIndex: agreed.contains(.eventIndex),
                                                  indirectDescriptors: agreed.contains(.indirectDescriptors))
                }
            } catch { throw .queueLayout(error) }
            setUp(queue: i, driver.configuration)
            if enable?.contains(i) ?? true { write(R.queueReady, 1) }
            queues.append(driver)
        }
        self.queues = queues
        write(R.status, UInt32(VirtioDeviceStatus([.acknowledge, .driver, .featuresOK, .driverOK]).rawValue))
        if status.contains(.deviceNeedsReset) { throw .needsReset(status) }
    }

    /// Writes the driver features and sets FEATURES_OK; throws if the device drops it.
    public func negotiate(_ features: VirtioFeatures) throws(Failure) {
        write(R.driverFeaturesSelect, 0)
        write(R.driverFeatures, UInt32(truncatingIfNeeded: features.rawValue))
        write(R.driverFeaturesSelect, 1)
        write(R.driverFeatures, UInt32(truncatingIfNeeded: features.rawValue >> 32))
        write(R.status, UInt32(VirtioDeviceStatus([.acknowledge, .driver, .featuresOK]).rawValue))
        guard status.contains(.featuresOK) else { throw .featuresRefused(features) }
    }

    /// Writes queue `index`'s size and area addresses.
    public func setUp(queue index: Int, _ configuration: VirtqueueConfiguration) {
        write(R.queueSelect, UInt32(index))
        write(R.queueSize, UInt32(configuration.size))
        for (low, value) in [(R.queueDescriptorLow, configuration.descriptorArea), (R.queueDriverLow, configuration.driverArea),
                             (R.queueDeviceLow, configuration.deviceArea)] {
            write(low, UInt32(truncatingIfNeeded: value))
            write(low + 4, UInt32(truncatingIfNeeded: value >> 32))
        }
    }

    /// Notifies the device of new buffers in queue `index`.
    public func kick(_ index: Int) { write(R.queueNotify, UInt32(index)) }

    /// The interrupt status bits (1: used buffers, 2: configuration change).
    public var interruptStatus: UInt32 { read(R.interruptStatus) }

    /// Acknowledges interrupt status bits.
    public func acknowledge(_ bits: UInt32) { write(R.interruptACK, bits) }

    /// Resets the device (status 0).
    public func reset() { write(R.status, 0) }
}
