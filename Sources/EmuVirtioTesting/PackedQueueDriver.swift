import Atomics
import EmuCore
import EmuVirtio

/// A packed-ring driver (virtio 1.2 §2.8) for tests; see ``VirtqueueDriver``. Buffer IDs are
/// the tokens. Not thread-safe (use from one thread; the device may run on another).
public final class PackedQueueDriver: VirtqueueDriver {
    public let configuration: VirtqueueConfiguration
    /// The guest memory the ring and buffers live in.
    public let memory: any GuestMemory
    private var allocator: GuestAllocator
    private var freeIDs: [UInt16]
    private var requests: [UInt16: PlacedRequest] = [:]
    private var freeSlots: Int
    private var nextAvail = 0
    private var availWrap = true
    private var nextUsed = 0
    private var usedWrap = true
    private var size: Int { Int(configuration.size) }
    private var availAtLastCheck = (slot: 0, wrap: true)

    /// The bytes a queue of `size` takes: the descriptor ring, then the driver and device event
    /// suppression structures (4 bytes each).
    public static func ringBytes(size: UInt16) -> UInt64 { 16 * UInt64(size) + 8 }

    /// Lays out a queue of `size` at `ringAddress` (16-byte aligned, ``ringBytes(size:)`` long,
    /// zeroed here) with its buffers in `dataArea`.
    /// - Throws: ``VirtqueueDriverError/memory(_:)`` if the ring is not writable RAM.
    public init(memory: some GuestMemory, size: UInt16, ringAddress: UInt64, dataArea: Range<UInt64>,
                eventIndex: Bool = false, indirectDescriptors: Bool = false) throws(VirtqueueDriverError) {
        let ringEnd = ringAddress + 16 * UInt64(size)
        configuration = VirtqueueConfiguration(format: .packed, size: size, descriptorArea: ringAddress,
                                               driverArea: ringEnd, deviceArea: ringEnd + 4,
                                               eventIndex: eventIndex, indirectDescriptors: indirectDescriptors)
        self.memory = memory
        allocator = GuestAllocator(area: dataArea)
        freeIDs = (0..<size).reversed()
        freeSlots = Int(size)
        do {
            try memory.write([UInt8](repeating: 0, count: Int(Self.ringBytes(size: size))), at: ringAddress)
        } catch { throw .memory(error.description) }
    }

    public var outstanding: Int { requests.count }

    public func submit(_ request: DriverRequest) throws(VirtqueueDriverError) -> UInt16 {
        let buffers = try allocator.place(request, in: memory)
        var placed = PlacedRequest(buffers: buffers, ringSlots: request.indirect ? 1 : buffers.count)
        guard freeSlots >= placed.ringSlots, let id = freeIDs.popLast() else { allocator.release(placed); throw .queueFull }
        var entries: [(address: UInt64, length: UInt32, flags: UInt16)] = []
        if request.indirect {
            guard let table = allocator.allocate(UInt64(16 * buffers.count), alignment: 16) else {
                allocator.release(placed)
                freeIDs.append(id)
                throw .outOfGuestMemory
            }
            placed.allocations.append(table)
            do throws(VirtqueueDriverError) {
                for (i, b) in buffers.enumerated() {
                    try memory.driverStoreDescriptor(at: table.lowerBound + UInt64(16 * i), b.range.lowerBound,
                                                     UInt32(b.range.count), 0, b.deviceWritable ? VirtqueueDescriptorFlags.write : 0)
                }
            } catch {
                allocator.release(placed)
                freeIDs.append(id)
                throw error
            }
            entries = [(table.lowerBound, UInt32(table.count), VirtqueueDescriptorFlags.indirect)]
        } else {
            entries = buffers.map { ($0.range.lowerBound, UInt32($0.range.count), $0.deviceWritable ? VirtqueueDescriptorFlags.write : 0) }
        }
        let next = VirtqueueDescriptorFlags.next
        try publish(entries.enumerated().map { i, e in (e.address, e.length, e.flags | (i < entries.count - 1 ? next : 0)) },
                    id: id, placed)
        return id
    }

    public func offer(_ chain: [RawDescriptor]) throws(VirtqueueDriverError) -> UInt16 {
        var nextFlags: [UInt16] = []
        for (i, descriptor) in chain.enumerated() {
            nextFlags.append(try descriptor.link.packedFlag(position: i, count: chain.count))
        }
        guard freeSlots >= chain.count, let id = freeIDs.last else { throw .queueFull }
        let layout = try allocator.layOut(chain, format: .packed, in: memory)
        freeIDs.removeLast()
        try publish(zip(layout.entries, nextFlags).map { e, next in (e.address, e.length, e.flags | next) },
                    id: id, PlacedRequest(layout))
        return id
    }

    public func offerHead(_ head: UInt16) throws(VirtqueueDriverError) {
        throw .invalidChain("a packed ring has no head index to publish")
    }

    /// Writes a chain's descriptors (flags with `NEXT` where it applies) into the next ring slots
    /// with buffer id `id`: every descriptor but the head first, the head's flags last after a
    /// release fence, so the device sees the whole chain or none of it.
    private func publish(_ entries: [(address: UInt64, length: UInt32, flags: UInt16)], id: UInt16,
                         _ placed: PlacedRequest) throws(VirtqueueDriverError) {
        let head = (slot: nextAvail, wrap: availWrap)
        var headFlags: UInt16 = 0
        for (i, e) in entries.enumerated() {
            let flags = e.flags | availFlags(wrap: availWrap)
            let at = configuration.descriptorArea + 16 * UInt64(nextAvail)
            try memory.driverStoreDescriptor(at: at, e.address, e.length, id, i == 0 ? 0 : flags)
            if i == 0 { headFlags = flags }
            nextAvail += 1
            if nextAvail == size { nextAvail = 0; availWrap.toggle() }
        }
        requests[id] = placed
        freeSlots -= placed.ringSlots
        atomicMemoryFence(ordering: .releasing)
        try memory.driverStore(headFlags, at: configuration.descriptorArea + 16 * UInt64(head.slot) + 14)
    }

