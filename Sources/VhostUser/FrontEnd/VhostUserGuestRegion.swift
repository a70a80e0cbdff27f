import EmuCore

/// A piece of guest RAM the front end shares with a back end: a memfd-backed ``RAMBlock`` at a
/// guest address. The region keeps its block alive, so the fd and the host mapping stay valid.
public struct VhostUserGuestRegion: Sendable {
    /// The guest physical address of the block's first byte.
    public let guestAddress: UInt64
    /// The RAM behind it.
    public let block: RAMBlock

    /// A region for `block` at `guestAddress`.
    public init(guestAddress: UInt64, block: RAMBlock) {
        self.guestAddress = guestAddress
        self.block = block
    }

    /// Every slot of a ``FlatGuestMemory`` (RAM and ROM alike: the back end may read either).
    public static func regions(of memory: FlatGuestMemory) -> [VhostUserGuestRegion] {
        memory.slots.map { VhostUserGuestRegion(guestAddress: $0.address, block: $0.block) }
    }

    /// The region's size in bytes.
    public var size: UInt64 { block.size }
    /// Where this process mapped the block: the address space SET_VRING_ADDR speaks.
    public var userAddress: UInt64 { UInt64(UInt(bitPattern: block.hostBase)) }

    /// The wire description (its fd is ``block``'s).
    public var descriptor: VhostUserMemoryRegionDescriptor {
        VhostUserMemoryRegionDescriptor(guestAddress: guestAddress, size: size, userAddress: userAddress,
                                        mmapOffset: block.fdOffset)
    }

    /// The front-end virtual address of guest address `address` in one of `regions`, or `nil`
    /// when no region holds `length` bytes from it.
    public static func userAddress(of address: UInt64, length: UInt64, in regions: [VhostUserGuestRegion]) -> UInt64? {
        for r in regions where address >= r.guestAddress {
            let offset = address - r.guestAddress
            guard offset < r.size, length <= r.size - offset else { continue }
            return r.userAddress + offset
        }
        return nil
    }
}
