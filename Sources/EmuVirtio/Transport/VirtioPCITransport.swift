import EmuCore
import Synchronization

/// virtio-pci, modern (virtio 1.2 §4.1): a PCI function whose configuration space carries the
/// virtio capabilities and MSI-X, and whose BAR 0 (64-bit memory, ``barSize`` bytes) holds the
/// common configuration, ISR, device configuration, notification area and the MSI-X table.
///
/// Interrupts go by MSI-X when the guest enabled it (the vector it chose per queue and for
/// configuration; `NO_VECTOR` sends nothing), otherwise by INTx on ``interrupt`` following the
/// ISR bits (unless the command register disables INTx). Reading the ISR clears it.
///
/// The machine maps ``bar`` at the address the guest programs into BAR 0
/// (``PCIConfigurationSpace/barAddress(_:)``) and routes configuration cycles to
/// ``configuration``. The `VIRTIO_PCI_CAP_PCI_CFG` window is not provided.
public final class VirtioPCITransport: Sendable {
    /// The transport-independent state machine.
    public let core: VirtioTransportCore
    /// The function's configuration space.
    public let configuration: PCIConfigurationSpace
    /// MSI-X: one vector per queue plus one for configuration changes.
    public let msix: MSIXController
    /// INTx (pin A).
    public let interrupt: IRQLine
    /// BAR 0's contents as an MMIO handler.
    public let bar: VirtioPCIBar

    /// BAR 0 layout.
    public enum Layout {
        public static let common: UInt64 = 0x0000
        public static let isr: UInt64 = 0x1000
        public static let device: UInt64 = 0x2000
        public static let notify: UInt64 = 0x3000
        public static let notifyMultiplier: UInt32 = 4
        public static let msixTable: UInt64 = 0x4000
        public static let msixPBA: UInt64 = 0x6000
    }
    /// BAR 0's size.
    public static let barSize: UInt64 = 0x8000
    /// "No MSI-X vector".
    public static let noVector: UInt16 = 0xFFFF

    /// Virtio capability types (`cfg_type`).
    public enum CapabilityType: UInt8, Sendable {
        case common = 1, notify = 2, isr = 3, device = 4, pciConfig = 5
    }

    /// A transport for `device` over `memory`; `deliverMSI` sends an MSI-X message (to the
    /// interrupt controller). Queues are limited to 1,024 (the notification area's size).
    public init(device: any VirtioDeviceModel, memory: any GuestMemory, interrupt: IRQLine,
                deliverMSI: @escaping @Sendable (_ address: UInt64, _ data: UInt32) -> Void) throws(PCIConfigurationError) {
        let type = device.deviceType
        let classCode: UInt32 = switch type {
        case .block: 0x01_0000
        case .network: 0x02_0000
        case .console: 0x07_8000
        default: 0x00_FF00
        }
        guard let barResource = PCIBar(.memory64, size: Self.barSize) else { throw .invalidBar(0) }
        let config = try PCIConfigurationSpace(
            vendorID: 0x1AF4, deviceID: UInt16(truncatingIfNeeded: 0x1040 + type.rawValue), revision: 1,
            classCode: classCode, subsystemVendorID: 0x1AF4, subsystemID: 0x1100, interruptPin: 1, bars: [0: barResource])
        let queueCount = min(device.queueMaxSizes.count, 1024)
        let regions: [(CapabilityType, UInt64, UInt32)] = [
            (.common, Layout.common, 0x40), (.isr, Layout.isr, 4),
            (.device, Layout.device, UInt32(max(device.configSize, 4))),
            (.notify, Layout.notify, UInt32(max(queueCount, 1)) * Layout.notifyMultiplier),
        ]
        for (kind, offset, length) in regions {
            var body: [UInt8] = [kind == .notify ? 20 : 16, kind.rawValue, 0, 0, 0, 0]
            body += Self.le32(UInt32(offset)) + Self.le32(length)
            if kind == .notify { body += Self.le32(Layout.notifyMultiplier) }
            try config.addCapability(id: 0x09, body: body)
        }
        let msix = try MSIXController(vectors: queueCount + 1, config: config, bar: 0, tableOffset: UInt32(Layout.msixTable),
                                      pbaOffset: UInt32(Layout.msixPBA), deliver: deliverMSI)
        let vectors = SharedVectors(Vectors(config: Self.noVector, queues: Array(repeating: Self.noVector, count: queueCount)))
        self.core = VirtioTransportCore(device: device, memory: memory) { reason, pending in
            if msix.isEnabled {
                interrupt.set(false)
                config.setInterruptStatus(false)
                guard let reason else { return }
                let vector = vectors.withLock { v -> UInt16 in
                    switch reason {
                    case .queue(let i): return i < v.queues.count ? v.queues[i] : Self.noVector
                    case .configuration: return v.config
                    }
                }
                if vector != Self.noVector { msix.signal(Int(vector)) }
            } else {
                config.setInterruptStatus(pending)
                interrupt.set(pending && config.command & PCIConfigurationSpace.Command.interruptDisable == 0)
            }
        }
        self.configuration = config
        self.msix = msix
        self.interrupt = interrupt
        self.bar = VirtioPCIBar(vectors: vectors, queueCount: queueCount)
        bar.attach(core: core, msix: msix)
        config.observeWrites { [msix] _, _ in msix.deliverPending() }
    }

    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * UInt32($0))) & 0xFF) } }

    /// The vector choices, shared by the interrupt path and the BAR's register decoding.
    final class SharedVectors: Sendable {
        let state: Mutex<Vectors>
        init(_ vectors: Vectors) { state = Mutex(vectors) }
        func withLock<R: Sendable>(_ body: (inout Vectors) -> R) -> R { state.withLock { body(&$0) } }
    }

    /// MSI-X vector choices and selectors (the driver writes them in the common configuration).
    struct Vectors {
        var config: UInt16
        var queues: [UInt16]
        var deviceFeatureSelect: UInt32 = 0
        var driverFeatureSelect: UInt32 = 0
        var queueSelect: UInt16 = 0
    }
}

