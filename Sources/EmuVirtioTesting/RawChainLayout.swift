import EmuCore
import EmuVirtio

/// A chain of ``RawDescriptor``s with every buffer and indirect table placed in guest memory:
/// what is left to write is the chain's own descriptors, in the ring's table or slots.
struct RawChainLayout {
    /// One of the chain's own descriptors, its buffer placed.
    struct Entry {
        var address: UInt64
        var length: UInt32
        /// The descriptor's flags without `NEXT`, `AVAIL` and `USED`.
        var flags: UInt16
        var link: RawDescriptor.Link
    }

    var entries: [Entry] = []
    /// The chain's buffers as the device sees them, in chain order (tables' contents in place).
    var buffers: [PlacedBuffer] = []
    /// What the driver took from its data area.
    var allocations: [Range<UInt64>] = []
}

extension RawDescriptor.Link {
    /// The `NEXT` flag and `next` field of the split-ring descriptor at `position` in a run of
    /// `count` whose descriptors sit at `index(k)`.
    /// - Throws: ``VirtqueueDriverError/invalidChain(_:)`` for a position outside the run.
    func splitFields(position: Int, count: Int, index: (Int) -> UInt16) throws(VirtqueueDriverError) -> (flag: UInt16, next: UInt16) {
        switch self {
        case .following: return position + 1 < count ? (VirtqueueDescriptorFlags.next, index(position + 1)) : (0, 0)
        case .end: return (0, 0)
        case .index(let raw): return (VirtqueueDescriptorFlags.next, raw)
        case .position(let k):
            guard k >= 0, k < count else { throw .invalidChain("a link to position \(k) of a run of \(count) descriptors") }
            return (VirtqueueDescriptorFlags.next, index(k))
        }
    }

    /// The `NEXT` flag of the packed-ring descriptor at `position` in a run of `count`.
    /// - Throws: ``VirtqueueDriverError/invalidChain(_:)`` for a link a packed ring cannot hold.
    func packedFlag(position: Int, count: Int) throws(VirtqueueDriverError) -> UInt16 {
        switch self {
        case .following: return position + 1 < count ? VirtqueueDescriptorFlags.next : 0
        case .end: return 0
        case .index, .position: throw .invalidChain("\(self): a packed chain is a run of consecutive ring slots")
        }
    }
}

extension GuestAllocator {
    /// Places the buffers and indirect tables of `chain` in guest memory, tables in `format`.
    /// - Throws: ``VirtqueueDriverError``; what was placed is released again.
    mutating func layOut(_ chain: [RawDescriptor], format: VirtqueueFormat,
                         in memory: some GuestMemory) throws(VirtqueueDriverError) -> RawChainLayout {
        guard !chain.isEmpty else { throw .emptyRequest }
        var layout = RawChainLayout()
        do {
            layout.entries = try place(chain, format: format, in: memory, into: &layout)
        } catch {
            layout.allocations.forEach { release($0) }
            throw error
        }
        return layout
    }

    private mutating func place(_ run: [RawDescriptor], format: VirtqueueFormat, in memory: some GuestMemory,
                                into layout: inout RawChainLayout) throws(VirtqueueDriverError) -> [RawChainLayout.Entry] {
        var entries: [RawChainLayout.Entry] = []
        for descriptor in run {
            let length = descriptor.length ?? descriptor.naturalLength
            let address: UInt64
            switch descriptor.buffer {
            case .bytes(let bytes):
                address = try take(bytes.count, alignment: 8, into: &layout)
                if !bytes.isEmpty { try memory.driverWrite(bytes, at: address) }
            case .space(let count):
                address = try take(count, alignment: 8, into: &layout)
                if count > 0 { try memory.driverWrite([UInt8](repeating: 0, count: count), at: address) }
            case .table(let table):
                let inner = try place(table, format: format, in: memory, into: &layout)
                address = try take(16 * table.count, alignment: 16, into: &layout)
                for (k, entry) in inner.enumerated() {
                    let at = address + UInt64(16 * k)
                    switch format {
                    case .split:
                        let (flag, next) = try entry.link.splitFields(position: k, count: inner.count) { UInt16(truncatingIfNeeded: $0) }
                        try memory.driverStoreDescriptor(at: at, entry.address, entry.length, entry.flags | flag, next)
                    case .packed:
                        // Descriptors in a packed indirect table are consecutive: no NEXT.
                        _ = try entry.link.packedFlag(position: k, count: inner.count)
                        try memory.driverStoreDescriptor(at: at, entry.address, entry.length, 0, entry.flags)
                    }
                }
            case .address(let raw):
                address = raw
            }
            if case .table = descriptor.buffer {} else {
                let (end, overflow) = address.addingReportingOverflow(UInt64(length))
                layout.buffers.append(PlacedBuffer(range: address..<(overflow ? UInt64.max : end),
                                                   deviceWritable: descriptor.flags & VirtqueueDescriptorFlags.write != 0))
            }
            let ringBits = format == .packed
                ? VirtqueueDescriptorFlags.next | VirtqueueDescriptorFlags.avail | VirtqueueDescriptorFlags.used
                : VirtqueueDescriptorFlags.next
            entries.append(.init(address: address, length: length, flags: descriptor.flags & ~ringBits, link: descriptor.link))
        }
        return entries
    }

    /// `count` bytes of the data area, recorded in `layout`; address 0 for none.
    private mutating func take(_ count: Int, alignment: UInt64, into layout: inout RawChainLayout) throws(VirtqueueDriverError) -> UInt64 {
        guard count > 0 else { return 0 }
        guard let range = allocate(UInt64(count), alignment: alignment) else { throw .outOfGuestMemory }
        layout.allocations.append(range)
        return range.lowerBound
    }
}
