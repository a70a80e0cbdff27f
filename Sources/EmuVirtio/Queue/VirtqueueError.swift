import EmuCore

/// Which of a virtqueue's three guest areas an error concerns.
public enum VirtqueueArea: String, Sendable, Hashable {
    /// The descriptor table (split) or descriptor ring (packed).
    case descriptors
    /// The available ring (split) or driver event suppression structure (packed).
    case driverArea
    /// The used ring (split) or device event suppression structure (packed).
    case deviceArea
}

/// Why a virtqueue refused its configuration or a chain the driver offered.
///
/// Every value here is the result of driver-controlled (untrusted) input except
/// ``usedLengthTooLong(id:length:writable:)`` and ``nothingInFlight``, which are host programming
/// errors. A queue that throws one of the driver errors from `pop` is **broken**: it records the
/// error, throws it again from every later `pop` and `push`, and the device should set
/// `DEVICE_NEEDS_RESET` (virtio 1.2 §2.1.2) until the driver resets it.
public enum VirtqueueError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The queue size is zero, above 32768, or (split) not a power of two.
    case invalidSize(UInt16)
    /// An area's guest address does not have the alignment the spec requires.
    case misaligned(VirtqueueArea, address: UInt64, alignment: UInt64)
    /// An area is not entirely guest RAM.
    case areaNotRAM(VirtqueueArea, GuestMemoryError)
    /// An area spans RAM that is not contiguous on the host (two separate RAM blocks).
    case areaNotContiguous(VirtqueueArea, address: UInt64)
    /// The available index moved by more than the queue size since the device last looked.
    case availIndexJump(lastSeen: UInt16, now: UInt16, size: UInt16)
    /// A head index in the available ring is not a descriptor index.
    case headOutOfRange(index: UInt16, size: UInt16)
    /// A `next` field points outside the descriptor table it belongs to.
    case nextOutOfRange(index: UInt16, tableSize: Int)
    /// The chain is longer than its table allows: a loop, or more descriptors than the queue has.
    case chainTooLong(limit: Int)
    /// An indirect descriptor while `VIRTIO_F_INDIRECT_DESC` was not negotiated.
    case indirectNotNegotiated
    /// An indirect descriptor inside an indirect table.
    case nestedIndirect
    /// A descriptor with both `INDIRECT` and `NEXT`.
    case indirectWithNext
    /// An indirect table whose length is zero, not a multiple of 16, or above the limit.
    case invalidIndirectLength(UInt32)
    /// An indirect table that is not entirely guest RAM.
    case indirectTableNotRAM(GuestMemoryError)
    /// A device-readable descriptor after a device-writable one.
    case readableAfterWritable
    /// A buffer whose `address + length` does not fit in 64 bits.
    case bufferOverflows(address: UInt64, length: UInt32)
    /// `push` of a used length larger than the chain's writable bytes (host programming error).
    case usedLengthTooLong(id: UInt16, length: UInt32, writable: UInt64)
    /// `push` with no element in flight (host programming error).
    case nothingInFlight

    public var description: String {
        switch self {
        case .invalidSize(let n): return "invalid virtqueue size \(n)"
        case .misaligned(let area, let a, let align):
            return "\(area.rawValue) at 0x\(String(a, radix: 16)) is not \(align)-byte aligned"
        case .areaNotRAM(let area, let e): return "\(area.rawValue) is not in guest RAM: \(e)"
        case .areaNotContiguous(let area, let a):
            return "\(area.rawValue) at 0x\(String(a, radix: 16)) spans separate RAM blocks"
        case .availIndexJump(let last, let now, let size):
            return "available index jumped from \(last) to \(now) (queue size \(size))"
        case .headOutOfRange(let i, let size): return "head descriptor \(i) out of range (queue size \(size))"
        case .nextOutOfRange(let i, let n): return "next descriptor \(i) out of range (table of \(n))"
        case .chainTooLong(let limit): return "descriptor chain longer than \(limit) (a loop?)"
        case .indirectNotNegotiated: return "indirect descriptor without VIRTIO_F_INDIRECT_DESC"
        case .nestedIndirect: return "indirect descriptor inside an indirect table"
        case .indirectWithNext: return "descriptor with both INDIRECT and NEXT"
        case .invalidIndirectLength(let n): return "invalid indirect table length \(n)"
        case .indirectTableNotRAM(let e): return "indirect table is not in guest RAM: \(e)"
        case .readableAfterWritable: return "device-readable descriptor after a device-writable one"
        case .bufferOverflows(let a, let n):
            return "buffer of \(n) bytes at 0x\(String(a, radix: 16)) overflows the address space"
        case .usedLengthTooLong(let id, let n, let w):
            return "used length \(n) for chain \(id) exceeds its \(w) writable bytes"
        case .nothingInFlight: return "push with no chain in flight"
        }
    }
}
