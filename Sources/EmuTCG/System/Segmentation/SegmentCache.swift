/// The access rights of a segment register's hidden part, in the layout of the VMCS "access
/// rights" fields (Intel SDM Vol. 3C §24.4.1): type 3:0, S 4, DPL 6:5, P 7, AVL 12, L 13,
/// D/B 14, G 15, and bit 16 "unusable" for a register loaded with a null selector.
public struct SegmentAttributes: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt32
    /// Access rights from their raw bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The type field.
    public var type: UInt8 { UInt8(truncatingIfNeeded: rawValue) & 0xF }
    /// S: code or data.
    public var isCodeOrData: Bool { rawValue & (1 << 4) != 0 }
    /// DPL.
    public var dpl: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 5) & 3 }
    /// P.
    public var isPresent: Bool { rawValue & (1 << 7) != 0 }
    /// L: 64-bit code.
    public var isLong: Bool { rawValue & (1 << 13) != 0 }
    /// D/B: 32-bit default size (code) or 32-bit stack (SS).
    public var isDefaultBig: Bool { rawValue & (1 << 14) != 0 }
    /// G.
    public var isPageGranular: Bool { rawValue & (1 << 15) != 0 }
    /// Loaded with a null selector: any access through it faults (outside 64-bit mode).
    public var isUnusable: Bool { rawValue & (1 << 16) != 0 }
    /// A code segment.
    public var isCode: Bool { isCodeOrData && type & 8 != 0 }
    /// A conforming code segment.
    public var isConforming: Bool { isCode && type & 4 != 0 }
    /// A writable data segment.
    public var isWritable: Bool { isCodeOrData && type & 0xA == 2 }
    /// An expand-down data segment.
    public var isExpandDown: Bool { isCodeOrData && type & 0xC == 4 }
    /// A readable segment (data, or code with R).
    public var isReadable: Bool { isCodeOrData && (type & 8 == 0 || type & 2 != 0) }

    /// The attributes of a register holding a null selector.
    public static let unusable = SegmentAttributes(rawValue: 1 << 16)

    /// Builds attributes from fields.
    public static func make(type: UInt8, codeOrData: Bool = true, dpl: UInt8, present: Bool = true,
                            long: Bool = false, defaultBig: Bool = false, pageGranular: Bool = false) -> SegmentAttributes {
        var raw = UInt32(type & 0xF) | UInt32(dpl & 3) << 5
        if codeOrData { raw |= 1 << 4 }
        if present { raw |= 1 << 7 }
        if long { raw |= 1 << 13 }
        if defaultBig { raw |= 1 << 14 }
        if pageGranular { raw |= 1 << 15 }
        return SegmentAttributes(rawValue: raw)
    }
}

/// A segment register: the visible selector and the hidden descriptor cache the CPU loads with
/// it (Intel SDM Vol. 3A §3.4.3). LDTR and TR use the same shape.
public struct SegmentCache: Hashable, Sendable {
    /// The selector (index 15:3, TI 2, RPL 1:0).
    public var selector: UInt16
    /// The base (64 bits for FS, GS, LDTR and TR in IA-32e mode; 32 bits otherwise).
    public var base: UInt64
    /// The limit in bytes (already scaled by G).
    public var limit: UInt32
    /// Access rights.
    public var attributes: SegmentAttributes

    /// A segment register with the given selector and hidden part.
    public init(selector: UInt16, base: UInt64, limit: UInt32, attributes: SegmentAttributes) {
        self.selector = selector
        self.base = base
        self.limit = limit
        self.attributes = attributes
    }

    /// The selector's requested privilege level.
    public var rpl: UInt8 { UInt8(selector & 3) }

    /// A segment loaded from `descriptor` through `selector` (the 8-byte form; 16-byte system
    /// descriptors pass their 64-bit base).
    public init(selector: UInt16, descriptor: SegmentDescriptor, base: UInt64? = nil) {
        self.init(selector: selector, base: base ?? UInt64(descriptor.base32), limit: descriptor.limit,
                  attributes: descriptor.attributes)
    }

    /// A register after a null selector load: base 0, unusable (what Intel CPUs leave, SDM
    /// §3.4.4 and the MOV/POP pseudocode).
    public static func null(_ selector: UInt16 = 0) -> SegmentCache {
        SegmentCache(selector: selector, base: 0, limit: 0, attributes: .unusable)
    }

    /// The state after RESET of a data segment register (SDM §9.1.1, Table 9-1): selector 0,
    /// base 0, limit 0xFFFF, present read/write accessed data.
    public static let resetData = SegmentCache(selector: 0, base: 0, limit: 0xFFFF,
                                               attributes: .make(type: 3, dpl: 0))

    /// The linear address of `size` bytes at `offset` through this segment outside 64-bit
    /// mode, with the checks of SDM §5.3: unusable segment, limit (expand-up or expand-down,
    /// whose upper bound is 0xFFFF without B), and writability or readability.
    /// - Throws: #GP(0), or #SS(0) when `isStack` (SS references).
    public func linearAddress(offset: UInt32, size: Int, write: Bool, isStack: Bool = false) throws(X86Exception) -> UInt64 {
        let fault = isStack ? X86Exception.stackFault(0) : X86Exception.generalProtection(0)
        guard !attributes.isUnusable, size >= 1 else { throw fault }
        if write && !attributes.isWritable { throw fault }
        if !write && !attributes.isReadable { throw fault }
        let last = UInt64(offset) + UInt64(size) - 1
        if attributes.isExpandDown {
            let upper: UInt64 = attributes.isDefaultBig ? 0xFFFF_FFFF : 0xFFFF
            guard UInt64(offset) > UInt64(limit), last <= upper else { throw fault }
        } else {
            guard last <= UInt64(limit) else { throw fault }
        }
        return (base &+ UInt64(offset)) & 0xFFFF_FFFF
    }
}

/// GDTR or IDTR: a linear base and a 16-bit limit (the last valid byte offset).
public struct DescriptorTableRegister: Hashable, Sendable {
    public var base: UInt64
    public var limit: UInt16
    /// A table register.
    public init(base: UInt64, limit: UInt16) {
        self.base = base
        self.limit = limit
    }
}
