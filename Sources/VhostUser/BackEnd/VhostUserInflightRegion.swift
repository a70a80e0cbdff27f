import EmuCore
import EmuVirtio
#if canImport(Glibc)
import Glibc
#endif

/// A back end's record of the split-ring requests it took and has not finished
/// (`VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD`), in shared memory the front end keeps across back-end
/// restarts (GET_INFLIGHT_FD makes it, SET_INFLIGHT_FD hands it to the next back end).
///
/// Layout per queue, little-endian, each queue's part rounded up to 64 bytes: a header
/// `{features u64, version u16, desc_num u16, last_batch_head u16, used_idx u16}`, then
/// `desc_num` descriptor states `{inflight u8, padding[5], next u16, counter u64}` indexed by
/// head. The back end sets a head's counter (increasing) then its flag when it takes a chain,
/// and after the used-ring write clears the flag and records the used index; `last_batch_head`
/// names the head being pushed, so a push cut short between the used-ring write and the clear
/// is recognised (the region's used index lags the ring's).
///
/// A region handed over by a front end is untrusted: sizes and headers are checked when it is
/// mapped, flags and heads when a ring starts; bad values are errors, never a crash.
struct VhostUserInflightRegion: Sendable {
    static let headerSize = 16
    static let descriptorSize = 16
    static let alignment = 64
    static let version: UInt16 = 1
    /// The largest queue count and size accepted.
    static let maximumQueues = 256
    static let maximumQueueSize = Int(VirtqueueConfiguration.maximumSize)

    /// The mapping (bounds: every offset used is below `queueCount * stride ≤ block.size`).
    let block: RAMBlock
    let queueCount: Int
    /// Descriptor states per queue (`desc_num`).
    let queueSize: Int

    /// Bytes per queue.
    static func stride(queueSize: Int) -> Int { (headerSize + descriptorSize * queueSize + alignment - 1) & ~(alignment - 1) }

    /// The region's size for `queues` queues of `queueSize`, whole pages.
    static func mmapSize(queues: Int, queueSize: Int) -> UInt64 {
        let bytes = UInt64(stride(queueSize: queueSize) * queues)
        return (bytes + RAMBlock.pageSize - 1) & ~(RAMBlock.pageSize - 1)
    }

    private static func check(queues: Int, queueSize: Int, limit: Int) throws(VhostUserError) {
        guard queues >= 1, queues <= min(limit, maximumQueues) else {
            throw .malformedPayload("inflight region for \(queues) queues (at most \(limit))")
        }
        guard queueSize >= 1, queueSize <= maximumQueueSize else {
            throw .malformedPayload("inflight region for queues of \(queueSize)")
        }
    }

    /// A new zeroed region (GET_INFLIGHT_FD) for `queues` queues (at most `limit`) of `queueSize`.
    /// - Throws: ``VhostUserError/malformedPayload(_:)`` for counts out of range,
    ///   ``VhostUserError/unsupported(_:)`` when the memory cannot be made.
    init(creatingFor queues: Int, queueSize: Int, limit: Int) throws(VhostUserError) {
        try Self.check(queues: queues, queueSize: queueSize, limit: limit)
        do { block = try RAMBlock(name: "vhost-inflight", size: Self.mmapSize(queues: queues, queueSize: queueSize)) } catch {
            throw .unsupported("inflight region: \(error)")
        }
        queueCount = queues
        self.queueSize = queueSize
        for q in 0..<queues {
            store16(Self.version, header(q) + 8)
            store16(UInt16(queueSize), header(q) + 10)
        }
    }

    /// Maps the region a front end handed over (SET_INFLIGHT_FD); takes ownership of `fd`.
    /// - Throws: ``VhostUserError/malformedPayload(_:)`` when the counts are out of range, the
    ///   size is not the one this layout needs, the fd cannot be mapped, or a queue's header has
    ///   another version or descriptor count.
    init(mapping fd: Int32, _ description: VhostUserInflightDescription, limit: Int) throws(VhostUserError) {
        let queues = Int(description.queueCount), size = Int(description.queueSize)
        do { try Self.check(queues: queues, queueSize: size, limit: limit) } catch { close(fd); throw error }
        let expected = Self.mmapSize(queues: queues, queueSize: size)
        guard description.mmapSize == expected else {
            close(fd)
            throw .malformedPayload("inflight region of \(description.mmapSize) bytes, \(expected) expected")
        }
        do { block = try RAMBlock(name: "vhost-inflight", mapping: fd, offset: description.mmapOffset, size: expected) } catch {
            throw .malformedPayload("inflight region: \(error)")
        }
        queueCount = queues
        queueSize = size
        for q in 0..<queues {
            let version = load16(header(q) + 8), count = load16(header(q) + 10)
            guard version == Self.version, Int(count) == size else {
                throw .malformedPayload("inflight queue \(q): version \(version), \(count) descriptors (\(size) expected)")
            }
        }
    }

