import EmuCore

/// The device side of a split virtqueue (virtio 1.2 §2.7): a descriptor table, an available ring
/// the driver fills, a used ring the device fills. See ``Virtqueue`` for the guarantees.
///
/// Layout (little-endian): descriptor `{addr u64, len u32, flags u16, next u16}`; available ring
/// `{flags u16, idx u16, ring[size] u16, used_event u16}`; used ring `{flags u16, idx u16,
/// ring[size] {id u32, len u32}, avail_event u16}`.
public final class SplitVirtqueue: Virtqueue {
    public let configuration: VirtqueueConfiguration
    public private(set) var failure: VirtqueueError?
    public private(set) var inFlight = 0

    private let memory: any GuestMemory
    private let descriptors: RingArea
    private let avail: RingArea
    private let used: RingArea
    private let size: UInt16
    private var lastAvail: UInt16 = 0
    private var usedIndex: UInt16 = 0
    private var notificationsEnabled = true
    private var lastSignalledUsed: UInt16 = 0
    private var pushedSinceCheck = 0

    private static let availRingOffset = 4
    private static let usedRingOffset = 4
    private static let availNoInterrupt: UInt16 = 1
    private static let usedNoNotify: UInt16 = 1

    /// Checks `configuration` (a power-of-two size up to 32768; areas aligned 16/2/4, RAM,
    /// contiguous) and maps the rings. The driver's indices start at 0 (a fresh queue).
    /// - Throws: as ``makeVirtqueue(_:memory:)``.
    public init(_ configuration: VirtqueueConfiguration, memory: some GuestMemory) throws(VirtqueueError) {
        let n = configuration.size
        guard n > 0, n <= VirtqueueConfiguration.maximumSize, n & (n - 1) == 0 else { throw .invalidSize(n) }
        let event = configuration.eventIndex ? 2 : 0
        descriptors = try RingArea(.descriptors, memory: memory, address: configuration.descriptorArea,
                                   length: descriptorSize * Int(n), alignment: 16, writable: false)
        avail = try RingArea(.driverArea, memory: memory, address: configuration.driverArea,
                             length: 4 + 2 * Int(n) + event, alignment: 2, writable: false)
        used = try RingArea(.deviceArea, memory: memory, address: configuration.deviceArea,
                            length: 4 + 8 * Int(n) + event, alignment: 4, writable: true)
        self.configuration = configuration
        self.memory = memory
        self.size = n
    }

    /// A queue that resumes a ring another device instance served (a vhost-user back end taking
    /// over after a reconnect, say): the next chain taken is the one at available index
    /// `availIndex`, the next used element goes to used index `usedIndex` (normally the used
    /// ring's index in memory). Both are the caller's values, not checked against the rings.
    /// - Throws: as ``init(_:memory:)``.
    public convenience init(_ configuration: VirtqueueConfiguration, memory: some GuestMemory,
                            resumingAt availIndex: UInt16, usedIndex: UInt16) throws(VirtqueueError) {
        try self.init(configuration, memory: memory)
        lastAvail = availIndex
        self.usedIndex = usedIndex
        lastSignalledUsed = usedIndex
    }

    public func pop() throws(VirtqueueError) -> VirtqueueElement? {
        if let failure { throw failure }
        let availIndex = avail.loadAcquire16(2)
        let pending = availIndex &- lastAvail
        guard pending != 0 else { return nil }
        guard pending <= size else { try fail(.availIndexJump(lastSeen: lastAvail, now: availIndex, size: size)) }
        let head = avail.load16(Self.availRingOffset + 2 * Int(lastAvail & (size - 1)))
        guard head < size else { try fail(.headOutOfRange(index: head, size: size)) }
        let chain: ChainCollector
        do { chain = try walk(from: head) } catch { try fail(error) }
        lastAvail &+= 1
        inFlight += 1
        if configuration.eventIndex && notificationsEnabled {
            used.store16(lastAvail, Self.usedRingOffset + 8 * Int(size))  // avail_event
        }
        return VirtqueueElement(id: head, chain: chain, ringSlots: 1)
    }

    /// Takes the chain at descriptor `head` again without consuming an available entry: a
    /// request an earlier device instance took from this ring and did not finish (a vhost-user
    /// back end resubmitting what its in-flight region records). The resume index given to
    /// ``init(_:memory:resumingAt:usedIndex:)`` must already count it. Push it like a popped one.
    /// - Throws: ``VirtqueueError/headOutOfRange(index:size:)`` for a head past the ring (the
    ///   queue goes on), a chain error as ``pop()`` (the queue fails).
    public func resubmit(head: UInt16) throws(VirtqueueError) -> VirtqueueElement {
        if let failure { throw failure }
        guard head < size else { throw .headOutOfRange(index: head, size: size) }
        let chain: ChainCollector
        do { chain = try walk(from: head) } catch { try fail(error) }
        inFlight += 1
        return VirtqueueElement(id: head, chain: chain, ringSlots: 1)
    }