    private func availFlags(wrap: Bool) -> UInt16 {
        wrap ? VirtqueueDescriptorFlags.avail : VirtqueueDescriptorFlags.used
    }

    public func takeCompletions() throws(VirtqueueDriverError) -> [DriverCompletion] {
        var done: [DriverCompletion] = []
        while !requests.isEmpty, let (id, length) = try nextUsedDescriptor() {
            guard let placed = requests[id] else { throw .deviceReturnedUnknownID(id) }
            let written = try placed.gatherWritten(length, id: id, from: memory)
            retire(id, placed)
            done.append(DriverCompletion(token: id, writtenLength: length, written: written))
        }
        return done
    }

    public func takeUsed() throws(VirtqueueDriverError) -> [UsedRingEntry] {
        var entries: [UsedRingEntry] = []
        // At most one lap: each entry moves the cursor on by at least one slot.
        for _ in 0..<size {
            guard let (id, length) = try nextUsedDescriptor() else { break }
            guard let placed = requests[id] else {
                // An id the driver never gave out: it stands for one slot.
                advanceUsed(by: 1)
                entries.append(UsedRingEntry(id: UInt32(id), length: length, wasOutstanding: false, written: nil))
                continue
            }
            let written = try? placed.gatherWritten(length, id: id, from: memory)
            retire(id, placed)
            entries.append(UsedRingEntry(id: UInt32(id), length: length, wasOutstanding: true, written: written))
        }
        return entries
    }

    /// The buffer id and length of the used descriptor at the driver's used cursor, if the device
    /// has written one there in the current lap (read with acquire ordering).
    private func nextUsedDescriptor() throws(VirtqueueDriverError) -> (id: UInt16, length: UInt32)? {
        let at = configuration.descriptorArea + 16 * UInt64(nextUsed)
        let flags = try memory.driverLoad(UInt16.self, at: at + 14)
        let avail = flags & VirtqueueDescriptorFlags.avail != 0, used = flags & VirtqueueDescriptorFlags.used != 0
        guard avail == usedWrap, used == usedWrap else { return nil }
        atomicMemoryFence(ordering: .acquiring)
        return (try memory.driverLoad(UInt16.self, at: at + 12), try memory.driverLoad(UInt32.self, at: at + 8))
    }

    /// Takes back a chain the device returned: its id, ring slots and data.
    private func retire(_ id: UInt16, _ placed: PlacedRequest) {
        requests[id] = nil
        freeIDs.append(id)
        freeSlots += placed.ringSlots
        allocator.release(placed)
        advanceUsed(by: placed.ringSlots)
    }

    private func advanceUsed(by slots: Int) {
        nextUsed += slots
        if nextUsed >= size { nextUsed -= size; usedWrap.toggle() }
    }

    public func deviceWantsNotification() throws(VirtqueueDriverError) -> Bool {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        let old = availAtLastCheck
        availAtLastCheck = (nextAvail, availWrap)
        let flags = try memory.driverLoad(UInt16.self, at: configuration.deviceArea + 2) & 3
        switch flags {
        case 1: return false
        case 2 where configuration.eventIndex:
            let offWrap = try memory.driverLoad(UInt16.self, at: configuration.deviceArea)
            let lap = 2 * size
            func position(_ slot: Int, _ wrap: Bool) -> Int { slot + (wrap ? 0 : size) }
            let new = position(nextAvail, availWrap), previous = position(old.slot, old.wrap)
            let event = position(Int(offWrap & 0x7FFF), offWrap & 0x8000 != 0)
            let added = ((new - previous) % lap + lap) % lap
            return ((new - event - 1) % lap + lap) % lap < added
        default: return true
        }
    }

    public func suppressInterrupts(_ suppressed: Bool) throws(VirtqueueDriverError) {
        try memory.driverStore(UInt16(suppressed ? 1 : 0), at: configuration.driverArea + 2)
    }

    /// With `VIRTIO_F_EVENT_IDX`: asks for an interrupt once the device writes the used
    /// descriptor at `slot` in the lap whose wrap counter is `wrap`.
    public func setDriverEvent(slot: UInt16, wrap: Bool) throws(VirtqueueDriverError) {
        try memory.driverStore(slot | (wrap ? 0x8000 : 0), at: configuration.driverArea)
        try memory.driverStore(UInt16(2), at: configuration.driverArea + 2)
    }

    // MARK: Raw ring access for hostile-driver tests

    /// Writes ring slot `slot` as given (no checks: a hostile driver's write). Put the flags you
    /// want the device to see, including ``VirtqueueDescriptorFlags/avail``/``VirtqueueDescriptorFlags/used``.
    public func writeRingDescriptor(slot: UInt16, address: UInt64, length: UInt32, id: UInt16, flags: UInt16) throws(VirtqueueDriverError) {
        atomicMemoryFence(ordering: .releasing)
        try memory.driverStoreDescriptor(at: configuration.descriptorArea + 16 * UInt64(slot % configuration.size),
                                         address, length, id, flags)
    }

    /// Takes `count` bytes from the data area (e.g. for a hand-made indirect table).
    public func allocate(_ count: Int, alignment: UInt64 = 16) throws(VirtqueueDriverError) -> UInt64 {
        guard count > 0, let range = allocator.allocate(UInt64(count), alignment: alignment) else { throw .outOfGuestMemory }
        return range.lowerBound
    }
}
