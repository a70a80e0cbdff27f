import EmuCore
import Synchronization

/// virtio-mmio version 2 (virtio 1.2 §4.2.2): the device's registers as an ``MMIOHandler`` to
/// map into an address space (0x200 bytes: registers, then configuration space at 0x100), and
/// one level-triggered interrupt line.
///
/// Registers take aligned 32-bit accesses; other accesses to the register block read 0 and are
/// ignored on write. Configuration space takes 8-, 16- and 32-bit accesses. The status machine,
/// features and queue rules are ``VirtioTransportCore``'s.
public final class VirtioMMIOTransport: MMIOHandler {
    /// The transport-independent state machine.
    public let core: VirtioTransportCore
    /// The interrupt line: high while any interrupt status bit is set.
    public let interrupt: IRQLine
    private let selectors = Mutex(Selectors())

    private struct Selectors {
        var deviceFeatures: UInt32 = 0
        var driverFeatures: UInt32 = 0
        var queue: UInt32 = 0
    }

    /// The size of the MMIO region to map.
    public static let regionSize: UInt64 = 0x200
    /// "virt" in little-endian.
    public static let magic: UInt32 = 0x7472_6976
    /// The vendor ID reported ("EMU " in little-endian; drivers do not depend on it).
    public static let vendorID: UInt32 = 0x2055_4D45

    /// Register offsets (virtio 1.2 §4.2.2).
    public enum Register {
        public static let magicValue: UInt64 = 0x000
        public static let version: UInt64 = 0x004
        public static let deviceID: UInt64 = 0x008
        public static let vendorID: UInt64 = 0x00C
        public static let deviceFeatures: UInt64 = 0x010
        public static let deviceFeaturesSelect: UInt64 = 0x014
        public static let driverFeatures: UInt64 = 0x020
        public static let driverFeaturesSelect: UInt64 = 0x024
        public static let queueSelect: UInt64 = 0x030
        public static let queueSizeMax: UInt64 = 0x034
        public static let queueSize: UInt64 = 0x038
        public static let queueReady: UInt64 = 0x044
        public static let queueNotify: UInt64 = 0x050
        public static let interruptStatus: UInt64 = 0x060
        public static let interruptACK: UInt64 = 0x064
        public static let status: UInt64 = 0x070
        public static let queueDescriptorLow: UInt64 = 0x080
        public static let queueDescriptorHigh: UInt64 = 0x084
        public static let queueDriverLow: UInt64 = 0x090
        public static let queueDriverHigh: UInt64 = 0x094
        public static let queueDeviceLow: UInt64 = 0x0A0
        public static let queueDeviceHigh: UInt64 = 0x0A4
        public static let sharedMemorySelect: UInt64 = 0x0AC
        public static let sharedMemoryLengthLow: UInt64 = 0x0B0
        public static let sharedMemoryLengthHigh: UInt64 = 0x0B4
        public static let sharedMemoryBaseLow: UInt64 = 0x0B8
        public static let sharedMemoryBaseHigh: UInt64 = 0x0BC
        public static let configGeneration: UInt64 = 0x0FC
        public static let config: UInt64 = 0x100
    }

    /// Serves `device` over `memory`, raising `interrupt` while an interrupt is pending.
    public init(device: any VirtioDeviceModel, memory: any GuestMemory, interrupt: IRQLine) {
        self.interrupt = interrupt
        self.core = VirtioTransportCore(device: device, memory: memory) { _, pending in interrupt.set(pending) }
    }

    public var accessSizes: MMIOAccessSizes { Self.sizes }
    private static let sizes = MMIOAccessSizes(minSize: 1, maxSize: 4) ?? .dwords

