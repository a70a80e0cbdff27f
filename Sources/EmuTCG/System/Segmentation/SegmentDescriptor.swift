/// A segment or gate descriptor as read from the GDT, LDT or IDT (Intel SDM Vol. 3A §3.4.5,
/// §5.8.3.1, §6.14.1). The low 8 bytes hold everything of a code or data segment; system
/// descriptors in long mode (LDT, TSS, call gates, interrupt and trap gates) take 16 bytes and
/// keep bits 63:32 of their base or offset in ``high``.
public struct SegmentDescriptor: Hashable, Sendable {
    /// Bytes 0–7.
    public let low: UInt64
    /// Bytes 8–15 for a 16-byte system descriptor (0 otherwise).
    public let high: UInt64

    /// A descriptor from its bytes 0–7 and, for 16-byte system descriptors, 8–15.
    public init(low: UInt64, high: UInt64 = 0) {
        self.low = low
        self.high = high
    }

    /// The type field (bits 43:40): for code/data, bit 3 code, bit 2 conforming/expand-down,
    /// bit 1 readable/writable, bit 0 accessed; for system descriptors the system type.
    public var type: UInt8 { UInt8(truncatingIfNeeded: low >> 40) & 0xF }
    /// S (bit 44): a code or data segment (clear: a system descriptor or gate).
    public var isCodeOrData: Bool { low & (1 << 44) != 0 }
    /// DPL (bits 46:45).
    public var dpl: UInt8 { UInt8(truncatingIfNeeded: low >> 45) & 3 }
    /// P (bit 47).
    public var isPresent: Bool { low & (1 << 47) != 0 }
    /// AVL (bit 52).
    public var available: Bool { low & (1 << 52) != 0 }
    /// L (bit 53): a 64-bit code segment.
    public var isLong: Bool { low & (1 << 53) != 0 }
    /// D/B (bit 54): 32-bit default operand size, or a 32-bit stack.
    public var isDefaultBig: Bool { low & (1 << 54) != 0 }
    /// G (bit 55): the limit counts 4 KiB units.
    public var isPageGranular: Bool { low & (1 << 55) != 0 }

    /// A code segment (S set, type bit 3 set).
    public var isCode: Bool { isCodeOrData && type & 8 != 0 }
    /// A data segment (S set, type bit 3 clear).
    public var isData: Bool { isCodeOrData && type & 8 == 0 }
    /// A conforming code segment.
    public var isConforming: Bool { isCode && type & 4 != 0 }
    /// A readable code segment or any data segment.
    public var isReadable: Bool { isData || (isCode && type & 2 != 0) }
    /// A writable data segment.
    public var isWritable: Bool { isData && type & 2 != 0 }
    /// The accessed bit (type bit 0) of a code or data segment.
    public var isAccessed: Bool { low & (1 << 40) != 0 }

    /// The 32-bit base of the low 8 bytes.
    public var base32: UInt32 {
        UInt32(truncatingIfNeeded: (low >> 16) & 0xFF_FFFF | ((low >> 32) & 0xFF00_0000))
    }
    /// The base of a 16-byte system descriptor (bits 63:32 from ``high``).
    public var base64: UInt64 { UInt64(base32) | (high & 0xFFFF_FFFF) << 32 }
    /// The limit in bytes (the 20-bit field scaled by G: `limit << 12 | 0xFFF` when set).
    public var limit: UInt32 {
        let raw = UInt32(truncatingIfNeeded: low & 0xFFFF) | UInt32(truncatingIfNeeded: (low >> 48) & 0xF) << 16
        return isPageGranular ? raw << 12 | 0xFFF : raw
    }

    /// The access-rights word of a segment cache for this descriptor (``SegmentAttributes``).
    public var attributes: SegmentAttributes {
        SegmentAttributes(rawValue: UInt32(truncatingIfNeeded: (low >> 40) & 0xF0FF))
    }

    /// A gate's target offset (bits 15:0 and 63:48 of ``low``, bits 63:32 from ``high`` in long mode).
    public var gateOffset: UInt64 {
        (low & 0xFFFF) | ((low >> 32) & 0xFFFF_0000) | (high & 0xFFFF_FFFF) << 32
    }
    /// A gate's target code-segment selector.
    public var gateSelector: UInt16 { UInt16(truncatingIfNeeded: low >> 16) }
    /// An interrupt gate's IST index (bits 34:32), 0 for none.
    public var interruptStackTable: Int { Int((low >> 32) & 7) }
    /// The type field of the upper 8 bytes of a 16-byte descriptor, which must be 0 (SDM §7.2.3).
    public var highType: UInt8 { UInt8(truncatingIfNeeded: high >> 40) & 0x1F }
}

/// System descriptor types in IA-32e mode (Intel SDM Vol. 3A §3.5, Table 3-2).
public enum SystemDescriptorType {
    /// LDT (16 bytes in IA-32e mode).
    public static let ldt: UInt8 = 0x2
    /// 64-bit TSS, available (32-bit TSS outside IA-32e mode).
    public static let availableTSS: UInt8 = 0x9
    /// 64-bit TSS, busy.
    public static let busyTSS: UInt8 = 0xB
    /// 64-bit call gate.
    public static let callGate: UInt8 = 0xC
    /// 64-bit interrupt gate.
    public static let interruptGate: UInt8 = 0xE
    /// 64-bit trap gate.
    public static let trapGate: UInt8 = 0xF
    /// 16-bit TSS, available (not in IA-32e mode).
    public static let availableTSS16: UInt8 = 0x1
    /// 16-bit TSS, busy.
    public static let busyTSS16: UInt8 = 0x3
    /// Task gate (not in IA-32e mode).
    public static let taskGate: UInt8 = 0x5
}
