import EmuCore

/// The device side of a packed virtqueue (virtio 1.2 §2.8): one descriptor ring that driver and
/// device both write, told apart by wrap counters, and two event suppression structures. See
/// ``Virtqueue`` for the guarantees.
///
/// Layout (little-endian): descriptor `{addr u64, len u32, id u16, flags u16}`; each event
/// suppression structure `{off_wrap u16, flags u16}` (flags: 0 enable, 1 disable, 2 at the
/// descriptor `off_wrap` names, with `VIRTIO_F_EVENT_IDX`).
public final class PackedVirtqueue: Virtqueue {
    public let configuration: VirtqueueConfiguration
    public private(set) var failure: VirtqueueError?
    public private(set) var inFlight = 0

    private let memory: any GuestMemory
    private let ring: RingArea
    private let driverEvents: RingArea
    private let deviceEvents: RingArea
    private let size: Int
    private var nextAvail = 0
    private var availWrap = true
    private var nextUsed = 0
    private var usedWrap = true
    private var notificationsEnabled = true
    private var usedSinceCheck = 0

    private enum EventFlags {
        static let enable: UInt16 = 0
        static let disable: UInt16 = 1
        static let atDescriptor: UInt16 = 2
    }

    /// Checks `configuration` (size 1...32768; ring aligned 16, event structures aligned 4; all
    /// RAM and contiguous) and maps the areas. Both wrap counters start at 1 (a fresh queue).
    /// - Throws: as ``makeVirtqueue(_:memory:)``.
    public init(_ configuration: VirtqueueConfiguration, memory: some GuestMemory) throws(VirtqueueError) {
        let n = configuration.size
        guard n > 0, n <= VirtqueueConfiguration.maximumSize else { throw .invalidSize(n) }
        ring = try RingArea(.descriptors, memory: memory, address: configuration.descriptorArea,
                            length: descriptorSize * Int(n), alignment: 16, writable: true)
        driverEvents = try RingArea(.driverArea, memory: memory, address: configuration.driverArea,
                                    length: 4, alignment: 4, writable: false)
        deviceEvents = try RingArea(.deviceArea, memory: memory, address: configuration.deviceArea,
                                    length: 4, alignment: 4, writable: true)
        self.configuration = configuration
        self.memory = memory
        self.size = Int(n)
    }

    @inline(__always) private static func isAvailable(_ flags: UInt16, wrap: Bool) -> Bool {
        (flags & VirtqueueDescriptorFlags.avail != 0) == wrap && (flags & VirtqueueDescriptorFlags.used != 0) != wrap
    }

    public func pop() throws(VirtqueueError) -> VirtqueueElement? {
        if let failure { throw failure }
        let headFlags = ring.loadAcquire16(nextAvail * descriptorSize + 14)
        guard Self.isAvailable(headFlags, wrap: availWrap) else { return nil }
        var chain = ChainCollector()
        var slot = nextAvail
        var wrap = availWrap
        var slots = 0
        var id: UInt16 = 0
        do throws(VirtqueueError) {
            while true {
                slots += 1
                guard slots <= size else { throw .chainTooLong(limit: size) }
                let o = slot * descriptorSize
                let address = ring.load64(o), length = ring.load32(o + 8)
                let flags = slots == 1 ? headFlags : ring.load16(o + 14)
                id = ring.load16(o + 12)  // the buffer ID is the last descriptor's
                if flags & VirtqueueDescriptorFlags.indirect != 0 {
                    guard configuration.indirectDescriptors else { throw .indirectNotNegotiated }
                    guard flags & VirtqueueDescriptorFlags.next == 0 else { throw .indirectWithNext }
                    try addIndirect(address: address, length: length, to: &chain)
                } else {
                    try chain.add(address: address, length: length, deviceWritable: flags & VirtqueueDescriptorFlags.write != 0)
                }
                slot += 1
                if slot == size { slot = 0; wrap.toggle() }
                if flags & VirtqueueDescriptorFlags.next == 0 { break }
            }
        } catch {
            failure = error
            throw error
        }
        nextAvail = slot
        availWrap = wrap
        inFlight += 1
        if configuration.eventIndex && notificationsEnabled { publishAvailEvent() }
        return VirtqueueElement(id: id, chain: chain, ringSlots: UInt16(slots))
    }

    /// An indirect table's descriptors are consecutive; only their `WRITE` flag counts (§2.8.19):
    /// `NEXT` and `INDIRECT` there are ignored, so no second table is ever followed.
    private func addIndirect(address: UInt64, length: UInt32, to chain: inout ChainCollector) throws(VirtqueueError) {
        let table = try readIndirectTable(address: address, length: length, memory: memory)
        for o in stride(from: 0, to: table.count, by: descriptorSize) {
            try chain.add(address: table.le(UInt64.self, at: o), length: table.le(UInt32.self, at: o + 8),
                          deviceWritable: table.le(UInt16.self, at: o + 14) & VirtqueueDescriptorFlags.write != 0)
        }
    }

    public func push(_ element: VirtqueueElement, writtenLength: UInt32) throws(VirtqueueError) {
        if let failure { throw failure }
        guard inFlight > 0 else { throw .nothingInFlight }
        guard UInt64(writtenLength) <= element.writableLength else {
            throw .usedLengthTooLong(id: element.id, length: writtenLength, writable: element.writableLength)
        }
        let o = nextUsed * descriptorSize
        ring.store32(writtenLength, o + 8)
        ring.store16(element.id, o + 12)
        let flags = usedWrap ? VirtqueueDescriptorFlags.avail | VirtqueueDescriptorFlags.used : 0
        ring.storeRelease16(flags, o + 14)  // the flags last: they hand the slot to the driver
        nextUsed += Int(element.ringSlots)  // ringSlots <= size: at most one wrap
        if nextUsed >= size { nextUsed -= size; usedWrap.toggle() }
        inFlight -= 1
        usedSinceCheck += Int(element.ringSlots)
    }

    public func disableNotifications() {
        notificationsEnabled = false
        deviceEvents.store16(EventFlags.disable, 2)
    }

    public func enableNotifications() -> Bool {
        notificationsEnabled = true
        if configuration.eventIndex {
            publishAvailEvent()
            deviceEvents.store16(EventFlags.atDescriptor, 2)
        } else {
            deviceEvents.store16(EventFlags.enable, 2)
        }
        fullFence()
        return failure == nil && Self.isAvailable(ring.loadAcquire16(nextAvail * descriptorSize + 14), wrap: availWrap)
    }

    private func publishAvailEvent() {
        deviceEvents.store16(UInt16(nextAvail) | (availWrap ? 0x8000 : 0), 0)
    }

    public func shouldInterrupt() -> Bool {
        guard failure == nil, usedSinceCheck > 0 else { return false }
        fullFence()  // our used descriptors before the driver's suppression fields
        let pending = usedSinceCheck
        usedSinceCheck = 0
        switch driverEvents.load16(2) & 3 {
        case EventFlags.disable:
            return false
        case EventFlags.atDescriptor where configuration.eventIndex:
            guard pending < size else { return true }
            // Positions over two laps (the wrap counter's period): was the event slot one of
            // the `pending` slots just written?
            let offWrap = driverEvents.load16(0)
            let lap = 2 * size
            let event = Int(offWrap & 0x7FFF) + (offWrap & 0x8000 != 0 ? 0 : size)
            let new = nextUsed + (usedWrap ? 0 : size)
            return ((new - event - 1) % lap + lap) % lap < pending
        default:
            return true
        }
    }
}