    private func header(_ q: Int) -> Int { q * Self.stride(queueSize: queueSize) }
    private func entry(_ q: Int, _ head: UInt16) -> Int { header(q) + Self.headerSize + Self.descriptorSize * Int(head) }

    private func load16(_ o: Int) -> UInt16 { UInt16(littleEndian: block.hostBase.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
    private func load64(_ o: Int) -> UInt64 { UInt64(littleEndian: block.hostBase.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
    private func store16(_ v: UInt16, _ o: Int) { block.hostBase.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt16.self) }
    private func store64(_ v: UInt64, _ o: Int) { block.hostBase.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt64.self) }
    private func flag(_ o: Int) -> UInt8 { block.hostBase.load(fromByteOffset: o, as: UInt8.self) }
    private func setFlag(_ v: UInt8, _ o: Int) { block.hostBase.storeBytes(of: v, toByteOffset: o, as: UInt8.self) }

    /// Whether queue `q`'s heads `0..<ringSize` are all tracked here.
    func covers(queue q: Int, ringSize: Int) -> Bool { q >= 0 && q < queueCount && ringSize <= queueSize }

    /// A chain with head `head` was taken from queue `q`: counter first, then the flag.
    func begin(queue q: Int, head: UInt16, counter: UInt64) {
        store64(counter, entry(q, head) + 8)
        setFlag(1, entry(q, head))
    }

    /// The used-ring write for `head` is about to happen.
    func pushing(queue q: Int, head: UInt16) { store16(head, header(q) + 12) }

    /// The used-ring write for `head` happened; the ring's used index is now `usedIndex`.
    func finished(queue q: Int, head: UInt16, usedIndex: UInt16) {
        setFlag(0, entry(q, head))
        store16(usedIndex, header(q) + 14)
    }

    /// What a back end starting queue `q` (a ring of `ringSize`, used index `ringUsedIndex` in
    /// guest memory) must resubmit: finishes a push that was cut short, then returns the heads
    /// in flight in the order they were taken, and the next counter to use.
    /// - Throws: ``VhostUserError/malformedPayload(_:)`` for a flag other than 0 or 1, a head in
    ///   flight past the ring, or a `last_batch_head` past the region.
    func recover(queue q: Int, ringSize: Int, ringUsedIndex: UInt16) throws(VhostUserError) -> (heads: [UInt16], nextCounter: UInt64) {
        guard covers(queue: q, ringSize: ringSize) else {
            throw .malformedPayload("ring \(q) of \(ringSize) is not covered by the inflight region")
        }
        if load16(header(q) + 14) != ringUsedIndex {
            let last = load16(header(q) + 12)
            guard Int(last) < queueSize else { throw .malformedPayload("inflight last batch head \(last) of \(queueSize)") }
            setFlag(0, entry(q, last))
            store16(ringUsedIndex, header(q) + 14)
        }
        var pending: [(head: UInt16, counter: UInt64)] = []
        var highest: UInt64 = 0
        for i in 0..<queueSize {
            let head = UInt16(i)
            let counter = load64(entry(q, head) + 8)
            highest = max(highest, counter)
            switch flag(entry(q, head)) {
            case 0: continue
            case 1:
                guard i < ringSize else { throw .malformedPayload("inflight head \(i) past a ring of \(ringSize)") }
                pending.append((head, counter))
            case let other:
                throw .malformedPayload("inflight flag \(other) at head \(i)")
            }
        }
        pending.sort { ($0.counter, $0.head) < ($1.counter, $1.head) }
        return (pending.map(\.head), highest &+ 1)
    }
}
