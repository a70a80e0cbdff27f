import Synchronization

/// What backs one guest-physical address, as a CPU's software TLB needs to know it: RAM or ROM
/// with a host pointer, a device (MMIO), or nothing.
///
/// The host pointer stays valid for as long as a reference to ``block`` is kept (a
/// ``RAMBlock`` maps its memory once, for its whole lifetime), even after the topology changed
/// and the address now decodes elsewhere; whoever caches it must therefore keep the block and
/// drop the pointer when ``MemoryMapGeneration`` moves on.
public struct PhysicalBacking: @unchecked Sendable {
    // @unchecked: `hostAddress` is a raw pointer into `block`'s mapping, which is immutable
    // for the block's lifetime; the struct itself holds no mutable state.

    /// The kind of target at the address.
    public enum Kind: Sendable, Equatable {
        /// Guest RAM: reads and writes go to host memory.
        case ram
        /// ROM: reads come from host memory, guest writes are ignored.
        case rom
        /// A device model: every access goes through the bus.
        case mmio
        /// Nothing decodes here: reads return all ones, writes are ignored.
        case unassigned
    }

    /// What is at the address.
    public let kind: Kind
    /// For RAM and ROM, the host address of the byte at the address; `nil` otherwise.
    public let hostAddress: UnsafeMutableRawPointer?
    /// For RAM and ROM, the block behind ``hostAddress``; `nil` otherwise.
    public let block: RAMBlock?
    /// For RAM and ROM, the byte's offset in ``block`` (for ``RAMBlock/markDirty(offset:length:)``).
    public let blockOffset: UInt64
    /// How many bytes from the address on have this same target, contiguously (at least 1;
    /// for an unassigned address, up to the next range or the end of the address space).
    public let extent: UInt64
}

extension FlatView {
    /// What backs `address` in this view.
    public func backing(at address: UInt64) -> PhysicalBacking {
        let (index, length) = segment(at: address, limit: max(1, UInt64.max - address))
        guard let index else {
            return PhysicalBacking(kind: .unassigned, hostAddress: nil, block: nil, blockOffset: 0, extent: length)
        }
        let range = ranges[index]
        let offset = range.offsetInRegion + (address - range.start)
        switch range.target {
        case .ram(let block):
            return PhysicalBacking(kind: .ram, hostAddress: block.hostBase + Int(offset), block: block,
                                   blockOffset: offset, extent: length)
        case .rom(let block):
            return PhysicalBacking(kind: .rom, hostAddress: block.hostBase + Int(offset), block: block,
                                   blockOffset: offset, extent: length)
        case .mmio:
            return PhysicalBacking(kind: .mmio, hostAddress: nil, block: nil, blockOffset: 0, extent: length)
        }
    }

    /// Every RAM and ROM block this view shows (each once), for a CPU that tracks writes to
    /// translated code through ``DirtyMemoryClient/code``.
    public var ramBlocks: [RAMBlock] {
        var seen = Set<ObjectIdentifier>()
        var blocks: [RAMBlock] = []
        for range in ranges {
            switch range.target {
            case .ram(let block), .rom(let block):
                if seen.insert(ObjectIdentifier(block)).inserted { blocks.append(block) }
            case .mmio:
                break
            }
        }
        return blocks
    }
}

extension AddressSpace {
    /// What backs `address` in the current flat view.
    public func backing(at address: UInt64) -> PhysicalBacking { flatView.backing(at: address) }
}

/// A counter that moves on every time any ``AddressSpace`` installs a new flat view (a region
/// added, removed, moved, enabled or disabled). A software TLB that caches host pointers
/// records the value it filled under and flushes when it changes: one relaxed atomic load per
/// check. The new view is installed before the counter moves, so a reader that sees the new
/// value and then looks addresses up sees the new view.
public enum MemoryMapGeneration {
    private static let counter = Atomic<UInt64>(1)

    /// The current generation (never 0).
    public static var current: UInt64 { counter.load(ordering: .acquiring) }

    /// Called by ``AddressSpace`` after it installed a new view.
    static func advance() { counter.add(1, ordering: .releasing) }
}