/// BAR 0 of a ``VirtioPCITransport``: decodes the common configuration (§4.1.4.3), ISR,
/// device configuration, notifications and the MSI-X table and PBA.
public final class VirtioPCIBar: MMIOHandler {
    private let vectors: VirtioPCITransport.SharedVectors
    private let queueCount: Int
    private let parts = Mutex<(core: VirtioTransportCore, msix: MSIXController)?>(nil)
    public var accessSizes: MMIOAccessSizes { Self.sizes }
    private static let sizes = MMIOAccessSizes(minSize: 1, maxSize: 4) ?? .dwords
    private typealias L = VirtioPCITransport.Layout

    init(vectors: VirtioPCITransport.SharedVectors, queueCount: Int) {
        self.vectors = vectors
        self.queueCount = queueCount
    }

    func attach(core: VirtioTransportCore, msix: MSIXController) { parts.withLock { $0 = (core, msix) } }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        guard let (core, msix) = parts.withLock({ $0 }) else { return 0 }
        switch offset {
        case L.common..<L.common + 0x40: return UInt64(readCommon(offset - L.common, size, core))
        case L.isr..<L.isr + 4: return UInt64(core.takeInterruptStatus())
        case L.device..<L.notify: return UInt64(core.readConfig(offset: offset - L.device, size: size))
        case L.msixTable..<L.msixPBA: return UInt64(msix.tableRead(offset: offset - L.msixTable, size: size))
        case L.msixPBA..<VirtioPCITransport.barSize: return UInt64(msix.pbaRead(offset: offset - L.msixPBA, size: size))
        default: return 0
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        guard let (core, msix) = parts.withLock({ $0 }) else { return }
        let v = UInt32(truncatingIfNeeded: value)
        switch offset {
        case L.common..<L.common + 0x40: writeCommon(offset - L.common, size, v, core, msix)
        case L.device..<L.notify: core.writeConfig(offset: offset - L.device, size: size, value: v)
        case L.notify..<L.msixTable:
            let queue = (offset - L.notify) / UInt64(L.notifyMultiplier)
            if queue < UInt64(queueCount) { core.notify(queue: UInt32(queue)) }
        case L.msixTable..<L.msixPBA: msix.tableWrite(offset: offset - L.msixTable, size: size, value: v)
        default: break  // the ISR and the PBA are read-only
        }
    }

