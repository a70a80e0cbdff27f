import Atomics
import EmuCore
import EmuVirtio

/// A split-ring driver (virtio 1.2 §2.7) for tests; see ``VirtqueueDriver``.
///
/// Not thread-safe: use it from one thread (the device may run on another, as with a real
/// guest: ring indices are published with release ordering).
public final class SplitQueueDriver: VirtqueueDriver {
    public let configuration: VirtqueueConfiguration
    /// The guest memory the rings and buffers live in.
    public let memory: any GuestMemory
    private var allocator: GuestAllocator
    private var freeDescriptors: [UInt16]
    private var requests: [UInt16: PlacedRequest] = [:]
    private var availIndex: UInt16 = 0
    private var lastUsed: UInt16 = 0
    private var availAtLastNotificationCheck: UInt16 = 0
    private var size: Int { Int(configuration.size) }

    /// The bytes the rings of a queue of `size` take (descriptor table, available ring, padding,
    /// used ring), from a 16-byte aligned start.
    public static func ringBytes(size: UInt16) -> UInt64 {
        let n = UInt64(size)
        let availEnd = 16 * n + 6 + 2 * n
        return ((availEnd + 3) & ~3) + 6 + 8 * n
    }

    /// Lays out a queue of `size` with its rings at `ringAddress` (16-byte aligned,
    /// ``ringBytes(size:)`` long, zeroed here) and its buffers in `dataArea`.
    /// - Throws: ``VirtqueueDriverError/memory(_:)`` if the rings are not writable RAM.
    public init(memory: some GuestMemory, size: UInt16, ringAddress: UInt64, dataArea: Range<UInt64>,
                eventIndex: Bool = false, indirectDescriptors: Bool = false) throws(VirtqueueDriverError) {
        let n = UInt64(size)
        let avail = ringAddress + 16 * n
        let used = (avail + 6 + 2 * n + 3) & ~3
        configuration = VirtqueueConfiguration(format: .split, size: size, descriptorArea: ringAddress,
                                               driverArea: avail, deviceArea: used, eventIndex: eventIndex,
                                               indirectDescriptors: indirectDescriptors)
        self.memory = memory
        allocator = GuestAllocator(area: dataArea)
        freeDescriptors = (0..<size).reversed()
        do {
            try memory.write([UInt8](repeating: 0, count: Int(Self.ringBytes(size: size))), at: ringAddress)
        } catch { throw .memory(error.description) }
    }

    public var outstanding: Int { requests.count }

    public func submit(_ request: DriverRequest) throws(VirtqueueDriverError) -> UInt16 {
        let buffers = try allocator.place(request, in: memory)
        var placed = PlacedRequest(buffers: buffers, ringSlots: request.indirect ? 1 : buffers.count)
        guard freeDescriptors.count >= placed.ringSlots else { allocator.release(placed); throw .queueFull }
        let head: UInt16
        do throws(VirtqueueDriverError) {
            if request.indirect {
                guard let table = allocator.allocate(UInt64(16 * buffers.count), alignment: 16) else {
                    throw .outOfGuestMemory
                }
                placed.allocations.append(table)
                for (i, b) in buffers.enumerated() {
                    let last = i == buffers.count - 1
                    try memory.driverStoreDescriptor(at: table.lowerBound + UInt64(16 * i), b.range.lowerBound,
                                                     UInt32(b.range.count), Self.flags(b, next: !last), last ? 0 : UInt16(i + 1))
                }
                head = try writeDescriptor(address: table.lowerBound, length: UInt32(table.count),
                                           flags: VirtqueueDescriptorFlags.indirect, next: nil, into: &placed)
            } else {
                var next: UInt16? = nil
                for b in buffers.reversed() {  // the tail first, so each descriptor knows its next
                    next = try writeDescriptor(address: b.range.lowerBound, length: UInt32(b.range.count),
                                               flags: Self.flags(b, next: next != nil), next: next, into: &placed)
                }
                head = next ?? 0
            }
        } catch {
            allocator.release(placed)
            freeDescriptors += placed.descriptors  // the free stack as it was
            throw error
        }
        requests[head] = placed
        try makeAvailable(head: head)
        return head
    }

    private static func flags(_ b: PlacedBuffer, next: Bool) -> UInt16 {
        (b.deviceWritable ? VirtqueueDescriptorFlags.write : 0) | (next ? VirtqueueDescriptorFlags.next : 0)
    }

    /// Writes a descriptor into a free table entry, which `placed` then holds (head first).
    private func writeDescriptor(address: UInt64, length: UInt32, flags: UInt16, next: UInt16?,
                                 into placed: inout PlacedRequest) throws(VirtqueueDriverError) -> UInt16 {
        guard let index = freeDescriptors.popLast() else { throw .queueFull }  // checked by the caller
        placed.descriptors.insert(index, at: 0)
        try writeDescriptor(index: index, address: address, length: length, flags: flags, next: next ?? 0)
        return index
    }

    public func takeCompletions() throws(VirtqueueDriverError) -> [DriverCompletion] {
        let usedIndex = try publishedUsedIndex()
        var done: [DriverCompletion] = []
        while lastUsed != usedIndex {
            let (id32, length) = try usedEntry(lastUsed)
            guard id32 <= UInt16.max, let placed = requests[UInt16(id32)] else {
                throw .deviceReturnedUnknownID(UInt16(truncatingIfNeeded: id32))
            }
            let id = UInt16(id32)
            let written = try placed.gatherWritten(length, id: id, from: memory)
            retire(id, placed)
            done.append(DriverCompletion(token: id, writtenLength: length, written: written))
            lastUsed &+= 1
        }
        return done
    }

