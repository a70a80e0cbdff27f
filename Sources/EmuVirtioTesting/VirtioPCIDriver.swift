import EmuCore
import EmuVirtio

/// The driver side of a virtio-pci (modern) device, for tests: it finds the virtio capabilities
/// by walking the configuration space's capability list, as Linux does, then uses the common
/// configuration, notification area, ISR and MSI-X table in the BARs. Initialisation is
/// ``VirtioTransportDriver``'s. Not thread-safe.
public final class VirtioPCIDriver: VirtioTransportDriver {
    public var queues: [any VirtqueueDriver] = []
    public var features: VirtioFeatures = []
    /// The function's configuration space.
    public let configuration: PCIConfigurationSpace
    private let bars: [Int: any MMIOHandler]
    private var found: [VirtioPCITransport.CapabilityType: (bar: Int, offset: UInt64, length: UInt32)] = [:]
    private var notifyMultiplier: UInt32 = 0
    /// Offset of the MSI-X capability, if the function has one.
    public private(set) var msixCapability: Int?
    /// Offset of the `VIRTIO_PCI_CAP_PCI_CFG` capability, if the function has one.
    public private(set) var configWindowCapability: Int?

    /// Drives a function through `configuration` and its BAR contents (`bars`, by index), which
    /// are called directly with BAR-relative offsets.
    public init(configuration: PCIConfigurationSpace, bars: [Int: any MMIOHandler]) {
        self.configuration = configuration
        self.bars = bars
        var offset = Int(configuration.read(offset: PCIConfigurationSpace.Offset.capabilitiesPointer, size: 1))
        var seen = 0
        while offset >= 0x40, offset < 0x100, seen < 48 {  // a looping list cannot hang the driver
            seen += 1
            let id = configuration.read(offset: offset, size: 1)
            if id == 0x09, let type = VirtioPCITransport.CapabilityType(rawValue: UInt8(configuration.read(offset: offset + 3, size: 1))),
               found[type] == nil {
                found[type] = (Int(configuration.read(offset: offset + 4, size: 1)),
                               UInt64(configuration.read(offset: offset + 8, size: 4)), configuration.read(offset: offset + 12, size: 4))
                if type == .notify { notifyMultiplier = configuration.read(offset: offset + 16, size: 4) }
                if type == .pciConfig { configWindowCapability = offset }
            }
            if id == UInt32(MSIXController.capabilityID) { msixCapability = offset }
            offset = Int(configuration.read(offset: offset + 1, size: 1))
        }
    }

    /// Reads `length` bytes at `offset` of BAR `bar` through the `VIRTIO_PCI_CAP_PCI_CFG` window
    /// (configuration cycles only, as firmware does), or `nil` without the capability.
    public func readThroughConfigWindow(bar: UInt8 = 0, offset: UInt32, length: UInt32) -> UInt32? {
        guard let cap = programConfigWindow(bar: bar, offset: offset, length: length) else { return nil }
        return configuration.read(offset: cap + 16, size: 4)
    }

    /// Writes `length` bytes of `value` at `offset` of BAR `bar` through the
    /// `VIRTIO_PCI_CAP_PCI_CFG` window; `false` without the capability.
    @discardableResult
    public func writeThroughConfigWindow(bar: UInt8 = 0, offset: UInt32, length: UInt32, value: UInt32) -> Bool {
        guard let cap = programConfigWindow(bar: bar, offset: offset, length: length) else { return false }
        configuration.write(offset: cap + 16, size: 4, value: value)
        return true
    }

    private func programConfigWindow(bar: UInt8, offset: UInt32, length: UInt32) -> Int? {
        guard let cap = configWindowCapability else { return nil }
        configuration.write(offset: cap + 4, size: 1, value: UInt32(bar))
        configuration.write(offset: cap + 8, size: 4, value: offset)
        configuration.write(offset: cap + 12, size: 4, value: length)
        return cap
    }

    private func access(_ type: VirtioPCITransport.CapabilityType) -> (any MMIOHandler, UInt64)? {
        guard let cap = found[type], let handler = bars[cap.bar] else { return nil }
        return (handler, cap.offset)
    }

    /// Reads `size` bytes at `offset` of the common configuration.
    public func common(_ offset: UInt64, size: Int) -> UInt32 {
        guard let (h, base) = access(.common) else { return 0 }
        return UInt32(truncatingIfNeeded: h.read(offset: base + offset, size: size))
    }

