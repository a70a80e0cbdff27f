import EmuCore
import Synchronization

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