    private func readCommon(_ o: UInt64, _ size: Int, _ core: VirtioTransportCore) -> UInt32 {
        let sel = vectors.withLock { $0 }
        let q = UInt32(sel.queueSelect)
        let setup = core.queueSetup(q)
        switch (o, size) {
        case (0x00, 4): return sel.deviceFeatureSelect
        case (0x04, 4): return core.offeredFeatureWord(sel.deviceFeatureSelect)
        case (0x08, 4): return sel.driverFeatureSelect
        case (0x0C, 4): return core.driverFeatureWord(sel.driverFeatureSelect)
        case (0x10, 2): return UInt32(sel.config)
        case (0x12, 2): return UInt32(queueCount)
        case (0x14, 1): return UInt32(core.status.rawValue)
        case (0x15, 1): return core.configGeneration & 0xFF
        case (0x16, 2): return UInt32(sel.queueSelect)
        case (0x18, 2): return UInt32(setup.size)
        case (0x1A, 2): return Int(q) < sel.queues.count ? UInt32(sel.queues[Int(q)]) : UInt32(VirtioPCITransport.noVector)
        case (0x1C, 2): return core.isQueueReady(q) ? 1 : 0
        case (0x1E, 2): return Int(q) < queueCount ? q : 0
        case (0x20, 4): return UInt32(truncatingIfNeeded: setup.descriptorArea)
        case (0x24, 4): return UInt32(truncatingIfNeeded: setup.descriptorArea >> 32)
        case (0x28, 4): return UInt32(truncatingIfNeeded: setup.driverArea)
        case (0x2C, 4): return UInt32(truncatingIfNeeded: setup.driverArea >> 32)
        case (0x30, 4): return UInt32(truncatingIfNeeded: setup.deviceArea)
        case (0x34, 4): return UInt32(truncatingIfNeeded: setup.deviceArea >> 32)
        default: return 0
        }
    }

    private func writeCommon(_ o: UInt64, _ size: Int, _ v: UInt32, _ core: VirtioTransportCore, _ msix: MSIXController) {
        let q = UInt32(vectors.withLock { $0.queueSelect })
        func low(_ old: UInt64) -> UInt64 { old & ~0xFFFF_FFFF | UInt64(v) }
        func high(_ old: UInt64) -> UInt64 { old & 0xFFFF_FFFF | UInt64(v) << 32 }
        /// A vector the device can map, else NO_VECTOR (the driver reads it back to find out).
        func vector(_ v: UInt32) -> UInt16 { v < UInt32(msix.vectorCount) ? UInt16(v) : VirtioPCITransport.noVector }
        switch (o, size) {
        case (0x00, 4): vectors.withLock { $0.deviceFeatureSelect = v }
        case (0x08, 4): vectors.withLock { $0.driverFeatureSelect = v }
        case (0x0C, 4): core.setDriverFeatureWord(vectors.withLock { $0.driverFeatureSelect }, v)
        case (0x10, 2): vectors.withLock { $0.config = vector(v) }
        case (0x14, 1): core.writeStatus(UInt8(truncatingIfNeeded: v))
        case (0x16, 2): vectors.withLock { $0.queueSelect = UInt16(truncatingIfNeeded: v) }
        case (0x18, 2): core.updateQueue(q) { $0.size = UInt16(truncatingIfNeeded: v) }
        case (0x1A, 2): vectors.withLock { s in if Int(q) < s.queues.count { s.queues[Int(q)] = vector(v) } }
        case (0x1C, 2): if v == 1 { core.setQueueReady(q, true) }  // 0 is not a way to disable (§4.1.4.3.2)
        case (0x20, 4): core.updateQueue(q) { $0.descriptorArea = low($0.descriptorArea) }
        case (0x24, 4): core.updateQueue(q) { $0.descriptorArea = high($0.descriptorArea) }
        case (0x28, 4): core.updateQueue(q) { $0.driverArea = low($0.driverArea) }
        case (0x2C, 4): core.updateQueue(q) { $0.driverArea = high($0.driverArea) }
        case (0x30, 4): core.updateQueue(q) { $0.deviceArea = low($0.deviceArea) }
        case (0x34, 4): core.updateQueue(q) { $0.deviceArea = high($0.deviceArea) }
        default: break
        }
        if (o, size) == (0x14, 1), v == 0 {
            vectors.withLock { s in  // reset also forgets the vector choices
                s.config = VirtioPCITransport.noVector
                s.queues = Array(repeating: VirtioPCITransport.noVector, count: s.queues.count)
            }
        }
    }
}
