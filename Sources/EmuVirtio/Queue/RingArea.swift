import Atomics
import EmuCore

/// One of a queue's guest areas, mapped once when the queue is made so that each ring access is
/// a host load or store instead of a bus lookup.
///
/// The area is checked to be aligned, entirely RAM and contiguous on the host, so every offset
/// below `length` is in bounds; callers compute offsets only from indices they have already
/// reduced modulo the queue size. Indices and flags the driver polls are accessed atomically
/// (they are 2-byte aligned by the area's alignment); writes mark the page dirty.
struct RingArea {
    let area: VirtqueueArea
    let guestAddress: UInt64
    let length: Int
    private let base: UnsafeMutableRawPointer
    private let mapping: DMAMapping  // keeps the RAM alive

    init(_ area: VirtqueueArea, memory: some GuestMemory, address: UInt64, length: Int, alignment: UInt64,
         writable: Bool) throws(VirtqueueError) {
        guard address % alignment == 0 else { throw .misaligned(area, address: address, alignment: alignment) }
        let mapping: DMAMapping
        do {
            mapping = try memory.map(address, length: UInt64(length), access: writable ? .readWrite : .read)
        } catch {
            throw .areaNotRAM(area, error)
        }
        guard let first = mapping.segments.first?.baseAddress else { throw .areaNotRAM(area, .zeroLength(address: address)) }
        var expected = first
        for segment in mapping.segments {
            guard segment.baseAddress == expected else { throw .areaNotContiguous(area, address: address) }
            expected += segment.count
        }
        self.area = area
        self.guestAddress = address
        self.length = length
        self.base = first
        self.mapping = mapping
    }

    @inline(__always) func load16(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always) func load32(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always) func load64(_ offset: Int) -> UInt64 {
        UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// An acquiring load of an aligned 16-bit index or flags word the driver publishes.
    @inline(__always) func loadAcquire16(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: atomic16(offset).load(ordering: .acquiring))
    }

    @inline(__always) func store32(_ value: UInt32, _ offset: Int) {
        base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
        mapping.markDirty(offset: UInt64(offset), length: 4)
    }

    @inline(__always) func store64(_ value: UInt64, _ offset: Int) {
        base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
        mapping.markDirty(offset: UInt64(offset), length: 8)
    }

    /// A relaxed atomic store of an aligned 16-bit word (fences are the caller's).
    @inline(__always) func store16(_ value: UInt16, _ offset: Int) {
        atomic16(offset).store(value.littleEndian, ordering: .relaxed)
        mapping.markDirty(offset: UInt64(offset), length: 2)
    }

    /// A releasing store: everything written before is visible to a driver that sees this value.
    @inline(__always) func storeRelease16(_ value: UInt16, _ offset: Int) {
        atomic16(offset).store(value.littleEndian, ordering: .releasing)
        mapping.markDirty(offset: UInt64(offset), length: 2)
    }

    @inline(__always) private func atomic16(_ offset: Int) -> UnsafeAtomic<UInt16> {
        UnsafeAtomic<UInt16>(at: (base + offset).assumingMemoryBound(to: UInt16.AtomicRepresentation.self))
    }
}

/// A full fence between the device's writes to a ring and its next reads of the driver's fields
/// (the notification-suppression handshake needs store→load ordering).
@inline(__always) func fullFence() {
    atomicMemoryFence(ordering: .sequentiallyConsistent)
}
