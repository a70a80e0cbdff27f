import EmuCore
import Synchronization

/// PCI bus 0: the functions attached at device/function numbers, configuration reads and writes
/// by address (for the configuration ports and ECAM), and the functions' BARs, kept mapped
/// where the guest programs them.
///
/// BAR regions live in two containers: ``memoryWindow`` (add it to the machine's memory at 0
/// with a priority **below** RAM and the platform devices, e.g. -1) and ``ioWindow`` (the same
/// in the I/O ports). So a BAR the guest moves over RAM, the APICs, ECAM or firmware is
/// shadowed by them where they overlap: RAM wins, as in QEMU's PC; the device is unreachable
/// there and the host's memory stays what it was. A BAR is visible only while its space is
/// enabled in the command register; it moves when the guest writes a new base.
///
/// Unattached functions and other buses read all-ones; writes to them are ignored. Config
/// registers beyond the 256-byte header (ECAM's extended space) read 0 on attached functions.
/// INTx is not routed: functions interrupt by MSI-X.
public final class PCIRootBus: Sendable {
    /// Container for memory BARs (size: the 64-bit space).
    public let memoryWindow: MemoryRegion
    /// Container for I/O BARs (64 KiB).
    public let ioWindow: MemoryRegion
    private let functions = Mutex<[Int: PCIBarMapping]>([:])

    /// An empty bus.
    /// - Throws: ``PCIHostBridgeError/memoryTopology(_:)`` (never for these fixed sizes).
    public init() throws(PCIHostBridgeError) {
        do {
            memoryWindow = try MemoryRegion.container(name: "pci.memory", size: .max)
            ioWindow = try MemoryRegion.container(name: "pci.io", size: 0x1_0000)
        } catch {
            throw .memoryTopology("\(error)")
        }
    }

    /// Attaches a function at `device`.`function` with `bars` (BAR index → the handler of its
    /// contents). A function other than 0 marks function 0 of its device multi-function
    /// (header type bit 7), so the guest scans it.
    /// - Throws: ``PCIHostBridgeError`` for a bad or used address or a handler without a BAR.
    public func attach(_ configuration: PCIConfigurationSpace, bars: [Int: any MMIOHandler] = [:],
                       device: Int, function: Int) throws(PCIHostBridgeError) {
        guard (0..<32).contains(device), (0..<8).contains(function) else {
            throw .invalidAddress(device: device, function: function)
        }
        let key = device << 3 | function
        let label = "pci.00:\(String(device, radix: 16)).\(function)"
        let mapping = try PCIBarMapping(configuration: configuration, handlers: bars, label: label,
                                        device: device, function: function, memory: memoryWindow, io: ioWindow)
        try functions.withLock { (functions) throws(PCIHostBridgeError) in
            guard functions[key] == nil else { throw .slotInUse(device: device, function: function) }
            functions[key] = mapping
            let siblings = (0..<8).filter { functions[device << 3 | $0] != nil }
            if siblings.count > 1, let first = functions[device << 3] {
                first.configuration.withBytes { $0[PCIConfigurationSpace.Offset.headerType] |= 0x80 }
            }
        }
        mapping.update()
    }

    /// The configuration space at `device`.`function`, if attached.
    public func configuration(device: Int, function: Int) -> PCIConfigurationSpace? {
        mapping(bus: 0, device: device, function: function)?.configuration
    }

    /// Where the function's BARs are mapped now (BAR index → address).
    public func mappedBars(device: Int, function: Int) -> [Int: UInt64] {
        mapping(bus: 0, device: device, function: function)?.mappedAddresses ?? [:]
    }

    /// A configuration read of `size` (1, 2 or 4) bytes at `offset` (0–4095, within one
    /// dword). All-ones where no function answers.
    public func read(bus: Int, device: Int, function: Int, offset: Int, size: Int) -> UInt32 {
        let ones: UInt32 = size >= 4 ? .max : (UInt32(1) << UInt32(size * 8)) - 1
        guard let mapping = mapping(bus: bus, device: device, function: function) else { return ones }
        guard offset >= 0, offset + size <= 256 else { return 0 }
        return mapping.configuration.read(offset: offset, size: size) & ones
    }

