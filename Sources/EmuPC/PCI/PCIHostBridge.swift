import EmuCore

/// The PC's PCI host bridge: bus 0 (``PCIRootBus``) with the bridge itself at 00:00.0 (class
/// 06/00, host bridge), reached through configuration mechanism #1 (``configurationPorts``)
/// and ECAM (``ecam``), with BAR assignment as firmware does it.
///
/// Wiring (the machine does this):
/// ```swift
/// try system.addSubregion(bridge.bus.memoryWindow, at: 0, priority: -1)   // below RAM
/// try ioRoot.addSubregion(bridge.bus.ioWindow, at: 0, priority: -1)
/// try ioRoot.addSubregion(.mmio(name: "pci-conf", size: 8, handler: bridge.configurationPorts),
///                         at: PCMemoryMap.pciConfigurationPorts)
/// try system.addSubregion(.mmio(name: "ecam", size: PCMemoryMap.ecamSize, handler: bridge.ecam),
///                         at: PCMemoryMap.ecamBase)
/// try bridge.bus.attach(transport.configuration, bars: [0: transport.bar], device: 1, function: 0)
/// try bridge.bus.assignResources(in: .pc(memorySize: memorySize))
/// ```
public final class PCIHostBridge: Sendable {
    /// The host bridge's vendor ID (Red Hat's, as QEMU's generic PCIe host bridge uses: no
    /// guest driver or quirk attaches to it).
    public static let vendorID: UInt16 = 0x1B36
    /// The host bridge's device ID.
    public static let deviceID: UInt16 = 0x0008

    /// Bus 0.
    public let bus: PCIRootBus
    /// The host bridge's own configuration space (00:00.0).
    public let configuration: PCIConfigurationSpace
    /// Configuration mechanism #1, for I/O ports 0xCF8–0xCFF.
    public let configurationPorts: PCIConfigurationPorts
    /// The ECAM window.
    public let ecam: PCIExpressConfigurationWindow

    /// A bridge with an empty bus 0 (but for itself). Byte accesses at port 0xCF9, inside the
    /// configuration address dword, go to `resetControl` (the chipset's reset control
    /// register, ``ResetControlRegister``), if given.
    /// - Throws: ``PCIHostBridgeError`` (never for this fixed layout).
    public init(resetControl: (any MMIOHandler)? = nil) throws(PCIHostBridgeError) {
        bus = try PCIRootBus()
        do {
            configuration = try PCIConfigurationSpace(vendorID: Self.vendorID, deviceID: Self.deviceID, revision: 0,
                                                      classCode: 0x06_0000, subsystemVendorID: 0x1AF4,
                                                      subsystemID: 0x1100, interruptPin: 0, bars: [:])
        } catch {
            throw .memoryTopology("host bridge configuration: \(error)")
        }
        try bus.attach(configuration, device: 0, function: 0)
        configurationPorts = PCIConfigurationPorts(bus: bus, resetControl: resetControl)
        ecam = PCIExpressConfigurationWindow(bus: bus)
    }
}
