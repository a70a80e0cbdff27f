/// A descriptor chain the device took from a queue: its device-readable buffers, then its
/// device-writable buffers, in chain order. Give it back with ``Virtqueue/push(_:writtenLength:)``.
public struct VirtqueueElement: Sendable, Hashable {
    /// The chain's identity for the driver: the head descriptor index (split) or the buffer ID
    /// (packed).
    public let id: UInt16
    /// Buffers the device reads (the request), in order.
    public let readable: [GuestBuffer]
    /// Buffers the device writes (the response), in order.
    public let writable: [GuestBuffer]
    /// Sum of the readable lengths.
    public let readableLength: UInt64
    /// Sum of the writable lengths.
    public let writableLength: UInt64
    /// Ring slots the chain occupied (packed: the used descriptor skips this many; split: 1).
    let ringSlots: UInt16

    init(id: UInt16, chain: ChainCollector, ringSlots: UInt16) {
        self.id = id
        self.readable = chain.readable
        self.writable = chain.writable
        self.readableLength = chain.readableLength
        self.writableLength = chain.writableLength
        self.ringSlots = ringSlots
    }
}

/// Gathers a chain's buffers while a queue walks it, enforcing the rules every format shares:
/// readable before writable, no buffer that overflows the address space.
struct ChainCollector {
    var readable: [GuestBuffer] = []
    var writable: [GuestBuffer] = []
    var readableLength: UInt64 = 0
    var writableLength: UInt64 = 0

    /// Adds one descriptor's buffer. Zero-length buffers keep their place in the order rules but
    /// are not recorded. Lengths are at most 2^32 - 1 and chains at most 32768 * 1024
    /// descriptors long, so the sums cannot overflow 64 bits.
    @inline(__always)
    mutating func add(address: UInt64, length: UInt32, deviceWritable: Bool) throws(VirtqueueError) {
        if length > 0, address > UInt64.max - UInt64(length - 1) {
            throw .bufferOverflows(address: address, length: length)
        }
        if deviceWritable {
            if length > 0 { writable.append(GuestBuffer(address: address, length: length)) }
            writableLength += UInt64(length)
        } else {
            guard writable.isEmpty, writableLength == 0 else { throw .readableAfterWritable }
            if length > 0 { readable.append(GuestBuffer(address: address, length: length)) }
            readableLength += UInt64(length)
        }
    }
}
