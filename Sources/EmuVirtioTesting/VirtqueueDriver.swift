import EmuCore
import EmuVirtio

/// The driver side of a virtqueue, for unit tests of device models without a guest: it lays out
/// the rings in a ``GuestMemory``, submits requests as descriptor chains (direct or indirect),
/// and collects what the device returned, checking the device on the way (an id it never
/// offered, or a length beyond the buffers, is reported as an error).
///
/// Give ``configuration`` to the device (or to ``makeVirtqueue(_:memory:)``), submit, let the
/// device pop and push, then ``takeCompletions()``.
///
/// For hostile-driver tests, ``offer(_:)`` lays out any chain described descriptor by descriptor
/// (``RawDescriptor``: loops, links beyond the table, readable after writable, indirect tables of
/// any shape), ``offerHead(_:)`` publishes a head index with no chain behind it, and
/// ``takeUsed()`` reads whatever the device put in the used ring, for any chain. (The
/// format-specific drivers also offer writes of single ring fields.)
public protocol VirtqueueDriver: AnyObject {
    /// What the device needs to find the rings.
    var configuration: VirtqueueConfiguration { get }
    /// Requests submitted and not yet completed.
    var outstanding: Int { get }
    /// Makes `request` available to the device; returns its token (the chain's id).
    /// - Throws: ``VirtqueueDriverError``.
    func submit(_ request: DriverRequest) throws(VirtqueueDriverError) -> UInt16
    /// The requests the device has returned since the last call, in the order it returned them.
    /// - Throws: ``VirtqueueDriverError`` if the device returned something it was not offered.
    func takeCompletions() throws(VirtqueueDriverError) -> [DriverCompletion]
    /// Lays out `chain` exactly as described (its buffers and tables in the data area, its
    /// descriptors in entries or slots the driver picks) and makes it available; returns its id
    /// (split: the head index; packed: the buffer id). The chain is outstanding like a submitted
    /// request until the device returns it.
    /// - Throws: ``VirtqueueDriverError``: ``VirtqueueDriverError/invalidChain(_:)`` for a
    ///   description this ring format cannot hold (a link by position in a packed ring).
    func offer(_ chain: [RawDescriptor]) throws(VirtqueueDriverError) -> UInt16
    /// Publishes `head` in the available ring as it is, whatever the table holds there (e.g. an
    /// index beyond the table); it is not outstanding.
    /// - Throws: ``VirtqueueDriverError/invalidChain(_:)`` for a packed ring, which has no head
    ///   index; ``VirtqueueDriverError/memory(_:)``.
    func offerHead(_ head: UInt16) throws(VirtqueueDriverError)
    /// Everything the device put in the used ring since the last call (or the last
    /// ``takeCompletions()``), in order, for any chain: submitted, offered, or an id the driver
    /// never gave out. Chains that were outstanding are taken back.
    /// - Throws: ``VirtqueueDriverError/memory(_:)`` only.
    func takeUsed() throws(VirtqueueDriverError) -> [UsedRingEntry]
    /// Whether the device asked to be notified of the requests submitted since the last call
    /// (its notification suppression, with or without `VIRTIO_F_EVENT_IDX`).
    func deviceWantsNotification() throws(VirtqueueDriverError) -> Bool
    /// Sets or clears the driver's "no interrupts, please" hint.
    func suppressInterrupts(_ suppressed: Bool) throws(VirtqueueDriverError)
}

/// One buffer the driver placed in guest memory for a request.
struct PlacedBuffer {
    var range: Range<UInt64>
    var deviceWritable: Bool
}

/// The buffers of one outstanding request, and where they came from.
struct PlacedRequest {
    /// The chain's buffers as the device sees them, in chain order.
    var buffers: [PlacedBuffer]
    /// What the driver took from its data area for the request (buffers, tables).
    var allocations: [Range<UInt64>]
    /// The ring slots (packed) or table entries (split) the chain holds.
    var ringSlots: Int
    /// Split rings: the table entries the chain holds.
    var descriptors: [UInt16] = []
    var writableCapacity: Int { buffers.reduce(0) { $0 + ($1.deviceWritable ? $1.range.count : 0) } }

    /// A submitted request whose buffers are all the driver's.
    init(buffers: [PlacedBuffer], ringSlots: Int) {
        self.buffers = buffers
        allocations = buffers.map(\.range)
        self.ringSlots = ringSlots
    }