    /// A configuration write; a write that touches the command register or a BAR re-maps the
    /// function's BARs. Ignored where no function answers.
    public func write(bus: Int, device: Int, function: Int, offset: Int, size: Int, value: UInt32) {
        guard let mapping = mapping(bus: bus, device: device, function: function),
              offset >= 0, offset + size <= 256 else { return }
        mapping.configuration.write(offset: offset, size: size, value: value)
        let touched = offset..<offset + size
        if touched.overlaps(0x04..<0x06) || touched.overlaps(0x10..<0x28) { mapping.update() }
    }

    /// Assigns every BAR of every attached function an address inside `windows`, as firmware
    /// does: largest first, naturally aligned, 64-bit memory BARs in the 64-bit window when
    /// there is one; then enables memory and I/O decoding in each function's command register.
    /// Returns the assignments.
    /// - Throws: ``PCIHostBridgeError/windowExhausted(device:function:bar:size:)``; BARs
    ///   assigned before the one that did not fit stay programmed.
    @discardableResult
    public func assignResources(in windows: PCIResourceWindows) throws(PCIHostBridgeError) -> [PCIResourceAssignment] {
        let attached = functions.withLock { $0 }
        var wanted: [(key: Int, bar: Int, resource: PCIBar)] = []
        for (key, mapping) in attached {
            for index in 0..<6 {
                if let resource = mapping.configuration.bar(index) { wanted.append((key, index, resource)) }
            }
        }
        wanted.sort { ($0.resource.size, -$0.key, -$0.bar) > ($1.resource.size, -$1.key, -$1.bar) }
        var cursors: [UInt64] = [windows.mmio32.lowerBound, windows.mmio64?.lowerBound ?? 0, windows.io.lowerBound]
        let limits: [UInt64] = [windows.mmio32.upperBound, windows.mmio64?.upperBound ?? 0, windows.io.upperBound]
        var assignments: [PCIResourceAssignment] = []
        for item in wanted {
            let device = item.key >> 3, function = item.key & 7
            let window: Int = switch item.resource.kind {
            case .io: 2
            case .memory64: windows.mmio64 == nil ? 0 : 1
            case .memory32: 0
            }
            let size = item.resource.size
            let (padded, overflow) = cursors[window].addingReportingOverflow(size - 1)
            let base = padded & ~(size - 1)
            guard !overflow, base < limits[window], limits[window] - base >= size else {
                throw .windowExhausted(device: device, function: function, bar: item.bar, size: size)
            }
            cursors[window] = base + size
            let offset = PCIConfigurationSpace.Offset.bar0 + 4 * item.bar
            write(bus: 0, device: device, function: function, offset: offset, size: 4,
                  value: UInt32(truncatingIfNeeded: base))
            if item.resource.kind == .memory64 {
                write(bus: 0, device: device, function: function, offset: offset + 4, size: 4,
                      value: UInt32(truncatingIfNeeded: base >> 32))
            }
            assignments.append(PCIResourceAssignment(device: device, function: function, bar: item.bar,
                                                     kind: item.resource.kind, address: base, size: size))
        }
        for (key, mapping) in attached {
            var decode: UInt16 = 0
            for index in 0..<6 {
                guard let resource = mapping.configuration.bar(index) else { continue }
                decode |= resource.kind == .io ? PCIConfigurationSpace.Command.ioSpace : PCIConfigurationSpace.Command.memorySpace
            }
            guard decode != 0 else { continue }
            let command = UInt32(mapping.configuration.command | decode)
            write(bus: 0, device: key >> 3, function: key & 7, offset: PCIConfigurationSpace.Offset.command,
                  size: 2, value: command)
        }
        return assignments
    }

    private func mapping(bus: Int, device: Int, function: Int) -> PCIBarMapping? {
        guard bus == 0, (0..<32).contains(device), (0..<8).contains(function) else { return nil }
        return functions.withLock { $0[device << 3 | function] }
    }
}
