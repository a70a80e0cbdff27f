import EmuCore
import EmuVirtio

/// Why a device refused to be initialised by a test driver.
public enum VirtioDriverFailure: Error, Equatable, Sendable {
    /// virtio-mmio: the magic value or version is not virtio-mmio 2.
    case notVirtioMMIO(magic: UInt32, version: UInt32)
    /// virtio-pci: a required virtio capability is missing.
    case missingCapability(VirtioPCITransport.CapabilityType)
    /// The device did not keep FEATURES_OK: it refused the features.
    case featuresRefused(VirtioFeatures)
    /// Queue `index` does not exist or is smaller than asked.
    case queueUnavailable(index: Int, maximum: UInt16)
    /// The device set DEVICE_NEEDS_RESET (status attached).
    case needsReset(VirtioDeviceStatus)
    /// Laying out a queue failed.
    case queueLayout(VirtqueueDriverError)
}

/// What a test driver needs from a transport's registers; the initialisation sequence
/// (``initialize(features:queueSizes:memory:ringArea:enable:)``) is written once on top of it.
public protocol VirtioTransportDriver: AnyObject {
    /// The queue drivers, by queue index, after initialisation.
    var queues: [any VirtqueueDriver] { get set }
    /// The features agreed.
    var features: VirtioFeatures { get set }
    /// The device status.
    var status: VirtioDeviceStatus { get }
    /// The features the device offers.
    var offeredFeatures: VirtioFeatures { get }
    /// Checks that this is the kind of device the driver speaks to.
    func checkIdentity() throws(VirtioDriverFailure)
    /// Writes the status register.
    func writeStatus(_ status: VirtioDeviceStatus)
    /// Writes both words of the driver features.
    func writeDriverFeatures(_ features: VirtioFeatures)
    /// The largest size of queue `index` (0: no such queue).
    func queueMaximum(_ index: Int) -> UInt16
    /// Writes queue `index`'s size and area addresses.
    func setUp(queue index: Int, _ configuration: VirtqueueConfiguration)
    /// Enables queue `index`.
    func enable(queue index: Int)
    /// Notifies the device of new buffers in queue `index`.
    func kick(_ index: Int)
}

extension VirtioTransportDriver {
    /// Resets the device (status 0).
    public func reset() { writeStatus([]) }

    /// Writes the driver features and sets FEATURES_OK; throws if the device drops it.
    public func negotiate(_ features: VirtioFeatures) throws(VirtioDriverFailure) {
        writeDriverFeatures(features)
        writeStatus([.acknowledge, .driver, .featuresOK])
        guard status.contains(.featuresOK) else { throw .featuresRefused(features) }
    }

    /// Resets the device, negotiates `wanted` (intersected with the offer) plus `VERSION_1`,
    /// lays out one queue per entry of `queueSizes` in `ringArea` (64 KiB of rings per queue
    /// first, then the queues' buffers) and sets DRIVER_OK. `enable` chooses which queues to
    /// enable (all by default).
    /// - Throws: ``VirtioDriverFailure``.
    public func initialize(features wanted: VirtioFeatures, queueSizes: [UInt16], memory: some GuestMemory,
                           ringArea: Range<UInt64>, enable: Set<Int>? = nil) throws(VirtioDriverFailure) {
        try checkIdentity()
        reset()
        writeStatus(.acknowledge)
        writeStatus([.acknowledge, .driver])
        let agreed = offeredFeatures.intersection(wanted.union(.version1))
        try negotiate(agreed)
        features = agreed
        let ringsPerQueue: UInt64 = 0x10000
        let dataStart = ringArea.lowerBound + ringsPerQueue * UInt64(queueSizes.count)
        let dataPerQueue = (ringArea.upperBound - min(dataStart, ringArea.upperBound)) / UInt64(max(queueSizes.count, 1))
        var made: [any VirtqueueDriver] = []
        for (i, size) in queueSizes.enumerated() {
            let maximum = queueMaximum(i)
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
            if enable?.contains(i) ?? true { self.enable(queue: i) }
            made.append(driver)
        }
        queues = made
        writeStatus([.acknowledge, .driver, .featuresOK, .driverOK])
        if status.contains(.deviceNeedsReset) { throw .needsReset(status) }
    }
}
