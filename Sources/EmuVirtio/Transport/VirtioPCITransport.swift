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
/// ``configuration``. The `VIRTIO_PCI_CAP_PCI_CFG` capability gives the same registers through
/// configuration cycles alone (for firmware that cannot map BARs).
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
        // VIRTIO_PCI_CAP_PCI_CFG: bar, offset and length are the driver's to write; the 4 data
        // bytes after them are a window on BAR 0 (``VirtioPCIConfigWindow``).
        let windowBody: [UInt8] = [20, CapabilityType.pciConfig.rawValue, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 12)
        var windowMask = [UInt8](repeating: 0, count: windowBody.count)
        windowMask[2] = 0xFF
        for i in 6..<14 { windowMask[i] = 0xFF }
        let windowCapability = try config.addCapability(id: 0x09, body: windowBody, writableMask: windowMask)
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
        config.addWindow(windowCapability + 16..<windowCapability + 20,
                         handler: VirtioPCIConfigWindow(capability: windowCapability, configuration: config, bar: bar))
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