    /// Follows a chain from `head` through the descriptor table and at most one indirect table.
    private func walk(from head: UInt16) throws(VirtqueueError) -> ChainCollector {
        var chain = ChainCollector()
        var index = Int(head)
        var indirect: [UInt8]? = nil  // the table being walked, nil for the ring's own table
        var tableSize = Int(size)
        var visited = 0
        while true {
            visited += 1
            guard visited <= tableSize else { throw .chainTooLong(limit: tableSize) }
            let address: UInt64, length: UInt32, flags: UInt16, next: UInt16
            if let table = indirect {
                let o = index * descriptorSize
                (address, length) = (table.le(UInt64.self, at: o), table.le(UInt32.self, at: o + 8))
                (flags, next) = (table.le(UInt16.self, at: o + 12), table.le(UInt16.self, at: o + 14))
            } else {
                let o = index * descriptorSize
                (address, length) = (descriptors.load64(o), descriptors.load32(o + 8))
                (flags, next) = (descriptors.load16(o + 12), descriptors.load16(o + 14))
            }
            if flags & VirtqueueDescriptorFlags.indirect != 0 {
                guard configuration.indirectDescriptors else { throw .indirectNotNegotiated }
                guard indirect == nil else { throw .nestedIndirect }
                guard flags & VirtqueueDescriptorFlags.next == 0 else { throw .indirectWithNext }
                let table = try readIndirectTable(address: address, length: length, memory: memory)
                indirect = table
                tableSize = table.count / descriptorSize
                index = 0
                visited = 0
                continue
            }
            try chain.add(address: address, length: length, deviceWritable: flags & VirtqueueDescriptorFlags.write != 0)
            guard flags & VirtqueueDescriptorFlags.next != 0 else { return chain }
            guard Int(next) < tableSize else { throw .nextOutOfRange(index: next, tableSize: tableSize) }
            index = Int(next)
        }
    }

    public func push(_ element: VirtqueueElement, writtenLength: UInt32) throws(VirtqueueError) {
        if let failure { throw failure }
        guard inFlight > 0 else { throw .nothingInFlight }
        guard UInt64(writtenLength) <= element.writableLength else {
            throw .usedLengthTooLong(id: element.id, length: writtenLength, writable: element.writableLength)
        }
        let slot = Self.usedRingOffset + 8 * Int(usedIndex & (size - 1))
        used.store32(UInt32(element.id), slot)
        used.store32(writtenLength, slot + 4)
        usedIndex &+= 1
        used.storeRelease16(usedIndex, 2)
        inFlight -= 1
        pushedSinceCheck += 1
    }

    public func disableNotifications() {
        notificationsEnabled = false
        if !configuration.eventIndex { used.store16(Self.usedNoNotify, 0) }
    }

    public func enableNotifications() -> Bool {
        notificationsEnabled = true
        if configuration.eventIndex {
            used.store16(lastAvail, Self.usedRingOffset + 8 * Int(size))
        } else {
            used.store16(0, 0)
        }
        fullFence()
        return failure == nil && avail.loadAcquire16(2) != lastAvail
    }

    public func shouldInterrupt() -> Bool {
        guard failure == nil, pushedSinceCheck > 0 else { return false }
        fullFence()  // our used-index store before the driver's suppression fields
        let old = lastSignalledUsed
        let pushed = pushedSinceCheck
        lastSignalledUsed = usedIndex
        pushedSinceCheck = 0
        guard pushed <= Int(UInt16.max) else { return true }  // the 16-bit indices wrapped past old
        if configuration.eventIndex {
            let usedEvent = avail.load16(Self.availRingOffset + 2 * Int(size))
            return eventIndexPassed(event: usedEvent, new: usedIndex, old: old)
        }
        return avail.load16(0) & Self.availNoInterrupt == 0
    }

    private func fail(_ error: VirtqueueError) throws(VirtqueueError) -> Never {
        failure = error
        throw error
    }
}

/// `VIRTIO_F_EVENT_IDX` (virtio 1.2 §2.7.10): whether moving an index from `old` to `new` passed
/// `event`, i.e. `event` is one of the indices `old ..< new` (16-bit wrapping arithmetic).
@inline(__always) func eventIndexPassed(event: UInt16, new: UInt16, old: UInt16) -> Bool {
    new &- event &- 1 < new &- old
}
