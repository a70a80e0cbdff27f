import EmuCore
import Synchronization

/// The BAR regions of one PCI function, kept where the guest programmed them: each BAR's
/// handler is an MMIO region in the bridge's memory or I/O window container, placed at the BAR's
/// address while the command register enables its space, disabled otherwise.
final class PCIBarMapping: Sendable {
    private struct Slot {
        let index: Int
        let resource: PCIBar
        let region: MemoryRegion
        var mappedAt: UInt64?
    }

    let configuration: PCIConfigurationSpace
    private let memory: MemoryRegion
    private let io: MemoryRegion
    private let slots: Mutex<[Slot]>

    /// Creates the regions for `handlers` (BAR index → handler), disabled, in `memory` or `io`.
    /// - Throws: ``PCIHostBridgeError/noSuchBar(device:function:bar:)`` for a handler without a
    ///   declared BAR; ``PCIHostBridgeError/memoryTopology(_:)`` if a region cannot be made.
    init(configuration: PCIConfigurationSpace, handlers: [Int: any MMIOHandler], label: String,
         device: Int, function: Int, memory: MemoryRegion, io: MemoryRegion) throws(PCIHostBridgeError) {
        self.configuration = configuration
        self.memory = memory
        self.io = io
        var slots: [Slot] = []
        for (index, handler) in handlers.sorted(by: { $0.key < $1.key }) {
            guard let resource = configuration.bar(index) else {
                throw .noSuchBar(device: device, function: function, bar: index)
            }
            do {
                let region = try MemoryRegion.mmio(name: "\(label).bar\(index)", size: resource.size, handler: handler)
                region.isEnabled = false
                try (resource.kind == .io ? io : memory).addSubregion(region, at: 0)
                slots.append(Slot(index: index, resource: resource, region: region))
            } catch {
                throw .memoryTopology("\(error)")
            }
        }
        self.slots = Mutex(slots)
    }

    /// Moves, shows or hides each BAR's region to match the configuration space now (one
    /// topology rebuild for all of them).
    func update() {
        slots.withLock { slots in
            MemoryRegion.transaction {
                for i in slots.indices {
                    let wanted = configuration.barAddress(slots[i].index)
                    guard wanted != slots[i].mappedAt else { continue }
                    let region = slots[i].region
                    region.isEnabled = false
                    if let wanted {
                        region.setOffsetInContainer(wanted)
                        region.isEnabled = true
                    }
                    slots[i].mappedAt = wanted
                }
            }
        }
    }

    /// Where each BAR is mapped now (BAR index → address), for inspection.
    var mappedAddresses: [Int: UInt64] {
        slots.withLock { slots in
            Dictionary(uniqueKeysWithValues: slots.compactMap { slot in slot.mappedAt.map { (slot.index, $0) } })
        }
    }
}
