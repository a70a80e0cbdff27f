/// Why a ``FlatGuestMemory`` layout was refused (host programming errors).
public enum FlatGuestMemoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A slot would extend past the last guest address.
    case slotOverflows(address: UInt64, size: UInt64)
    /// Two slots overlap at `address`.
    case overlap(address: UInt64)
    /// A RAM block could not be created.
    case ramBlock(RAMBlockError)

    public var description: String {
        switch self {
        case .slotOverflows(let a, let s): return "slot of \(s) bytes at 0x\(String(a, radix: 16)) overflows"
        case .overlap(let a): return "slots overlap at 0x\(String(a, radix: 16))"
        case .ramBlock(let e): return e.description
        }
    }
}

/// A bus-free ``GuestMemory``: RAM blocks placed at guest addresses, nothing else. Made for
/// unit tests of device models and for simple machines. Same guarantees as any ``GuestMemory``.
public final class FlatGuestMemory: GuestMemory {
    /// One RAM block at a guest address.
    public struct Slot: Sendable {
        /// First guest address.
        public var address: UInt64
        /// The backing block (its whole size is mapped).
        public var block: RAMBlock
        /// Writes are refused with ``GuestMemoryError/readOnly(address:)`` (ROM).
        public var readOnly: Bool

        public init(address: UInt64, block: RAMBlock, readOnly: Bool = false) {
            self.address = address
            self.block = block
            self.readOnly = readOnly
        }
    }

    /// The slots, sorted by address.
    public let slots: [Slot]
    let view: FlatView

    /// - Throws: ``FlatGuestMemoryError/overlap(address:)``, ``FlatGuestMemoryError/slotOverflows(address:size:)``.
    public init(_ slots: [Slot]) throws(FlatGuestMemoryError) {
        let sorted = slots.sorted { $0.address < $1.address }
        var ranges: [FlatRange] = []
        var previousEnd: UInt64 = 0
        for slot in sorted {
            let size = slot.block.size
            // The end (exclusive) must be representable: the last address stays unassigned.
            guard slot.address <= UInt64.max - size else {
                throw .slotOverflows(address: slot.address, size: size)
            }
            if !ranges.isEmpty, slot.address < previousEnd { throw .overlap(address: slot.address) }
            previousEnd = slot.address + size
            let kind: MemoryRegion.Kind = slot.readOnly ? .rom(slot.block) : .ram(slot.block)
            let region: MemoryRegion
            do { region = try MemoryRegion(name: slot.block.name, size: size, kind: kind) } catch {
                throw .slotOverflows(address: slot.address, size: size)  // unreachable: size > 0
            }
            ranges.append(FlatRange(start: slot.address, size: size, region: region, offsetInRegion: 0,
                                    target: slot.readOnly ? .rom(slot.block) : .ram(slot.block)))
        }
        self.slots = sorted
        self.view = FlatView(ranges: ranges, generation: 1, problems: [])
    }

    /// One fresh RAM block of `size` bytes at `address`.
    /// - Throws: ``FlatGuestMemoryError/ramBlock(_:)`` or a layout error.
    public convenience init(size: UInt64, at address: UInt64 = 0) throws(FlatGuestMemoryError) {
        let block: RAMBlock
        do { block = try RAMBlock(name: "guest-ram", size: size) } catch { throw .ramBlock(error) }
        try self.init([Slot(address: address, block: block)])
    }

    /// See ``GuestMemory/read(into:at:)``.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at address: UInt64) throws(GuestMemoryError) {
        try view.guestRead(into: buffer, at: address)
    }

    /// See ``GuestMemory/write(_:at:)``.
    public func write(_ bytes: UnsafeRawBufferPointer, at address: UInt64) throws(GuestMemoryError) {
        try view.guestWrite(bytes, at: address)
    }

    /// See ``GuestMemory/map(_:length:access:)``.
    public func map(_ address: UInt64, length: UInt64, access: DMAAccess) throws(GuestMemoryError) -> DMAMapping {
        try view.guestMap(address, length: length, access: access)
    }
}