    /// Writes `size` bytes at `offset` of the common configuration.
    public func setCommon(_ offset: UInt64, size: Int, _ value: UInt32) {
        guard let (h, base) = access(.common) else { return }
        h.write(offset: base + offset, size: size, value: UInt64(value))
    }

    public func checkIdentity() throws(VirtioDriverFailure) {
        for type in [VirtioPCITransport.CapabilityType.common, .notify, .isr, .device] where access(type) == nil {
            throw .missingCapability(type)
        }
    }

    public var status: VirtioDeviceStatus { VirtioDeviceStatus(rawValue: UInt8(truncatingIfNeeded: common(0x14, size: 1))) }
    public func writeStatus(_ status: VirtioDeviceStatus) { setCommon(0x14, size: 1, UInt32(status.rawValue)) }

    public var offeredFeatures: VirtioFeatures {
        setCommon(0x00, size: 4, 0)
        let low = UInt64(common(0x04, size: 4))
        setCommon(0x00, size: 4, 1)
        return VirtioFeatures(rawValue: low | UInt64(common(0x04, size: 4)) << 32)
    }

    public func writeDriverFeatures(_ features: VirtioFeatures) {
        setCommon(0x08, size: 4, 0)
        setCommon(0x0C, size: 4, UInt32(truncatingIfNeeded: features.rawValue))
        setCommon(0x08, size: 4, 1)
        setCommon(0x0C, size: 4, UInt32(truncatingIfNeeded: features.rawValue >> 32))
    }

    public func queueMaximum(_ index: Int) -> UInt16 {
        guard index < Int(common(0x12, size: 2)) else { return 0 }
        setCommon(0x16, size: 2, UInt32(index))
        return UInt16(truncatingIfNeeded: common(0x18, size: 2))
    }

    public func setUp(queue index: Int, _ configuration: VirtqueueConfiguration) {
        setCommon(0x16, size: 2, UInt32(index))
        setCommon(0x18, size: 2, UInt32(configuration.size))
        for (low, value) in [(UInt64(0x20), configuration.descriptorArea), (0x28, configuration.driverArea), (0x30, configuration.deviceArea)] {
            setCommon(low, size: 4, UInt32(truncatingIfNeeded: value))
            setCommon(low + 4, size: 4, UInt32(truncatingIfNeeded: value >> 32))
        }
    }

    public func enable(queue index: Int) {
        setCommon(0x16, size: 2, UInt32(index))
        setCommon(0x1C, size: 2, 1)
    }

    public func kick(_ index: Int) {
        guard let (h, base) = access(.notify) else { return }
        setCommon(0x16, size: 2, UInt32(index))
        let notifyOffset = UInt64(common(0x1E, size: 2))
        h.write(offset: base + notifyOffset * UInt64(notifyMultiplier), size: 2, value: UInt64(index))
    }

    /// Reads (and so clears) the ISR.
    public func readISR() -> UInt8 {
        guard let (h, base) = access(.isr) else { return 0 }
        return UInt8(truncatingIfNeeded: h.read(offset: base, size: 1))
    }

    /// Enables MSI-X in the capability and programs vector `v` of the table in BAR `bar` at
    /// `tableOffset` with `address`/`data`, unmasked.
    public func programMSIX(vector v: Int, address: UInt64, data: UInt32, tableBar: Int = 0, tableOffset: UInt64) {
        guard let cap = msixCapability, let table = bars[tableBar] else { return }
        let control = configuration.read(offset: cap + 2, size: 2)
        configuration.write(offset: cap + 2, size: 2, value: control | 0x8000)
        let entry = tableOffset + 16 * UInt64(v)
        table.write(offset: entry, size: 4, value: address & 0xFFFF_FFFF)
        table.write(offset: entry + 4, size: 4, value: address >> 32)
        table.write(offset: entry + 8, size: 4, value: UInt64(data))
        table.write(offset: entry + 12, size: 4, value: 0)
    }

    /// Chooses MSI-X vectors: `config` for configuration changes, `queue` for queue `index`.
    /// Returns what the device read back (`0xFFFF` if it refused).
    public func assignVectors(config: UInt16, queue index: Int, vector: UInt16) -> (config: UInt16, queue: UInt16) {
        setCommon(0x10, size: 2, UInt32(config))
        setCommon(0x16, size: 2, UInt32(index))
        setCommon(0x1A, size: 2, UInt32(vector))
        return (UInt16(truncatingIfNeeded: common(0x10, size: 2)), UInt16(truncatingIfNeeded: common(0x1A, size: 2)))
    }
}