    public func takeUsed() throws(VirtqueueDriverError) -> [UsedRingEntry] {
        let usedIndex = try publishedUsedIndex()
        var entries: [UsedRingEntry] = []
        while lastUsed != usedIndex {
            let (id, length) = try usedEntry(lastUsed)
            lastUsed &+= 1
            guard id <= UInt16.max, let placed = requests[UInt16(id)] else {
                entries.append(UsedRingEntry(id: id, length: length, wasOutstanding: false, written: nil))
                continue
            }
            let written = try? placed.gatherWritten(length, id: UInt16(id), from: memory)
            retire(UInt16(id), placed)
            entries.append(UsedRingEntry(id: id, length: length, wasOutstanding: true, written: written))
        }
        return entries
    }

    public func offer(_ chain: [RawDescriptor]) throws(VirtqueueDriverError) -> UInt16 {
        guard freeDescriptors.count >= chain.count else { throw .queueFull }
        let layout = try allocator.layOut(chain, format: .split, in: memory)
        var placed = PlacedRequest(layout)
        let indices = Array(freeDescriptors.suffix(chain.count).reversed())  // as popLast would give them
        do throws(VirtqueueDriverError) {
            for (i, entry) in layout.entries.enumerated() {
                let (flag, next) = try entry.link.splitFields(position: i, count: indices.count) { indices[$0] }
                try writeDescriptor(index: indices[i], address: entry.address, length: entry.length,
                                    flags: entry.flags | flag, next: next)
            }
        } catch {
            allocator.release(placed)
            throw error
        }
        freeDescriptors.removeLast(chain.count)
        placed.descriptors = indices
        requests[indices[0]] = placed
        try makeAvailable(head: indices[0])
        return indices[0]
    }

    public func offerHead(_ head: UInt16) throws(VirtqueueDriverError) {
        try makeAvailable(head: head)
    }

    /// The device's used index, read with acquire ordering.
    private func publishedUsedIndex() throws(VirtqueueDriverError) -> UInt16 {
        let index = try memory.driverLoad(UInt16.self, at: configuration.deviceArea + 2)
        atomicMemoryFence(ordering: .acquiring)
        return index
    }

    /// The id and length of the used ring's entry for used index `index`.
    private func usedEntry(_ index: UInt16) throws(VirtqueueDriverError) -> (id: UInt32, length: UInt32) {
        let slot = configuration.deviceArea + 4 + 8 * UInt64(index & (configuration.size - 1))
        return (try memory.driverLoad(UInt32.self, at: slot), try memory.driverLoad(UInt32.self, at: slot + 4))
    }

    /// Takes back a chain the device returned: its table entries and data.
    private func retire(_ id: UInt16, _ placed: PlacedRequest) {
        requests[id] = nil
        freeDescriptors += placed.descriptors
        allocator.release(placed)
    }

    public func deviceWantsNotification() throws(VirtqueueDriverError) -> Bool {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        let old = availAtLastNotificationCheck
        availAtLastNotificationCheck = availIndex
        if configuration.eventIndex {
            let availEvent: UInt16 = try memory.driverLoad(UInt16.self, at: configuration.deviceArea + 4 + 8 * UInt64(size))
            return availIndex &- availEvent &- 1 < availIndex &- old
        }
        return try memory.driverLoad(UInt16.self, at: configuration.deviceArea) & 1 == 0
    }

    public func suppressInterrupts(_ suppressed: Bool) throws(VirtqueueDriverError) {
        try memory.driverStore(UInt16(suppressed ? 1 : 0), at: configuration.driverArea)
    }

    /// With `VIRTIO_F_EVENT_IDX`: asks for an interrupt once the used index passes `index`.
    public func setUsedEvent(_ index: UInt16) throws(VirtqueueDriverError) {
        try memory.driverStore(index, at: configuration.driverArea + 4 + 2 * UInt64(size))
    }

    // MARK: Raw ring access for hostile-driver tests

    /// Writes descriptor `index` of the table as given (no checks: a hostile driver's write).
    public func writeDescriptor(index: UInt16, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) throws(VirtqueueDriverError) {
        try memory.driverStoreDescriptor(at: configuration.descriptorArea + 16 * UInt64(index % configuration.size),
                                         address, length, flags, next)
    }

    /// Puts `head` in the next available slot and publishes the new available index.
    public func makeAvailable(head: UInt16) throws(VirtqueueDriverError) {
        try memory.driverStore(head, at: configuration.driverArea + 4 + 2 * UInt64(availIndex & (configuration.size - 1)))
        try setAvailIndex(availIndex &+ 1)
    }

    /// Publishes `index` as the available index (release ordering), whatever the ring holds.
    public func setAvailIndex(_ index: UInt16) throws(VirtqueueDriverError) {
        availIndex = index
        atomicMemoryFence(ordering: .releasing)
        try memory.driverStore(index, at: configuration.driverArea + 2)
    }

    /// Takes `count` bytes from the data area (e.g. for a hand-made indirect table).
    public func allocate(_ count: Int, alignment: UInt64 = 16) throws(VirtqueueDriverError) -> UInt64 {
        guard count > 0, let range = allocator.allocate(UInt64(count), alignment: alignment) else { throw .outOfGuestMemory }
        return range.lowerBound
    }
}