    public func read(offset: UInt64, size: Int) -> UInt64 {
        if offset >= Register.config { return UInt64(core.readConfig(offset: offset - Register.config, size: size)) }
        guard size == 4 else { return 0 }
        let sel = selectors.withLock { $0 }
        let value: UInt32
        switch offset {
        case Register.magicValue: value = Self.magic
        case Register.version: value = 2
        case Register.deviceID: value = core.device.deviceType.rawValue
        case Register.vendorID: value = Self.vendorID
        case Register.deviceFeatures: value = core.offeredFeatureWord(sel.deviceFeatures)
        case Register.queueSizeMax: value = UInt32(core.queueMaxSize(sel.queue))
        case Register.queueSize: value = UInt32(core.queueSetup(sel.queue).size)
        case Register.queueReady: value = core.isQueueReady(sel.queue) ? 1 : 0
        case Register.queueDescriptorLow: value = UInt32(truncatingIfNeeded: core.queueSetup(sel.queue).descriptorArea)
        case Register.queueDescriptorHigh: value = UInt32(truncatingIfNeeded: core.queueSetup(sel.queue).descriptorArea >> 32)
        case Register.queueDriverLow: value = UInt32(truncatingIfNeeded: core.queueSetup(sel.queue).driverArea)
        case Register.queueDriverHigh: value = UInt32(truncatingIfNeeded: core.queueSetup(sel.queue).driverArea >> 32)
        case Register.queueDeviceLow: value = UInt32(truncatingIfNeeded: core.queueSetup(sel.queue).deviceArea)
        case Register.queueDeviceHigh: value = UInt32(truncatingIfNeeded: core.queueSetup(sel.queue).deviceArea >> 32)
        case Register.interruptStatus: value = core.interruptStatus
        case Register.status: value = UInt32(core.status.rawValue)
        case Register.sharedMemoryLengthLow, Register.sharedMemoryLengthHigh: value = UInt32.max  // no region
        case Register.configGeneration: value = core.configGeneration
        default: value = 0
        }
        return UInt64(value)
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        if offset >= Register.config {
            return core.writeConfig(offset: offset - Register.config, size: size, value: UInt32(truncatingIfNeeded: value))
        }
        guard size == 4 else { return }
        let v = UInt32(truncatingIfNeeded: value)
        let queue = selectors.withLock { $0.queue }
        func low(_ old: UInt64) -> UInt64 { old & ~0xFFFF_FFFF | UInt64(v) }
        func high(_ old: UInt64) -> UInt64 { old & 0xFFFF_FFFF | UInt64(v) << 32 }
        switch offset {
        case Register.deviceFeaturesSelect: selectors.withLock { $0.deviceFeatures = v }
        case Register.driverFeaturesSelect: selectors.withLock { $0.driverFeatures = v }
        case Register.driverFeatures: core.setDriverFeatureWord(selectors.withLock { $0.driverFeatures }, v)
        case Register.queueSelect: selectors.withLock { $0.queue = v }
        case Register.queueSize: core.updateQueue(queue) { $0.size = UInt16(clamping: v) }
        case Register.queueReady: core.setQueueReady(queue, v & 1 == 1)
        case Register.queueNotify: core.notify(queue: v & 0xFFFF)
        case Register.interruptACK: core.acknowledgeInterrupts(v)
        case Register.status: core.writeStatus(UInt8(truncatingIfNeeded: v))
        case Register.queueDescriptorLow: core.updateQueue(queue) { $0.descriptorArea = low($0.descriptorArea) }
        case Register.queueDescriptorHigh: core.updateQueue(queue) { $0.descriptorArea = high($0.descriptorArea) }
        case Register.queueDriverLow: core.updateQueue(queue) { $0.driverArea = low($0.driverArea) }
        case Register.queueDriverHigh: core.updateQueue(queue) { $0.driverArea = high($0.driverArea) }
        case Register.queueDeviceLow: core.updateQueue(queue) { $0.deviceArea = low($0.deviceArea) }
        case Register.queueDeviceHigh: core.updateQueue(queue) { $0.deviceArea = high($0.deviceArea) }
        default: break  // read-only or reserved
        }
    }
}
