/// One resource descriptor of a `ResourceTemplate` (ACPI 6.x, 6.4), with the fields the ASL
/// macros of the same names take. ``encoded()`` gives the descriptor's bytes.
public enum AMLResource: Sendable, Equatable {
    /// Who owns an address range: the device decodes it (consumer) or passes it on to its
    /// children (producer, as a host bridge's windows).
    public enum Usage: Sendable, Equatable {
        case consumer, producer
    }

    /// The caching attribute of a memory range (type-specific flags, bits 1-2).
    public enum Cacheability: UInt8, Sendable, Equatable {
        case nonCacheable = 0, cacheable = 1, writeCombining = 2, prefetchable = 3
    }

    /// The kind of an address space descriptor.
    public enum AddressSpace: Sendable, Equatable {
        /// Memory: its caching, writable or read-only.
        case memory(Cacheability, writable: Bool)
        /// I/O ports, the whole range decoded (ISA and non-ISA).
        case io
        /// PCI bus numbers.
        case busNumber

        var resourceType: UInt8 {
            switch self {
            case .memory: 0
            case .io: 1
            case .busNumber: 2
            }
        }

        var typeSpecificFlags: UInt8 {
            switch self {
            case .memory(let c, let w): c.rawValue << 1 | (w ? 1 : 0)
            case .io: 0x03  // EntireRange
            case .busNumber: 0
            }
        }
    }

    /// `IO(Decode16, minimum, maximum, alignment, length)`: small item 0x47.
    case io(minimum: UInt16, maximum: UInt16, alignment: UInt8, length: UInt8)
    /// `IRQNoFlags() { irqs }` (edge, active high, exclusive): small item 0x22 with the mask.
    case irqNoFlags([Int])
    /// `Interrupt(usage, Level/Edge, ActiveHigh/ActiveLow, Exclusive/Shared) { gsis }`:
    /// large item 0x89.
    case interrupt(Usage, levelTriggered: Bool, activeLow: Bool, shared: Bool, [UInt32])
    /// `Memory32Fixed(ReadWrite/ReadOnly, base, length)`: large item 0x86.
    case memory32Fixed(writable: Bool, base: UInt32, length: UInt32)
    /// `WordIO`/`WordBusNumber`: large item 0x88; PosDecode, MinFixed, MaxFixed, length
    /// `maximum - minimum + 1`, no translation.
    case wordAddressSpace(AddressSpace, Usage, minimum: UInt16, maximum: UInt16)
    /// `DWordMemory`/`DWordIO`: large item 0x87, the same conventions.
    case dwordAddressSpace(AddressSpace, Usage, minimum: UInt32, maximum: UInt32)
    /// `QWordMemory`/`QWordIO`: large item 0x8A, the same conventions.
    case qwordAddressSpace(AddressSpace, Usage, minimum: UInt64, maximum: UInt64)

    /// The descriptor's bytes.
    /// - Throws: ``AMLError/invalidResource(_:)`` for an IRQ above 15, an empty interrupt
    ///   list (or more than 255), `minimum > maximum`, or `maximum < minimum` in an IO descriptor.
    public func encoded() throws(AMLError) -> [UInt8] {
        let le = AMLEncoding.littleEndian
        switch self {
        case .io(let minimum, let maximum, let alignment, let length):
            guard minimum <= maximum else { throw .invalidResource("IO minimum above maximum") }
            return [0x47, 0x01] + le(UInt64(minimum), 2) + le(UInt64(maximum), 2) + [alignment, length]
        case .irqNoFlags(let irqs):
            var mask: UInt16 = 0
            for irq in irqs {
                guard (0...15).contains(irq) else { throw .invalidResource("IRQ \(irq) is not an ISA IRQ") }
                mask |= 1 << UInt16(irq)
            }
            return [0x22] + le(UInt64(mask), 2)
        case .interrupt(let usage, let level, let low, let shared, let gsis):
            guard (1...255).contains(gsis.count) else { throw .invalidResource("interrupt list of \(gsis.count)") }
            var flags: UInt8 = usage == .consumer ? 0x01 : 0
            if !level { flags |= 0x02 }
            if low { flags |= 0x04 }
            if shared { flags |= 0x08 }
            let body = [flags, UInt8(gsis.count)] + gsis.flatMap { le(UInt64($0), 4) }
            return [0x89] + le(UInt64(body.count), 2) + body
        case .memory32Fixed(let writable, let base, let length):
            let body = [UInt8(writable ? 1 : 0)] + le(UInt64(base), 4) + le(UInt64(length), 4)
            return [0x86] + le(UInt64(body.count), 2) + body
        case .wordAddressSpace(let space, let usage, let minimum, let maximum):
            return try Self.addressSpace(0x88, width: 2, space, usage, UInt64(minimum), UInt64(maximum))
        case .dwordAddressSpace(let space, let usage, let minimum, let maximum):
            return try Self.addressSpace(0x87, width: 4, space, usage, UInt64(minimum), UInt64(maximum))
        case .qwordAddressSpace(let space, let usage, let minimum, let maximum):
            return try Self.addressSpace(0x8A, width: 8, space, usage, minimum, maximum)
        }
    }

    /// Resource type, general flags (consumer bit 0, MinFixed bit 2, MaxFixed bit 3; PosDecode),
    /// type-specific flags, then granularity, minimum, maximum, translation, length.
    private static func addressSpace(_ tag: UInt8, width: Int, _ space: AddressSpace, _ usage: Usage,
                                     _ minimum: UInt64, _ maximum: UInt64) throws(AMLError) -> [UInt8] {
        guard minimum <= maximum else { throw .invalidResource("address range minimum above maximum") }
        let length = maximum &- minimum &+ 1  // wraps to 0 only for a full 64-bit range
        guard width == 8 || length <= UInt64(1) << (8 * UInt64(width)) - 1 else {
            throw .invalidResource("range length does not fit the descriptor")
        }
        guard length != 0 else { throw .invalidResource("range covers the whole 64-bit space") }
        let general: UInt8 = (usage == .consumer ? 0x01 : 0) | 0x0C
        let le = AMLEncoding.littleEndian
        let body = [space.resourceType, general, space.typeSpecificFlags]
            + le(0, width) + le(minimum, width) + le(maximum, width) + le(0, width) + le(length, width)
        return [tag] + le(UInt64(body.count), 2) + body
    }
}