    /// An offered chain.
    init(_ layout: RawChainLayout) {
        buffers = layout.buffers
        allocations = layout.allocations
        ringSlots = layout.entries.count
    }
}

extension GuestAllocator {
    /// Places a request's buffers and writes its readable bytes.
    mutating func place(_ request: DriverRequest, in memory: some GuestMemory) throws(VirtqueueDriverError) -> [PlacedBuffer] {
        var placed: [PlacedBuffer] = []
        func undo(_ allocator: inout GuestAllocator) { placed.forEach { allocator.release($0.range) } }
        for bytes in request.readable where !bytes.isEmpty {
            guard let range = allocate(UInt64(bytes.count)) else { undo(&self); throw .outOfGuestMemory }
            placed.append(PlacedBuffer(range: range, deviceWritable: false))
            do { try memory.write(bytes, at: range.lowerBound) } catch { undo(&self); throw .memory(error.description) }
        }
        for length in request.writableLengths where length > 0 {
            guard let range = allocate(UInt64(length)) else { undo(&self); throw .outOfGuestMemory }
            placed.append(PlacedBuffer(range: range, deviceWritable: true))
        }
        guard !placed.isEmpty else { throw .emptyRequest }
        return placed
    }

    /// Frees everything a request held.
    mutating func release(_ request: PlacedRequest) {
        request.allocations.forEach { release($0) }
    }
}

extension PlacedRequest {
    /// The first `length` bytes of the writable buffers.
    func gatherWritten(_ length: UInt32, id: UInt16, from memory: some GuestMemory) throws(VirtqueueDriverError) -> [UInt8] {
        guard Int(length) <= writableCapacity else {
            throw .deviceWroteTooMuch(id: id, length: length, capacity: writableCapacity)
        }
        var result: [UInt8] = []
        var left = Int(length)
        for buffer in buffers where buffer.deviceWritable && left > 0 {
            let n = min(left, buffer.range.count)
            do { result += try memory.read(count: n, at: buffer.range.lowerBound) } catch { throw .memory(error.description) }
            left -= n
        }
        return result
    }
}

extension GuestMemory {
    /// A store that a test driver uses for ring fields; failures mean the layout was wrong.
    func driverStore<T: FixedWidthInteger>(_ value: T, at address: UInt64) throws(VirtqueueDriverError) {
        do { try store(value, at: address) } catch { throw .memory(error.description) }
    }

    /// Writes bytes a test driver placed; failures mean the layout was wrong.
    func driverWrite(_ bytes: [UInt8], at address: UInt64) throws(VirtqueueDriverError) {
        do { try write(bytes, at: address) } catch { throw .memory(error.description) }
    }

    func driverLoad<T: FixedWidthInteger>(_: T.Type, at address: UInt64) throws(VirtqueueDriverError) -> T {
        do { return try load(T.self, at: address) } catch { throw .memory(error.description) }
    }

    /// Writes a 16-byte descriptor: split `{addr, len, flags, next}` or packed `{addr, len, id, flags}`
    /// (the last two u16 fields are passed in ring order).
    func driverStoreDescriptor(at address: UInt64, _ bufferAddress: UInt64, _ length: UInt32,
                               _ field12: UInt16, _ field14: UInt16) throws(VirtqueueDriverError) {
        try driverStore(bufferAddress, at: address)
        try driverStore(length, at: address + 8)
        try driverStore(field12, at: address + 12)
        try driverStore(field14, at: address + 14)
    }
}

extension VirtqueueDriver {
    /// For devices that complete asynchronously: collects completions until `count` arrived or
    /// `timeout` passed (polling every 2 ms), and returns what arrived, in used order. The default
    /// timeout is long (15 s) because it only matters when something is wrong: a loaded CI
    /// machine must not turn a slow pass into a failure.
    /// - Throws: as ``takeCompletions()``, or `CancellationError` if the task is cancelled.
    public func waitForCompletions(_ count: Int, timeout: Duration = .seconds(15)) async throws -> [DriverCompletion] {
        let deadline = ContinuousClock.now + timeout
        var done: [DriverCompletion] = []
        while true {
            done += try takeCompletions()
            if done.count >= count || ContinuousClock.now >= deadline { return done }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}
