import EmuVirtio

/// One descriptor of a chain a test offers exactly as described, well-formed or hostile: the
/// descriptor's buffer, length, flags and link are written as given, so a test can build loops,
/// links beyond the table, readable buffers after writable ones, and indirect tables of any
/// shape or length without knowing which table entries or ring slots the driver uses.
///
/// Offer a chain with ``VirtqueueDriver/offer(_:)``; the device's answer comes back through
/// ``VirtqueueDriver/takeUsed()`` (or ``VirtqueueDriver/takeCompletions()``) like any other.
///
/// ```swift
/// let loop: [RawDescriptor] = [.writable(8), .writable(8).linked(.position(0))]
/// let readableAfterWritable: [RawDescriptor] = [.writable(8), .readable([1])]
/// let nested: [RawDescriptor] = [.indirect([.indirect([.writable(8)])])]
/// let oddTable: [RawDescriptor] = [.indirect([.writable(8)]).withLength(17)]
/// ```
public struct RawDescriptor: Sendable, Hashable {
    /// Where a descriptor's buffer is.
    public indirect enum Buffer: Sendable, Hashable {
        /// These bytes, which the driver places in its data area (an empty array is address 0).
        case bytes([UInt8])
        /// This many zeroed bytes, which the driver places in its data area (0 is address 0).
        case space(Int)
        /// An indirect table holding these descriptors, laid out by the driver in its data area
        /// in the ring's format (split `{addr, len, flags, next}`, packed `{addr, len, id, flags}`).
        case table([RawDescriptor])
        /// This guest address as it is: outside RAM, over the rings, anywhere.
        case address(UInt64)
    }

    /// Where a descriptor leads. `NEXT` comes from the link alone, whatever ``flags`` hold.
    public enum Link: Sendable, Hashable {
        /// To the following descriptor of the chain (or table) with `NEXT` set; on the last
        /// descriptor, nowhere (`NEXT` clear).
        case following
        /// Nowhere: `NEXT` clear, even if descriptors follow (they are written but not linked).
        case end
        /// `NEXT` set, to the chain's (or table's) descriptor at `position`, counted from 0: a loop
        /// when that is this descriptor or an earlier one. Split rings only: a packed chain is a
        /// run of consecutive ring slots.
        case position(Int)
        /// `NEXT` set and the `next` field exactly `index` (e.g. beyond the table). Split rings
        /// only.
        case index(UInt16)
    }

    /// The buffer the descriptor points at.
    public var buffer: Buffer
    /// The descriptor's length field; `nil` for the buffer's own length (the bytes' count, the
    /// space, 16 bytes per table entry, or 0 for a bare address).
    public var length: UInt32?
    /// The flags written, apart from `NEXT` (from ``link``) and, in packed rings, `AVAIL`/`USED`
    /// (the driver's wrap counter): ``VirtqueueDescriptorFlags/write``,
    /// ``VirtqueueDescriptorFlags/indirect``, or any other bits.
    public var flags: UInt16
    /// Where the descriptor leads.
    public var link: Link

    /// A descriptor as given.
    public init(buffer: Buffer, length: UInt32? = nil, flags: UInt16, link: Link = .following) {
        self.buffer = buffer
        self.length = length
        self.flags = flags
        self.link = link
    }

    /// A descriptor at a guest address of the test's choosing.
    public init(address: UInt64, length: UInt32, flags: UInt16, link: Link = .following) {
        self.init(buffer: .address(address), length: length, flags: flags, link: link)
    }

    /// A device-readable buffer holding `bytes`.
    public static func readable(_ bytes: [UInt8]) -> RawDescriptor {
        RawDescriptor(buffer: .bytes(bytes), flags: 0)
    }

    /// A device-writable buffer of `count` bytes.
    public static func writable(_ count: Int) -> RawDescriptor {
        RawDescriptor(buffer: .space(count), flags: VirtqueueDescriptorFlags.write)
    }

    /// A descriptor pointing at an indirect table of `table`.
    public static func indirect(_ table: [RawDescriptor]) -> RawDescriptor {
        RawDescriptor(buffer: .table(table), flags: VirtqueueDescriptorFlags.indirect)
    }

    /// This descriptor leading to `link` instead.
    public func linked(_ link: Link) -> RawDescriptor {
        var copy = self
        copy.link = link
        return copy
    }

    /// This descriptor with `length` in its length field, whatever its buffer holds.
    public func withLength(_ length: UInt32) -> RawDescriptor {
        var copy = self
        copy.length = length
        return copy
    }

    /// The length written when ``length`` is `nil`.
    var naturalLength: UInt32 {
        switch buffer {
        case .bytes(let b): return UInt32(clamping: b.count)
        case .space(let n): return UInt32(clamping: max(n, 0))
        case .table(let t): return UInt32(clamping: 16 * t.count)
        case .address: return 0
        }
    }
}
